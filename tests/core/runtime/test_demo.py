"""The demo runs in CI: it must tell its whole story, with real jobs, in under 30 s."""

import io
import time
from pathlib import Path

from interlock_core.demo import play_demo


def test_demo_tells_its_story(tmp_path: Path) -> None:
    out = io.StringIO()
    started = time.monotonic()
    code = play_demo(out, workdir=tmp_path)
    elapsed = time.monotonic() - started
    text = out.getvalue()
    assert code == 0, text
    assert elapsed < 30
    for line in [
        "gate CLOSED for silver-orders-hourly 2026-03-04T10:",
        "✗ orders-landed            gte     count is 0, needs >= 1",
        "job output: building silver orders for 2026-03-04T10",
        "POST_RUN_DRIFT",
        "sensor_count moved from 1200 to 1330 (threshold 50)",
        "RERUN_ACCEPTED",
        "RUN_CLAIMED",
        "SENSOR_DEADLINE_EXPIRED",
        "SLA_WARNING",
        "3 real jobs run",
    ]:
        assert line in text, f"missing {line!r} in:\n{text}"
    assert "demo check failed" not in text
