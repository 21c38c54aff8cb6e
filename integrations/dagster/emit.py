"""Emit on materialization: upstream Dagster assets become Interlock producers, with no
Interlock code in the asset.

Every new materialization of a watched asset writes one Interlock sensor whose data is the
materialization's metadata (plus a ``dagster`` object naming the asset, run, partition and
materialization time). A new emit sensor starts after each asset's latest materialization:
history is never replayed.
A materialization of a partition that names a period (``YYYY-MM-DD``, ``YYYY-MM-DD-HH:00``)
is written as ``key#<period>``, so each period keeps its own data.

The cursor holds, per asset, the storage id of the last materialization handled. Delivery is
at least once: a tick that fails part-way emits its materializations again on the next tick
(a sensor write replaces the document, so a repeat is harmless).
"""

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg

from integrations.dagster import partitions, tags
from integrations.dagster.resources import InterlockResource
from interlock_core import SensorError

EmitPeriodFn = Callable[[dg.AssetKey, str | None, Mapping[str, Any]], str | None]
# Materializations emitted per asset per tick; the rest wait for the next tick.
MAX_PER_TICK = 100


def build_interlock_emit_sensor(
    *,
    pipeline_id: str,
    assets: Mapping[Any, str] | Sequence[Any],
    name: str | None = None,
    period_fn: EmitPeriodFn | None = None,
    minimum_interval_seconds: int = 30,
    resource_key: str = "interlock",
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor that emits an Interlock sensor for each materialization of ``assets``.

    Args:
        pipeline_id: the pipeline the sensors are written to.
        assets: asset → Interlock sensor key; or a list of assets, each written under its
            asset key joined with ``.`` (``["raw", "orders"]`` → ``raw.orders``).
        name: the sensor name (default ``interlock_emit_<pipeline>``).
        period_fn: ``period_fn(asset_key, partition_key, data) -> period | None``; default:
            the period the partition key names, else none (an unsuffixed sensor).
        minimum_interval_seconds: seconds between ticks.
        resource_key: the key of the ``InterlockResource``.
        default_status: whether the sensor starts running.
    """
    keys = _sensor_keys(assets)
    sensor_name = name or f"interlock_emit_{tags.dagster_name(pipeline_id)}"

    def evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        resource: InterlockResource = getattr(context.resources, resource_key)
        cursor = _read_cursor(context)
        emitted: list[str] = []
        refused: list[str] = []
        for asset_key, sensor_key in keys.items():
            label = asset_key.to_user_string()
            if label not in cursor:
                # A new sensor starts after the asset's latest materialization: replaying an
                # old "done" would open today's gate with yesterday's data.
                cursor[label] = _latest_storage_id(context.instance, asset_key)
                continue
            for record in _new_materializations(context.instance, asset_key, cursor[label]):
                written = _emit(context, resource, pipeline_id, sensor_key, record, period_fn)
                if written is not None:
                    (emitted if written else refused).append(written or label)
                cursor[label] = record.storage_id
        text = json.dumps(cursor, sort_keys=True)
        # A tick that launches nothing is a skip for Dagster: say what it wrote instead.
        parts = [f"emitted {', '.join(emitted)}"] if emitted else []
        if refused:
            parts.append(f"refused {len(refused)} from {', '.join(sorted(set(refused)))} (see log)")
        if emitted:
            context.log.info("Interlock: emitted %s", ", ".join(emitted))
        return dg.SensorResult(
            skip_reason="; ".join(parts) or "no new materializations", cursor=text
        )

    return dg.SensorDefinition(
        name=sensor_name,
        evaluation_fn=evaluate,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        default_status=default_status,
        description=f"Emits Interlock sensors of {pipeline_id} when "
        + ", ".join(k.to_user_string() for k in keys)
        + " materialize.",
    )


def _sensor_keys(assets: Mapping[Any, str] | Sequence[Any]) -> dict[dg.AssetKey, str]:
    if isinstance(assets, Mapping):
        pairs = [(_asset_key(asset), key) for asset, key in assets.items()]
    elif isinstance(assets, str):
        raise TypeError("assets must be a list of assets or a mapping, not a string")
    else:
        pairs = [(_asset_key(asset), ".".join(_asset_key(asset).path)) for asset in assets]
    if not pairs:
        raise ValueError("assets is empty: name the assets whose materializations to emit")
    return dict(pairs)


def _asset_key(asset: Any) -> dg.AssetKey:
    if isinstance(asset, (dg.AssetsDefinition, dg.AssetSpec, dg.SourceAsset)):
        return asset.key
    return dg.AssetKey.from_coercible(asset)


def _latest_storage_id(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> int:
    latest = instance.fetch_materializations(asset_key, limit=1).records
    # Storage ids start at 1: an asset never materialized is watched from its first.
    return latest[0].storage_id if latest else 0


def _new_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, after: int
) -> list[dg.EventLogRecord]:
    records_filter = dg.AssetRecordsFilter(asset_key=asset_key, after_storage_id=after)
    result = instance.fetch_materializations(records_filter, limit=MAX_PER_TICK, ascending=True)
    return list(result.records)


def _emit(
    context: dg.SensorEvaluationContext,
    resource: InterlockResource,
    pipeline_id: str,
    sensor_key: str,
    record: dg.EventLogRecord,
    period_fn: EmitPeriodFn | None,
) -> str | None:
    """Emit one materialization: what was written; "" when Interlock refused the data;
    None when the record holds no materialization."""
    materialization = record.asset_materialization
    if materialization is None:
        return None
    data = {name: _plain(value) for name, value in materialization.metadata.items()}
    partition = materialization.partition
    data["dagster"] = {
        "asset": materialization.asset_key.to_user_string(),
        "run_id": record.run_id,
        "partition": partition,
        # For age rules on when the data was made, not when it reached Interlock.
        "materialized_at": dt.datetime.fromtimestamp(record.timestamp, dt.UTC).isoformat(),
    }
    if period_fn is not None:
        period = period_fn(materialization.asset_key, partition, data)
    else:
        period = partitions.period_of_partition_key(partition) if partition else None
    try:
        sensor = resource.emit(pipeline_id, sensor_key, data, period)
    except SensorError as exc:
        # Retrying cannot fix the data: say so and move on rather than stall every later one.
        context.log.error(
            "Interlock refused the sensor %s of %s from %s (storage id %s): %s",
            sensor_key,
            pipeline_id,
            materialization.asset_key.to_user_string(),
            record.storage_id,
            exc,
        )
        return ""
    return f"{pipeline_id}/{sensor.key} v{sensor.version}"


def _plain(value: Any) -> Any:
    """A metadata value as JSON: its plain value where it has one, else its text."""
    raw = value.value if isinstance(value, dg.MetadataValue) else value
    if isinstance(raw, float) and not math.isfinite(raw):
        return None
    if raw is None or isinstance(raw, (str, int, float, bool)):
        return raw
    if isinstance(raw, dg.AssetKey):
        return raw.to_user_string()
    try:
        return json.loads(json.dumps(raw, allow_nan=False))
    except Exception:
        # Not only TypeError/ValueError: Dagster's records (AssetKey, TableSchema…) raise a
        # bare Exception when json iterates them, and one rich value must not fail the tick
        # (it would fail again on every tick: the cursor never passes it).
        return str(raw)


def _read_cursor(context: dg.SensorEvaluationContext) -> dict[str, int]:
    if not context.cursor:
        return {}
    try:
        document = json.loads(context.cursor)
        if not isinstance(document, dict) or not all(isinstance(v, int) for v in document.values()):
            raise TypeError("not an object of storage ids")
    except (ValueError, TypeError) as exc:
        context.log.warning(
            "Failed to interpret cursor %r (%s). Starting from scratch.", context.cursor, exc
        )
        return {}
    return document
