"""``interlock demo``: a short story on the example pipelines, with real ``command`` jobs.

It runs in a temporary SQLite store with a simulated clock (so an afternoon passes in a few
seconds) while the jobs are real child processes. It prints a timeline of what a person
would see: sensors arriving, a gate that stays closed and says why, the gate opening and the
job running once, post-run drift triggering a rerun, an orchestrator claiming a job-less run,
and a late hour raising its trigger-deadline and SLA alerts. It exits non-zero if the story
did not happen as told, so CI runs it as a test too.
"""

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from interlock_core.clock import ManualClock
from interlock_core.config.loader import load_pipelines
from interlock_core.engine import Interlock
from interlock_core.events import Event, EventType
from interlock_core.jobs.base import JobHandle, JobState
from interlock_core.jobs.registry import default_runners
from interlock_core.runs import Run, RunStatus
from interlock_core.storage import open_store

START = dt.datetime(2026, 3, 4, 11, 25, tzinfo=dt.UTC)  # a Wednesday, 06:25 in New York

QUIET = {EventType.CONFIG_APPLIED}


def _examples_dir() -> Path:
    """The example pipelines: beside the package in a checkout."""
    return Path(__file__).resolve().parent.parent / "examples" / "pipelines"


class Timeline:
    """Prints events as they are published, stamped with the simulated time."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        """Print one event line."""
        self.events.append(event)
        if event.type in QUIET:
            return
        where = f"{event.pipeline_id} {event.period or ''}".strip()
        print(f"  {event.at:%H:%M}  {event.type.value:<27} {where}: {event.message}", file=self.out)

    def count(self, event_type: EventType, pipeline_id: str | None = None) -> int:
        """How many events of a type were published (for one pipeline)."""
        return sum(
            1
            for e in self.events
            if e.type == event_type and (pipeline_id is None or e.pipeline_id == pipeline_id)
        )


class Demo:
    """The story, one chapter at a time."""

    def __init__(self, workdir: Path, out: TextIO) -> None:
        self.out = out
        self.clock = ManualClock(START)
        self.timeline = Timeline(out)
        store_url = f"sqlite:///{workdir / 'demo.db'}"
        runners = default_runners(workdir / "jobs", kill_grace=1.0)
        self.engine = Interlock(open_store(store_url), runners, self.clock, self.timeline)
        self.problems: list[str] = []

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def chapter(self, title: str) -> None:
        self.say()
        self.say(f"── {self.clock.now():%H:%M} UTC · {title}")

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.problems.append(what)

    def emit(self, pipeline_id: str, key: str, **data: Any) -> None:
        shown = " ".join(f"{k}={v}" for k, v in data.items())
        self.say(f"  {self.clock.now():%H:%M}  producer writes {pipeline_id}/{key}: {shown}")
        self.engine.emit(pipeline_id, key, data)

    def step(self, minutes: int = 1) -> None:
        """Let simulated minutes pass, running the controller each minute."""
        for _ in range(minutes):
            self.clock.advance(dt.timedelta(minutes=1))
            self.control()

    def run_job(self, pipeline_id: str, period: str) -> None:
        """Let the real job of a run finish (real milliseconds, simulated clock held), then
        let the controller poll it."""
        self.step(1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            run = self.run_of(pipeline_id, period)
            if run is None or run.status != RunStatus.RUNNING:
                return
            runner = self.engine.runners["command"]
            if (
                runner.status(JobHandle(run.job_run_id or "", dict(run.job_metadata))).state
                != JobState.RUNNING
            ):
                self.step(1)
                return
            time.sleep(0.05)
        self.problems.append(f"the job of {pipeline_id} {period} did not finish in 20 s")

    def control(self) -> None:
        for _ in range(5):
            if not self.engine.advance_due():
                break
        self.engine.watchdog()
        self.engine.advance_due()

    def run_of(self, pipeline_id: str, period: str) -> Run | None:
        return self.engine.run(pipeline_id, period)

    def show_gate(self, pipeline_id: str, period: str) -> None:
        readiness = self.engine.evaluate(pipeline_id, period)
        state = "OPEN" if readiness.ready else "CLOSED"
        self.say(f"         gate {state} for {pipeline_id} {period}:")
        for result in readiness.evaluation.results:
            mark = "✓" if result.passed else "✗"
            self.say(f"           {mark} {result.key:<24} {result.check:<7} {result.reason}")

    def show_job_output(self, pipeline_id: str, period: str) -> None:
        run = self.run_of(pipeline_id, period)
        log_file = run.job_metadata.get("log_file") if run else None
        if log_file and Path(log_file).exists():
            for line in Path(log_file).read_text().splitlines():
                if not line.startswith("[interlock"):  # the supervisor's own notes
                    self.say(f"         job output: {line}")

    # ------------------------------------------------------------------ the story

    def play(self) -> int:
        self.say("Interlock demo — a simulated afternoon on the example pipelines, real jobs.")
        self.say("Every line below is an event Interlock published (time is UTC).")
        self.apply()
        self.hourly_gate()
        self.daily_with_drift()
        self.claimed_by_orchestrator()
        self.late_hour()
        return self.summary()

    def apply(self) -> None:
        self.chapter("apply examples/pipelines")
        pipeline_set = load_pipelines(_examples_dir())
        result = self.engine.apply(pipeline_set)
        for change in result.changes:
            self.say(f"         {change.pipeline_id}: {change.action}")
        self.expect(not result.invalid, "the example pipelines load without errors")

    def hourly_gate(self) -> None:
        pipeline, period = "silver-orders-hourly", "2026-03-04T10"
        self.chapter("hour 10 of raw orders lands — but empty")
        stamp = self.clock.now().isoformat()
        self.emit(
            pipeline,
            "orders-landed",
            status="complete",
            count=0,
            date="2026-03-04",
            hour="10",
            updatedAt=stamp,
        )
        self.show_gate(pipeline, period)
        run = self.run_of(pipeline, period)
        self.expect(
            run is not None and run.status == RunStatus.WAITING,
            "the empty hour keeps the gate closed",
        )
        self.step(2)
        self.chapter("the ingestion job re-delivers hour 10 with its rows")
        stamp = self.clock.now().isoformat()
        self.emit(
            pipeline,
            "orders-landed",
            status="complete",
            count=5120,
            date="2026-03-04",
            hour="10",
            updatedAt=stamp,
        )
        self.run_job(pipeline, period)
        self.show_job_output(pipeline, period)
        run = self.run_of(pipeline, period)
        self.expect(run is not None and run.status == RunStatus.SUCCEEDED, "hour 10 succeeds")
        self.expect(
            self.timeline.count(EventType.JOB_TRIGGERED, pipeline) == 1,
            "the hourly job runs exactly once",
        )

    def daily_with_drift(self) -> None:
        pipeline, period = "gold-orders-daily", "2026-03-03"
        self.chapter("06:30 in New York: the daily cron tick opens yesterday's run")
        self.step(5)
        self.show_gate(pipeline, period)
        self.chapter("upstream sensors arrive")
        self.emit(
            pipeline, "orders-reconciled", status="matched", sensor_count=1200, date="2026-03-03"
        )
        self.emit(pipeline, "fx-rates", updatedAt=self.clock.now().isoformat())
        self.emit(pipeline, "silver-orders-complete", status="ready", date="2026-03-03")
        self.run_job(pipeline, period)
        self.show_job_output(pipeline, period)
        self.step(5)
        self.chapter("reconciliation finds 130 more orders after the run: data drift")
        self.emit(
            pipeline, "orders-reconciled", status="matched", sensor_count=1330, date="2026-03-03"
        )
        self.run_job(pipeline, period)
        self.show_job_output(pipeline, period)
        run = self.run_of(pipeline, period)
        self.expect(
            run is not None and run.status == RunStatus.SUCCEEDED and run.attempt == 2,
            "the drift rerun succeeds as attempt 2",
        )
        self.expect(
            self.timeline.count(EventType.POST_RUN_DRIFT, pipeline) == 1, "drift is detected once"
        )

    def claimed_by_orchestrator(self) -> None:
        pipeline = "warehouse-inventory"
        self.chapter("a job-less pipeline: Airflow waits on the gate, claims the run, reports back")
        self.emit(pipeline, "warehouse-feed", state="complete")
        self.emit(pipeline, "stock-export", status="done", rows=48210)
        period = self.engine.evaluate(pipeline).period
        owner = "airflow:warehouse_inventory/scheduled__2026-03-04"
        self.engine.claim(pipeline, period, owner)
        self.step(3)
        self.engine.report(pipeline, period, "success", owner)
        run = self.run_of(pipeline, period)
        self.expect(
            run is not None and run.status == RunStatus.SUCCEEDED,
            "the claimed run is reported successful",
        )

    def late_hour(self) -> None:
        self.chapter("hour 11 of raw orders never lands")
        target = dt.datetime(2026, 3, 4, 12, 56, tzinfo=dt.UTC)
        self.step(int((target - self.clock.now()).total_seconds() // 60))
        pipeline = "silver-orders-hourly"
        self.expect(
            self.timeline.count(EventType.SENSOR_DEADLINE_EXPIRED, pipeline) == 1,
            "hour 11's trigger deadline expires",
        )
        self.expect(
            self.timeline.count(EventType.SLA_WARNING, pipeline) == 1, "hour 11's SLA warning fires"
        )
        self.expect(
            self.timeline.count(EventType.SLA_BREACH, pipeline) == 1, "hour 11's SLA breach fires"
        )

    def summary(self) -> int:
        self.chapter("where every run stands (`interlock status`)")
        for run in self.engine.status():
            self.say(
                f"         {run.pipeline_id:<22} {run.period:<14} {run.status.value:<21} "
                f"attempt {run.attempt}"
            )
        jobs = self.timeline.count(EventType.JOB_TRIGGERED)
        self.say()
        self.say(
            f"{len(self.timeline.events)} events, {jobs} real jobs run, 0 jobs run on unsafe data."
        )
        if self.problems:
            for problem in self.problems:
                self.say(f"demo check failed: {problem}")
            return 1
        return 0


def play_demo(out: TextIO | None = None, workdir: Path | None = None) -> int:
    """Play the demo; returns 0 when the story happened as told."""
    stream = out or sys.stdout
    if workdir is not None:
        demo = Demo(workdir, stream)
        try:
            return demo.play()
        finally:
            demo.engine.store.close()
    with tempfile.TemporaryDirectory(prefix="interlock-demo-") as tmp:
        demo = Demo(Path(tmp), stream)
        try:
            return demo.play()
        finally:
            demo.engine.store.close()
