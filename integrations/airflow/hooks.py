"""The ``interlock`` connection type and the hook that turns it into an engine."""

import os
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from integrations.airflow.errors import InterlockFatalError

if TYPE_CHECKING:
    from interlock_core.engine import Interlock

DEFAULT_CONN_ID = "interlock_default"


class InterlockTarget(NamedTuple):
    """Where a hook's engine lives: a store URL and, optionally, a directory to apply first."""

    store: str
    pipelines: str | None


class InterlockHook(BaseHook):
    """Connects Airflow to an Interlock store.

    The connection (type ``interlock``, id ``interlock_default`` by default) keeps everything in
    its extra: ``store`` — the store URL — and ``pipelines`` — an optional directory of pipeline
    files applied to the store before first use. Without such a connection, the
    ``INTERLOCK_STORE`` and ``INTERLOCK_PIPELINES`` environment variables are used, as by the
    ``interlock`` command.

    The engine is built on first use and cached per process and store URL, so DAG parsing
    never opens a store.

    Args:
        interlock_conn_id: the Airflow connection id.
    """

    conn_name_attr = "interlock_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "interlock"
    hook_name = "Interlock"

    def __init__(self, interlock_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.interlock_conn_id = interlock_conn_id

    def target(self) -> InterlockTarget:
        """The store URL and pipelines directory from the connection, else the environment.

        Raises:
            InterlockFatalError: neither names a store.
        """
        try:
            connection = self.get_connection(self.interlock_conn_id)
        except AirflowNotFoundException:
            connection = None
        if connection is not None:
            extra = connection.extra_dejson
            store = _extra(extra, "store")
            if not store:
                raise InterlockFatalError(
                    f"the Airflow connection {self.interlock_conn_id!r} has no 'store' in its "
                    'extra (for example {"store": "sqlite:////opt/airflow/interlock.db"})'
                )
            return InterlockTarget(store, _extra(extra, "pipelines") or None)
        store = os.environ.get("INTERLOCK_STORE", "").strip()
        if not store:
            raise InterlockFatalError(
                f"no Interlock store: create the Airflow connection {self.interlock_conn_id!r} "
                '(type interlock, extra {"store": URL}) or set INTERLOCK_STORE'
            )
        pipelines = os.environ.get("INTERLOCK_PIPELINES", "").strip()
        return InterlockTarget(store, pipelines or None)

    def get_conn(self) -> "Interlock":
        """The engine (``interlock_core.engine.Interlock``) on this connection's store."""
        from integrations.airflow.engines import engine_for

        target = self.target()
        return engine_for(target.store, target.pipelines)

    def test_connection(self) -> tuple[bool, str]:
        """Open the store and list its pipelines (the UI's "Test" button)."""
        try:
            ids = self.get_conn().pipeline_ids()
        except Exception as exc:  # the UI shows any failure as text
            return False, str(exc)
        return True, f"{len(ids)} pipeline(s) configured"


def _extra(extra: dict[str, Any], name: str) -> str:
    # Older UIs stored custom fields as extra__<conn type>__<field>.
    value = extra.get(name) or extra.get(f"extra__interlock__{name}") or ""
    return str(value).strip()
