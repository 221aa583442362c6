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
    failure_kind: FailureKind | None = None  # agent steps: whose fault a failure is (None: an ordinary one)
    variables: dict[str, Any] = field(default_factory=dict)  # set by kinds such as analyze (${analysis.*})

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
    failure_kind: FailureKind | None = None

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


# Failure kinds of agent steps: who is at fault decides what happens next (execution/agents/policy.py).
TRANSIENT = "transient"  # the API is overloaded or rate limited: pause the pool, retry; the item is not at fault
FATAL = "fatal"  # the agent cannot run at all here (authentication, root guard, CLI broken): stop the run
AGENT = "agent"  # the agent's own failure (an error result, max turns, budget): the item's failure, as any other
CLUSTER = "cluster"  # the cluster lost the attempt (a worker died or cannot run it, the scheduler went away)
RUN_LEVEL = (TRANSIENT, FATAL, CLUSTER)  # kinds that never count against an item and never send it to the DLQ


@dataclass(frozen=True)
class FailureKind:
    kind: str  # TRANSIENT | FATAL | AGENT
    reason: str  # a short code: auth, permission, root, rate_limit, overloaded, server_error, usage_limit, ...
    retry_after: float | None = None  # seconds the CLI or API asked to wait (retry-after, a usage-limit reset)
    hint: str | None = None  # what to do about it, for people
    stop: bool = False  # CLUSTER: stop dispatching, resumably (the scheduler stayed out of reach)
    unsettled: bool = False  # CLUSTER: the attempt's command may outlive it: record no end (a resume ends it)

    @property
    def run_level(self) -> bool:
        return self.kind in RUN_LEVEL
