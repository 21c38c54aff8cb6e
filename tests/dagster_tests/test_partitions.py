"""Periods and Dagster partition keys (pure functions)."""

import pytest

from integrations.dagster.partitions import partition_key_candidates, period_of_partition_key
from integrations.dagster.tags import claim_owner, dagster_name, run_key


@pytest.mark.parametrize(
    ("period", "first"),
    [
        ("2026-03-04", "2026-03-04"),
        ("20260304", "2026-03-04"),
        ("2026-03-04T07", "2026-03-04-07:00"),
    ],
)
def test_the_likeliest_partition_key_comes_first(period: str, first: str) -> None:
    assert partition_key_candidates(period)[0] == first


@pytest.mark.parametrize(
    ("partition_key", "period"),
    [
        ("2026-03-04", "2026-03-04"),
        ("2026-03-04-07:00", "2026-03-04T07"),
        ("2026-03-04T07", "2026-03-04T07"),
        ("2026-03-04-07:30", None),  # not an hour boundary: no Interlock period
        ("us-east", None),
        ("2026-02-30", None),
    ],
)
def test_partition_keys_that_name_a_period(partition_key: str, period: str | None) -> None:
    assert period_of_partition_key(partition_key) == period


def test_names() -> None:
    assert run_key("warehouse-inventory", "2026-03-04", 2) == "warehouse-inventory:2026-03-04:2"
    assert claim_owner("s", "p:2026-03-04:1") == "dagster:s/p:2026-03-04:1"
    assert dagster_name("warehouse-inventory.v2") == "warehouse_inventory_v2"
