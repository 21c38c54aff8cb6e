"""Asset checks whose result is an Interlock gate.

Place the check on the asset the gated work reads (the upstream source asset) and keep it
blocking: when the gate fails, Dagster stops every downstream asset of that run — a manual
"Materialize all" from the UI included.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg

from integrations.dagster import partitions, tags
from integrations.dagster.resources import InterlockResource
from interlock_core import Readiness

CheckPeriodFn = Callable[[dg.AssetCheckExecutionContext], str | None]


def build_interlock_asset_checks(
    *,
    assets_to_pipelines: Mapping[Any, str] | Sequence[tuple[Any, str]],
    blocking: bool = True,
    period_fn: CheckPeriodFn | None = None,
    resource_key: str = "interlock",
) -> list[dg.AssetChecksDefinition]:
    """One asset check per asset, passing when its pipeline's gate passes.

    Args:
        assets_to_pipelines: asset → Interlock pipeline id; an asset is a key (``"a"``,
            ``AssetKey``) or an ``AssetsDefinition``. ``AssetSpec`` is not hashable: use its
            ``.key``, or pass ``(asset, pipeline_id)`` pairs.
        blocking: a failing check stops the downstream assets of the run (severity ERROR);
            False reports a WARN and stops nothing.
        period_fn: ``period_fn(context) -> period``; default: the run's ``interlock/period``
            tag when an Interlock sensor launched it for this pipeline, else its partition key
            when the run is partitioned (``YYYY-MM-DD`` or ``YYYY-MM-DD-HH:00``), else the
            pipeline's current period.
        resource_key: the key of the ``InterlockResource``.

    Returns:
        Checks named ``interlock_<pipeline>``, whose metadata holds the period, Interlock's
        summary, whether the period is excluded, the run's status, and one result per rule.
    """
    pairs = (
        list(assets_to_pipelines.items())
        if isinstance(assets_to_pipelines, Mapping)
        else list(assets_to_pipelines)
    )
    if not pairs:
        raise ValueError("assets_to_pipelines is empty: map each gated asset to a pipeline id")
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], str)):
            raise TypeError(
                "assets_to_pipelines: each entry must be an (asset, pipeline_id) pair, "
                f"not {pair!r}"
            )
    return [
        _build_check(_asset_key(asset), pipeline_id, blocking, period_fn, resource_key)
        for asset, pipeline_id in pairs
    ]


def _asset_key(asset: Any) -> dg.AssetKey:
    if isinstance(asset, dg.AssetsDefinition):
        return asset.key
    if isinstance(asset, (dg.AssetSpec, dg.SourceAsset)):
        return asset.key
    return dg.AssetKey.from_coercible(asset)


def _build_check(
    asset_key: dg.AssetKey,
    pipeline_id: str,
    blocking: bool,
    period_fn: CheckPeriodFn | None,
    resource_key: str,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key,
        name=f"interlock_{tags.dagster_name(pipeline_id)}",
        description=f"The Interlock gate of {pipeline_id}",
        blocking=blocking,
        required_resource_keys={resource_key},
        metadata={"interlock/pipeline": pipeline_id},
    )
    def interlock_gate(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        resource: InterlockResource = getattr(context.resources, resource_key)
        period = _period(context, pipeline_id, period_fn)
        readiness = resource.evaluate(pipeline_id, period)
        return gate_result(readiness, blocking)

    return interlock_gate


def _period(
    context: dg.AssetCheckExecutionContext, pipeline_id: str, period_fn: CheckPeriodFn | None
) -> str | None:
    if period_fn is not None:
        return period_fn(context)
    run_tags = context.run.tags
    if run_tags.get(tags.PIPELINE_TAG) == pipeline_id and run_tags.get(tags.PERIOD_TAG):
        # Launched by an Interlock sensor for this period (a period_fn backfill, or a claim
        # made just before midnight): gate what was claimed, not the current period.
        return run_tags[tags.PERIOD_TAG]
    if not context.has_partition_key:
        return None
    period = partitions.period_of_partition_key(context.partition_key)
    if period is None:
        raise ValueError(
            f"partition key {context.partition_key!r} is not an Interlock period "
            "(YYYY-MM-DD, YYYY-MM-DD-HH:00); pass period_fn to map it"
        )
    return period


def gate_result(readiness: Readiness, blocking: bool) -> dg.AssetCheckResult:
    """The check result of a gate evaluation, with one metadata entry per rule."""
    evaluation = readiness.evaluation
    rules = [result.to_document() for result in evaluation.results]
    summary = evaluation.summary()
    if readiness.excluded is not None:
        summary = f"{readiness.period} is excluded ({readiness.excluded}); {summary}"
    metadata: dict[str, Any] = {
        "pipeline": readiness.pipeline_id,
        "period": readiness.period,
        "summary": summary,
        "excluded": readiness.excluded or "",
        "run_status": readiness.run.status.value if readiness.run else "no run",
        "rules": dg.MetadataValue.json(rules),
    }
    for number, rule in enumerate(rules, start=1):
        field = f".{rule['field']}" if rule["field"] else ""
        verdict = "pass" if rule["passed"] else "FAIL"
        metadata[f"rule {number}: {rule['key']}{field} {rule['check']}"] = (
            f"{verdict}: {rule['reason']}"
        )
    return dg.AssetCheckResult(
        passed=readiness.ready,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        description=summary,
        metadata=metadata,
    )
