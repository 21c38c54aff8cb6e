"""Names shared by the Dagster sensors, checks and run reporting (no Dagster import).

A run launched by an Interlock sensor carries these tags; run reporting finds the claim
through them, so nothing else has to remember which Dagster run belongs to which claim.
"""

import re

PIPELINE_TAG = "interlock/pipeline"
PERIOD_TAG = "interlock/period"
ATTEMPT_TAG = "interlock/attempt"
# The claim owner: present only on runs that hold a claim (wait_for="ready").
OWNER_TAG = "interlock/owner"
WAIT_FOR_TAG = "interlock/wait_for"

_NOT_A_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9_]")


def run_key(pipeline_id: str, period: str, attempt: int) -> str:
    """The ``RunRequest.run_key`` of one attempt: a rerun's new attempt launches again,
    while Dagster never launches the same attempt twice."""
    return f"{pipeline_id}:{period}:{attempt}"


def claim_owner(sensor_name: str, key: str) -> str:
    """The claim owner of the run requested with ``key`` by ``sensor_name``.

    Dagster launches at most one run per (sensor, run key), so the owner names exactly one
    Dagster run before its run id exists; the run carries the owner as its
    ``interlock/owner`` tag and reports under it.
    """
    return f"dagster:{sensor_name}/{key}"


def run_tags(
    pipeline_id: str, period: str, attempt: int, *, owner: str | None, wait_for: str
) -> dict[str, str]:
    """The tags of a run requested for an Interlock run."""
    tags = {
        PIPELINE_TAG: pipeline_id,
        PERIOD_TAG: period,
        ATTEMPT_TAG: str(attempt),
        WAIT_FOR_TAG: wait_for,
    }
    if owner is not None:
        tags[OWNER_TAG] = owner
    return tags


def dagster_name(text: str) -> str:
    """``text`` as a Dagster definition name (letters, digits and ``_`` only)."""
    return _NOT_A_NAME_CHARACTER.sub("_", text)
