"""``InterlockResource``: the engine as a Dagster resource (conventional key ``interlock``)."""

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, cast

import dagster as dg
from pydantic import Field

from integrations.dagster.engines import interlock_engine
from interlock_core import Event, EventType, Interlock, Readiness, Run, Sensor


class InterlockResource(dg.ConfigurableResource):
    """Gate, claim, report and emit through Interlock from Dagster code.

    Every method calls the engine (``interlock_core.engine.Interlock``), which is built once
    per process for each (store, pipelines) pair and shared by all resource instances.

    Example:
        .. code-block:: python

            defs = dg.Definitions(
                assets=[...],
                resources={
                    "interlock": InterlockResource(
                        store=dg.EnvVar("INTERLOCK_STORE"), pipelines="pipelines/"
                    )
                },
            )

            @dg.asset
            def stock_export(interlock: InterlockResource) -> None:
                ...
                interlock.emit("warehouse-inventory", "stock-export", {"status": "done"})
    """

    store: str = Field(
        description="The Interlock store URL: sqlite:///path.db, postgresql://…, dynamodb://…"
    )
    pipelines: str | None = Field(
        default=None,
        description="A pipelines directory to apply first (re-applied when a file changes).",
    )

    def get_engine(self) -> Interlock:
        """The process-wide engine for this store (and pipelines directory)."""
        store = cast(str, _resolved("store", self.store))
        return interlock_engine(store, _resolved("pipelines", self.pipelines))

    def evaluate(self, pipeline_id: str, period: str | None = None) -> Readiness:
        """The gate of a pipeline for ``period`` (default: its current period); no writes."""
        return self.get_engine().evaluate(pipeline_id, period)

    def emit(
        self,
        pipeline_id: str,
        key: str,
        data: Mapping[str, Any] | None = None,
        period: str | None = None,
    ) -> Sensor:
        """Write an Interlock sensor (``key#period`` when ``period`` is given)."""
        return self.get_engine().emit(pipeline_id, key, dict(data or {}), period)

    def claim(self, pipeline_id: str, period: str | None, owner: str) -> Run:
        """Claim the job-less run of a period for ``owner`` (raises ``ClaimRefused``)."""
        return self.get_engine().claim(pipeline_id, period, owner)

    def report(
        self,
        pipeline_id: str,
        period: str,
        outcome: str,
        owner: str | None = None,
        message: str = "",
    ) -> Run:
        """Report ``success`` or ``failed`` for a claimed run."""
        return self.get_engine().report(pipeline_id, period, outcome, owner, message)

    def run(self, pipeline_id: str, period: str) -> Run | None:
        """The run record of one period, or None."""
        return self.get_engine().run(pipeline_id, period)

    def status(self, pipeline_id: str | None = None, limit: int | None = None) -> list[Run]:
        """Run records, newest period first."""
        return self.get_engine().status(pipeline_id, limit)

    def events(
        self,
        pipeline_id: str | None = None,
        types: Collection[EventType] | None = None,
        since: datetime | None = None,
        period: str | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events from Interlock's event log, oldest first."""
        return self.get_engine().events(pipeline_id, types, since, None, period, None, limit)


def _resolved(field: str, value: str | None) -> str | None:
    """A field's value; an ``EnvVar`` Dagster has not resolved yet (the resource called
    directly, outside a run) is read from the environment rather than taken as the URL."""
    if not isinstance(value, dg.EnvVar):
        return value
    resolved = value.get_value()
    if resolved is None:
        raise ValueError(
            f"InterlockResource.{field}: environment variable {value.env_var_name} is not set"
        )
    return resolved
