"""The two ways an Interlock task fails, whatever the sensor mode.

Neither class derives from ``AirflowException``: Airflow turns every ``AirflowException`` a
sensor raises while resuming from a deferral (and ``AirflowFailException`` raised by ``poke``)
into a skip when ``soft_fail`` is set. ``soft_fail`` is for "the condition never came true in
time"; a missing store or a pipeline that does not exist must fail the task loudly, in poke,
reschedule and deferrable mode alike. The sensor and the operators translate
:class:`InterlockFatalError` into ``AirflowFailException`` outside Airflow's soft-fail
handling, so the task fails without retries; :class:`InterlockUnavailableError` fails it with
the task's usual retries.

This module imports nothing, so the sensor, the triggers and the operators can share it
without loading the engine at DAG-parse time.
"""


class InterlockTaskError(Exception):
    """Base class of the errors an Interlock task fails with."""


class InterlockFatalError(InterlockTaskError):
    """Waiting or retrying cannot help: unknown pipeline, bad period or store URL, no period
    for the DAG run, a claim held by another owner, or the awaited run failed."""


class InterlockUnavailableError(InterlockTaskError):
    """The store could not be reached or read; a retry may succeed."""


class InterlockNoClaimError(InterlockFatalError):
    """A report names no run this DAG run claimed (the gate never passed, or another owner
    holds the period)."""
