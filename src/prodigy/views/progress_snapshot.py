"""What `prodigy progress`, `--web` and `prodigy dashboard` show of a job: the answers JobWatch
(views/progress.py) gives, as frozen dataclasses that the renderers and `--format json` share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ItemOutcome:
    """An attempt that ended, as seen by a refresh (for renderers that print per-item lines)."""

    index: int
    attempt: int
    status: str  # succeeded | failed | timed_out | errored | interrupted
    final: bool  # no retry follows (the item succeeded, went to the DLQ or was skipped)
    duration: float | None
    error: str | None
    stderr: str | None = None  # its stderr tail (kept short)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class Counts:
    total: int | None  # None until the work list is frozen
    succeeded: int
    failed: int  # failed for good: in the DLQ, skipped or purged
    dlq: int
    skipped: int
    running: int  # in flight (or, when nothing executes the job, in flight when it stopped)
    pending: int  # not started yet, waiting for a retry, or cut short by an interrupt
    retried: int  # attempts that failed and were tried again
    retrying: int  # pending items whose last attempt failed: a retry (or a --force round) follows
    finished: int  # succeeded + failed


@dataclass(frozen=True)
class RunningItem:
    item_id: str
    attempt: int
    started_at: str | None
    seconds: float | None  # running for
    worker: str | None


@dataclass(frozen=True)
class PhaseSteps:
    done: int
    total: int | None  # from the run's phase_started event; None when not known yet


@dataclass(frozen=True)
class ProgressSnapshot:
    job_id: str
    session_id: str
    workflow: str
    workflow_path: str
    status: str  # the session record's: running | interrupted | failed | completed | cancelled
    live: bool  # a prodigy process executes the job right now
    ended: bool  # nothing executes it: it stays as it is until a resume
    phase: str  # setup | map | reduce | done
    counts: Counts
    setup: PhaseSteps
    reduce: PhaseSteps
    started_at: str | None
    updated_at: str | None  # the last journal record
    elapsed_seconds: float | None  # since the job started (to its last record once it ended)
    rate_per_minute: float | None  # items finished per minute, over the last minute of the current run
    eta_seconds: float | None  # while live: the items left at that rate
    cost_usd: float | None  # what the job's agent calls cost so far (setup, items, reduce); None: no agent ran
    agents: dict[str, Any] | None  # the job's agent economics in full (state/spend.py::job_spend)
    slowest_running: tuple[RunningItem, ...]
    runs: int  # `run` plus every `resume` of the job
    succeeded_before_run: int  # items done before the current run began (the run's bar shows them as cached)
    error: str | None
    exit_code: int | None
    next_command: str | None  # what to run now (resume, resume-job --force), None while it runs or when nothing is left
    resume_command: str | None  # how to continue the job if it stops (None once it completed)
    journal_bytes: int
    seq: int  # bumped by every refresh that saw a change
    generated_at: str
    warnings: tuple[str, ...] = ()
