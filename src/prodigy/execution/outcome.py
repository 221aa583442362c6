"""Outcomes are values (invariant 8): a command that fails, times out or cannot start is one of these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
ERRORED = "errored"  # could not start: missing executable, bad working_dir, bad template ...
INTERRUPTED = "interrupted"
SKIPPED = "skipped"  # `when:` was false

OK_STATUSES = (SUCCEEDED, SKIPPED)


@dataclass(frozen=True)
class CommandOutcome:
    status: str
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    log_path: str | None = None
    error: str | None = None  # a one-line reason for anything but success
    output: str | None = None  # the value of ${<kind>.output}; stdout when None

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    @property
    def captured(self) -> str:
        return self.stdout if self.output is None else self.output


@dataclass(frozen=True)
class StepOutcome:
    status: str
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    log_path: str | None = None
    error: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)  # variables this step sets for later steps
    attempts: int = 1
    recovered: bool = False  # failed, but an on_failure / on_exit_code handler made it good

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES
