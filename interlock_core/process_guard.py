"""Process-level protections of the controller (Linux ``prctl``; no-ops elsewhere).

The controller's environment holds the operator's credentials (alert tokens, store URLs,
job tokens). On Linux a process of the same user can read it from ``/proc/<pid>/environ`` and
attach a debugger; ``PR_SET_DUMPABLE = 0`` closes both (and disables core dumps, which would
hold the same secrets). Jobs run as children of a separate supervisor with a minimal
environment (see :mod:`interlock_core.jobs.command`).
"""

import logging
import sys

log = logging.getLogger("interlock.process")

PR_SET_DUMPABLE = 4


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def protect_controller() -> bool:
    """Make this process non-dumpable: its ``/proc`` entries (environment, memory) become
    unreadable to other processes of the same user, and no core file is written.

    Returns:
        True when the protection is in place, False where the platform has none (macOS,
        Windows) or the call failed — never raises.
    """
    done = _prctl(PR_SET_DUMPABLE, 0)
    if not done and sys.platform.startswith("linux"):
        log.warning("could not make the controller non-dumpable (prctl failed)")
    return done


def is_dumpable() -> bool | None:
    """Whether this process is dumpable (Linux), None where that cannot be told."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE
    except (OSError, AttributeError):
        return None
