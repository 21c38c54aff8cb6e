"""Alert forwarding at scale: one forwarder pass over an hour of events, batched vs per event.

Builds a temporary SQLite store (``synchronous=FULL``, the controller's default) holding an
hour of events of ``--pipelines`` pipelines (default 10 000, ``--events-per-pipeline`` 4 each:
40 000 events; ``--quick``: 300 pipelines) and measures one ``AlertForwarder.pump()`` — what a
controller's pass does when it starts (it replays the last hour) or after a burst:

* ``batched``: this tree's forwarder (markers claimed ``BATCH_SIZE`` per transaction);
* ``per event``: the forwarder before issue #13, reimplemented below with the same Store calls
  it made (one ``put_marker`` — one fsynced transaction — per event);
* ``restart``: both again on a store whose markers all exist already (another controller sent
  the alerts), the replay a restarted controller does;
* ``query``: ``query_events`` of the hour alone, and ``claim``: one ``put_markers`` of all the
  hour's markers alone — what the batched pass is made of.

Every sample starts from a fresh copy of the same database file (the copy is not timed); the
variants take turns, so a busy moment of the shared machine slows them alike. With
``INTERLOCK_TEST_POSTGRES_URL`` set, the batched and per-event passes also run on PostgreSQL
(a schema of its own, dropped afterwards).

    .venv/bin/python bench/bench_forwarding.py [--quick] [--pipelines N] [--repeat N] [--out DIR]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _common import summary, table, write_results  # noqa: E402

from interlock_core.alerts.base import AlertSink  # noqa: E402
from interlock_core.clock import ManualClock  # noqa: E402
from interlock_core.engine import Interlock  # noqa: E402
from interlock_core.events import Event, EventType  # noqa: E402
from interlock_core.forwarding import AlertForwarder  # noqa: E402
from interlock_core.storage import SQLiteStore, Store, open_store  # noqa: E402

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
TARGET_SECONDS = 3.0
KINDS = (
    EventType.RUN_OPENED,
    EventType.VALIDATION_PASSED,
    EventType.JOB_TRIGGERED,
    EventType.JOB_COMPLETED,
)


class Count(AlertSink):
    """The alert channels: counts what it is given (delivery itself is not measured)."""

    def __init__(self) -> None:
        self.count = 0

    def publish(self, event: Event) -> None:
        self.count += 1


class PerEventForwarder(AlertForwarder):
    """The forwarder before issue #13: one put-if-absent marker (one transaction) per event.

    Only for this benchmark's baseline; the same Store calls the old ``pump`` made.
    """

    def pump(self) -> int:
        now = self.engine.clock.now()
        events = self.engine.store.query_events(since=self._since)
        fresh = 0
        for event in events:
            if event.id in self._seen:
                continue
            self._seen[event.id] = None
            fresh += 1
            if self.console is not None and event.at >= self._started:
                self.console.publish(event)
            if self.engine.store.put_marker(
                event.pipeline_id, f"alerted#{event.id}", now, expires_at=now + self.MARKER_TTL
            ):
                self.channels.publish(event)
        if events:
            self._since = max(self._since, events[-1].at - self.overlap)
        return fresh


def hour_of_events(pipelines: int, per_pipeline: int) -> list[Event]:
    """``per_pipeline`` events of each pipeline, spread over the hour before ``NOW``."""
    count = pipelines * per_pipeline
    step = timedelta(hours=1) / (count + 1)
    return [
        Event(
            KINDS[n % len(KINDS)],
            f"pipeline-{n % pipelines:05d}",
            "2026-03-05T11",
            1,
            NOW - timedelta(hours=1) + step * (n + 1),
            f"event {n} of the hour",
            {"attempt": 1, "rules": ["rowCount", "freshness"]},
        )
        for n in range(count)
    ]


def engine_on(store: Store) -> Interlock:
    return Interlock(store, {}, ManualClock(NOW))


def one_pass(store: Store, forwarder_class: type[AlertForwarder]) -> tuple[float, int, int]:
    """Seconds of one pump over the hour, events seen, alerts delivered."""
    channels = Count()
    forwarder = forwarder_class(engine_on(store), None, channels)
    started = time.perf_counter()
    seen = forwarder.pump()
    return time.perf_counter() - started, seen, channels.count


def claim_all(store: Store, events: list[Event]) -> None:
    store.put_markers(
        [(e.pipeline_id, f"alerted#{e.id}") for e in events],
        NOW,
        expires_at=NOW + AlertForwarder.MARKER_TTL,
    )


def sqlite_rows(
    template: Path, work: Path, events: list[Event], repeat: int
) -> dict[str, list[float]]:
    """Every SQLite variant, ``repeat`` rounds, taking turns; each on a fresh copy."""

    def fresh() -> SQLiteStore:
        copy = work / f"s-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(template, copy)
        return SQLiteStore(copy)

    def run(variant: str) -> float:
        store = fresh()
        try:
            if variant.startswith("restart"):
                claim_all(store, events)
            if variant == "query":
                started = time.perf_counter()
                store.query_events(since=NOW - timedelta(hours=1))
                return time.perf_counter() - started
            if variant == "claim":
                started = time.perf_counter()
                claim_all(store, events)
                return time.perf_counter() - started
            kind = PerEventForwarder if variant.endswith("per event") else AlertForwarder
            seconds, seen, sent = one_pass(store, kind)
            assert seen == len(events), (variant, seen)
            assert sent == (0 if variant.startswith("restart") else len(events)), (variant, sent)
            return seconds
        finally:
            path = store.path
            store.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    variants = ["batched", "per event", "restart batched", "restart per event", "query", "claim"]
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(repeat):
        # Alternate the order too, so neither path always follows the other.
        for name in variants if round_ % 2 == 0 else reversed(variants):
            samples[name].append(run(name))
    return samples


def postgres_rows(url: str, events: list[Event], repeat: int) -> dict[str, list[float]]:
    """Batched and per-event passes on PostgreSQL; markers truncated between samples."""
    import psycopg

    from interlock_core.storage.postgres_schema import parse_postgres_url

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    schema_url = f"{url}{'&' if '?' in url else '?'}schema={schema}"
    conninfo, _, _ = parse_postgres_url(schema_url)
    store = open_store(schema_url)
    samples: dict[str, list[float]] = {"batched": [], "per event": []}
    try:
        store.append_events(events)
        for round_ in range(repeat):
            order = list(samples) if round_ % 2 == 0 else list(reversed(samples))
            for name in order:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'TRUNCATE "{schema}".markers')
                kind = PerEventForwarder if name == "per event" else AlertForwarder
                seconds, seen, sent = one_pass(store, kind)
                assert (seen, sent) == (len(events), len(events)), (name, seen, sent)
                samples[name].append(seconds)
    finally:
        store.close()
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--pipelines", type=int, help="pipelines (default 10 000; quick 300)")
    parser.add_argument(
        "--events-per-pipeline",
        type=int,
        default=4,
        help="events per pipeline in the hour (default 4)",
    )
    parser.add_argument("--repeat", type=int, help="rounds (default 3; quick 2)")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    pipelines = args.pipelines or (300 if args.quick else 10_000)
    repeat = args.repeat or (2 if args.quick else 3)
    events = hour_of_events(pipelines, args.events_per_pipeline)

    with tempfile.TemporaryDirectory(prefix="interlock-bench-forwarding-") as tmp:
        work = Path(tmp)
        template = work / "template.db"
        store = SQLiteStore(template)
        store.append_events(events)
        store.close()  # the last connection checkpoints the WAL into the file
        sqlite = sqlite_rows(template, work, events, repeat)
    postgres_url = os.environ.get("INTERLOCK_TEST_POSTGRES_URL", "")
    postgres = postgres_rows(postgres_url, events, repeat) if postgres_url else {}

    stats: dict[str, Any] = {
        "sqlite": {name: summary(values) for name, values in sqlite.items()},
        "postgres": {name: summary(values) for name, values in postgres.items()},
    }
    rows: list[list[Any]] = []
    for backend, variants in stats.items():
        for name, stat in variants.items():
            rows.append([backend, name, stat["median"], stat["min"], stat["max"], stat["n"]])
    print(f"{len(events)} events of {pipelines} pipelines in one hour; seconds per pass")
    print(table(["store", "variant", "median s", "min s", "max s", "n"], rows))

    batched = stats["sqlite"]["batched"]
    per_event = stats["sqlite"]["per event"]
    ratios = [old / new for old, new in zip(sqlite["per event"], sqlite["batched"], strict=True)]
    speedup = summary(ratios)
    print(
        f"batched pass {batched['median']:.3f} s (target <= {TARGET_SECONDS:g} s); "
        f"{speedup['median']:.1f}x faster than per event ({per_event['median']:.3f} s)"
    )
    targets: list[dict[str, Any]] = [
        {
            "name": "pass with an hour of events to forward, SQLite",
            "value": batched["median"],
            "unit": "s",
            "limit": TARGET_SECONDS,
            "met": batched["median"] <= TARGET_SECONDS,
            "spread": batched,
            "pipelines": pipelines,
            "events": len(events),
        }
    ]
    write_results(
        "forwarding",
        {
            "pipelines": pipelines,
            "events": len(events),
            "repeat": repeat,
            "quick": args.quick,
            "seconds": stats,
            "speedup_per_event_over_batched": speedup,
            "targets": targets,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
