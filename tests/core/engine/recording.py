"""A JobRunner that records every submission in an append-only file shared by processes.

Each submit appends one line ``<token>\\n`` with O_APPEND (atomic for short writes) and
fsyncs, so a test can count submissions across threads, processes and SIGKILLs.
"""

import os
from pathlib import Path
from typing import Any

from interlock_core.jobs.base import JobHandle, JobState, JobStatus, RunContext


class RecordingRunner:
    """Submits nothing real; every job succeeds at its first poll. Not idempotent."""

    job_type = "command"
    dedups_on_token = False

    def __init__(self, ledger: Path) -> None:
        self.ledger = ledger

    def submit(self, job: Any, run: RunContext, token: str) -> JobHandle:
        fd = os.open(self.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{token}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return JobHandle(token, {"token": token})

    def status(self, handle: JobHandle) -> JobStatus:
        return JobStatus(JobState.SUCCEEDED)

    def cancel(self, handle: JobHandle) -> bool:
        return True


def submissions(ledger: Path) -> list[str]:
    """Every token submitted, in order."""
    if not ledger.exists():
        return []
    return [line for line in ledger.read_text().splitlines() if line]
