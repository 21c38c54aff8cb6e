"""What Airflow's ProvidersManager reads about this provider (entry point
``apache_airflow_provider``), without importing Airflow or the engine."""

from typing import Any

INTEGRATION = "Interlock"


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow discovers through the ``apache_airflow_provider``
    entry point.

    ``package-name`` must equal the distribution name (``interlock``): Airflow refuses a
    provider whose info names another package. The connection form is declared here
    (``conn-fields``, ``ui-field-behaviour``), the Airflow 3.2+ way, so the UI needs no
    import of the hook.
    """
    return {
        "package-name": "interlock",
        "name": "Interlock",
        "description": (
            "Gate DAGs on Interlock readiness (sensors, deferrable triggers, an AssetWatcher "
            "event trigger), write Interlock sensors and report the outcome of claimed runs."
        ),
        "integrations": [{"integration-name": INTEGRATION, "tags": ["service"]}],
        "hooks": [
            {"integration-name": INTEGRATION, "python-modules": ["integrations.airflow.hooks"]}
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["integrations.airflow.sensors"]}
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["integrations.airflow.operators"],
            }
        ],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["integrations.airflow.triggers"]}
        ],
        "connection-types": [
            {
                "hook-class-name": "integrations.airflow.hooks.InterlockHook",
                "hook-name": "Interlock",
                "connection-type": "interlock",
                "conn-fields": {
                    "store": {
                        "label": "Store URL",
                        "description": (
                            "Where Interlock keeps configs, sensors and runs: "
                            "sqlite:////abs/path.db, postgresql://USER@HOST:PORT/DB or "
                            "dynamodb://CONTROL_TABLE?events=EVENTS_TABLE&region=R"
                        ),
                        "schema": {"type": ["string", "null"]},
                    },
                    "pipelines": {
                        "label": "Pipelines directory",
                        "description": (
                            "Optional: a directory of pipeline YAML files applied to the store "
                            "before first use (and again when a file changes)"
                        ),
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "login", "password", "port"],
                    "relabeling": {},
                    "placeholders": {
                        "store": "sqlite:////opt/airflow/interlock/interlock.db",
                        "pipelines": "/opt/airflow/interlock/pipelines",
                    },
                },
            }
        ],
    }
