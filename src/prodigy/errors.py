"""One error hierarchy. Each class owns its exit code; the CLI has one handler for all of them.

Exit codes (documented in docs/exit-codes.md; keep the two in step):

    0    success
    1    the workflow ran and failed (a step, setup or reduce failed)
    2    usage or input error: bad arguments, invalid workflow, unknown id, missing file
    3    the run finished but work items are in the dead-letter queue
    4    another prodigy process is executing this session ("already in progress")
    5    nothing to resume: the session or job already completed
    6    state on disk is unreadable and could not be recovered
    70   internal error (a bug): a short message and the path of a crash log
    75   stopped, resumable: the agent cannot run (authentication, root guard), the API stayed unavailable
         longer than agent_outage_limit, or max_cost_usd was reached; nothing failed, resume continues
    130  interrupted (SIGINT/SIGTERM); the run is resumable
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    DLQ_NOT_EMPTY = 3
    BUSY = 4
    NOTHING_TO_DO = 5
    STATE_ERROR = 6
    INTERNAL = 70
    STOPPED = 75  # EX_TEMPFAIL: stopped for a reason outside the work (agents' auth, API outage, cost cap)
    INTERRUPTED = 130


class ProdigyError(Exception):
    """An expected problem: the message says what happened, where, and what to do next."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class UsageError(ProdigyError):
    exit_code = ExitCode.USAGE


class InvalidIdError(UsageError):
    pass


class NotFoundError(UsageError):
    pass


class AmbiguousIdError(UsageError):
    def __init__(self, prefix: str, candidates: list[str]) -> None:
        listing = "\n".join(f"  {c}" for c in candidates)
        super().__init__(
            f"'{prefix}' matches {len(candidates)} ids:\n{listing}",
            hint="Type more characters of the id to pick one.",
        )
        self.candidates = candidates


class WorkflowFileError(UsageError):
    """The workflow file cannot be read or is not valid."""

    def __init__(self, message: str, *, problems: list | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class MissingToolError(UsageError):
    pass


class LockHeldError(ProdigyError):
    exit_code = ExitCode.BUSY


class NothingToResumeError(ProdigyError):
    exit_code = ExitCode.NOTHING_TO_DO


class StateError(ProdigyError):
    exit_code = ExitCode.STATE_ERROR


class StateWriteError(StateError):
    """A state file could not be written (disk full, I/O error, read-only file system): the run stops at once,
    before anything that depends on the write is counted, and can be resumed once the disk is fixed."""

    def __init__(self, message: str, *, hint: str | None = None, path: str = "") -> None:
        super().__init__(message, hint=hint)
        self.path = path


class Interrupted(ProdigyError):
    """Raised inside the executors when SIGINT/SIGTERM asked them to stop."""

    exit_code = ExitCode.INTERRUPTED
