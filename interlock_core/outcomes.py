"""What a sensor write did: the answer ``interlock emit`` prints (DESIGN.md §10).

The engine reacts to a write in several places (a trigger opens or reopens a run, late data
requests a rerun, post-run sensors are compared, waiting runs are woken). Rather than thread a
result through each of them, the engine reports every event it publishes to the recorder of
the current context, and :func:`describe` reads the outcome off those events and the runs the
write woke.
"""

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from interlock_core.events import Event, EventType
from interlock_core.runs import Run
from interlock_core.sensors import Sensor

_RECORDER: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar(
    "interlock_event_recorder", default=None
)
_OUTCOMES: contextvars.ContextVar[list["WriteOutcome"] | None] = contextvars.ContextVar(
    "interlock_write_outcomes", default=None
)

# What each event means for the writer, in the order the summary lists them.
_MEANINGS: dict[EventType, str] = {
    EventType.RUN_OPENED: "opened",
    EventType.LATE_DATA_ARRIVAL: "late data",
    EventType.DRY_RUN_LATE_DATA: "late data (dry run)",
    EventType.RERUN_ACCEPTED: "rerun accepted",
    EventType.RERUN_REJECTED: "rerun refused",
    EventType.POST_RUN_DRIFT: "post-run drift",
    EventType.DRY_RUN_DRIFT: "post-run drift (dry run)",
    EventType.POST_RUN_DRIFT_INFLIGHT: "post-run drift while running",
    EventType.POST_RUN_PASSED: "post-run rules passed",
    EventType.POST_RUN_FAILED: "post-run rules failed",
}


@dataclasses.dataclass(frozen=True)
class WriteOutcome:
    """What a sensor write did.

    Attributes:
        pipeline_id: the pipeline written to.
        sensor: the stored sensor (key, version, write time).
        configured: False when the pipeline has no config (the write is only stored).
        scheduled: the pipeline's runs open at cron ticks or inclusion dates.
        events: the events the write published, in order.
        woke: the WAITING runs the write made due now (their gates are evaluated at once).
        job_less: the pipeline has no job: an orchestrator claims its runs.
    """

    pipeline_id: str
    sensor: Sensor
    configured: bool
    scheduled: bool
    events: list[Event]
    woke: list[Run]
    job_less: bool = False

    @property
    def opened(self) -> list[str]:
        """Periods whose run this write opened (a trigger, or a late trigger reopening)."""
        return [e.period or "" for e in self.events if e.type == EventType.RUN_OPENED]

    @property
    def late_data(self) -> list[str]:
        """Periods that got late data after their success."""
        late = {EventType.LATE_DATA_ARRIVAL, EventType.DRY_RUN_LATE_DATA}
        return [e.period or "" for e in self.events if e.type in late]

    @property
    def kind(self) -> str:
        """One word: ``opened``, ``late-data``, ``post-run``, ``woke`` or ``nothing``."""
        if self.opened:
            return "opened"
        if self.late_data:
            return "late-data"
        if any(e.type in _MEANINGS for e in self.events):
            return "post-run"
        if self.woke:
            return "woke"
        return "nothing"

    def lines(self) -> list[str]:
        """Human sentences, one per effect; ``nothing`` says why nothing happened."""
        lines = [_line(event, self.job_less) for event in self.events if event.type in _MEANINGS]
        woken = [run.period for run in self.woke if run.period not in self.opened]
        if woken:
            runs = "run" if len(woken) == 1 else "runs"
            lines.append(
                f"woke the waiting {runs} of {', '.join(woken)}: gates are evaluated now "
                "(by `interlock run`)"
            )
        if not lines:
            lines.append("no effect: " + self._why_nothing())
        return lines

    def _why_nothing(self) -> str:
        if not self.configured:
            return f"{self.pipeline_id} is not configured, so the sensor is only stored"
        if self.scheduled:
            return (
                "no run is waiting; this pipeline's runs open at its schedule's ticks "
                f"(`interlock evaluate {self.pipeline_id}` shows the next one)"
            )
        return "no run waits for this sensor and it opens none"

    def to_dict(self) -> dict[str, Any]:
        """The ``interlock emit --json`` fields about the outcome."""
        return {
            "outcome": self.kind,
            "opened": self.opened,
            "lateData": self.late_data,
            "woke": [run.period for run in self.woke],
            "events": [
                {
                    "type": e.type.value,
                    "period": e.period,
                    "attempt": e.attempt,
                    "message": e.message,
                }
                for e in self.events
            ],
            "summary": self.lines(),
        }


def _line(event: Event, job_less: bool) -> str:
    if event.type == EventType.RUN_OPENED:
        origin = event.detail.get("origin", "trigger")
        then = "an orchestrator claims it" if job_less else "its job starts"
        return f"opened the run of {event.period} ({origin}): {then} once its gate passes"
    return f"{_MEANINGS[event.type]} {event.period}: {event.message}"


@contextlib.contextmanager
def recording() -> Iterator[list[Event]]:
    """Collect every event the engine publishes in this context (nested contexts each see
    their own)."""
    events: list[Event] = []
    token = _RECORDER.set(events)
    try:
        yield events
    finally:
        _RECORDER.reset(token)


def record(events: Sequence[Event]) -> None:
    """Called by the engine with every batch it publishes."""
    target = _RECORDER.get()
    if target is not None:
        target.extend(events)


@contextlib.contextmanager
def collecting() -> Iterator[list["WriteOutcome"]]:
    """Collect the outcome of every sensor write handled in this context."""
    outcomes: list[WriteOutcome] = []
    token = _OUTCOMES.set(outcomes)
    try:
        yield outcomes
    finally:
        _OUTCOMES.reset(token)


def describe(
    pipeline_id: str,
    sensor: Sensor,
    *,
    configured: bool,
    scheduled: bool,
    events: list[Event],
    woke: list[Run],
    job_less: bool = False,
) -> WriteOutcome:
    """The outcome of one handled write (also handed to an enclosing :func:`collecting`)."""
    outcome = WriteOutcome(
        pipeline_id, sensor, configured, scheduled, list(events), list(woke), job_less
    )
    target = _OUTCOMES.get()
    if target is not None:
        target.append(outcome)
    return outcome


def merge(pipeline_id: str, sensor: Sensor, outcomes: Sequence[WriteOutcome]) -> WriteOutcome:
    """One outcome for a write the engine handled in one or several steps."""
    if not outcomes:
        return WriteOutcome(pipeline_id, sensor, False, False, [], [])
    seen: set[tuple[str, str]] = set()
    woke: list[Run] = []
    for outcome in outcomes:
        for run in outcome.woke:
            if (run.pipeline_id, run.period) not in seen:
                seen.add((run.pipeline_id, run.period))
                woke.append(run)
    return WriteOutcome(
        pipeline_id,
        sensor,
        all(o.configured for o in outcomes),
        any(o.scheduled for o in outcomes),
        [event for outcome in outcomes for event in outcome.events],
        woke,
        any(o.job_less for o in outcomes),
    )
