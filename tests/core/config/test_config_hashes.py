"""The config hash of every example and of the benchmark's pipeline shapes is pinned: a faster
reader must give the stored documents byte for byte (hashes taken before the line reader)."""

import importlib.util
from pathlib import Path

import pytest

from interlock_core.config import yaml_lines
from interlock_core.config.loader import config_hash, load_pipelines, parse_pipeline_text

ROOT = Path(__file__).resolve().parents[3]

EXAMPLES = {
    "gold-orders-daily": "d7af2e907dcfb91993cf2a8990b4dfb3cce102a02b8328537e18f169ca2d7fa0",
    "gold-revenue": "13379c2f873ec13f4ac4a73ed8950a72e988672da6422daf00964a117fe757a2",
    "silver-orders-hourly": "db4838d071d8194c4e3cbea7de290b91def3e70d4106ee271cc58341ded6a5fc",
    "warehouse-inventory": "613f60117404cb05af45e59a2f91e4571d96bd058da3d8db8b8bb05134f3e49b",
}

# bench/bench_apply.py's pipeline_text(number): cron, cron with calendars, triggers, each job
# type, post-run rules.
GENERATED = {
    0: "7b3c51931dbb08d628fa686fd37928f4794cabe63c3dc286a87163aa0629d9d0",
    1: "942669f4e8a635f8c142e3c02922e4baa9ad85934c55a1228e69553ef11bffd6",
    2: "e1fe3ea67bcfa672df0fff75b9ded14582766ade8acfc66eb936571d96ef0d33",
    3: "ad66de8c0818b312f8307dd73d140e4b01596ae454b250680cc134ee80d22c34",
    7: "5140600c0291182e9d79f64aa355b220cd4ab67c147f67acdec8e9a3aa14b01f",
    14: "a8b950ea1b122adb0ebfa072bbe36247dc1c39f77b62196495c972bf80e2f6d3",
}


@pytest.fixture(params=[True, False], ids=["line reader", "composers"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(yaml_lines, "_PLAIN_FIRST", request.param)
    return bool(request.param)


def test_example_hashes_are_unchanged(reader: bool) -> None:
    loaded = load_pipelines(ROOT / "examples" / "pipelines")
    assert loaded.ok
    assert {pid: config_hash(doc) for pid, doc in loaded.documents.items()} == EXAMPLES


def test_benchmark_pipeline_hashes_are_unchanged(reader: bool) -> None:
    spec = importlib.util.spec_from_file_location("bench_apply", ROOT / "bench" / "bench_apply.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    hashes = {
        number: config_hash(
            parse_pipeline_text(bench.pipeline_text(number), stem=f"p{number:05d}").document
        )
        for number in GENERATED
    }
    assert hashes == GENERATED
