"""The original's MapReduce records: the job state file (MapReduceJobState, checkpoint-v{N}.json) and the
dead-letter items (DeadLetteredItem), read and checked like the records in shapes.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.legacy.shapes import _Fields, _problem, epoch, read_json_file

# ---------------------------------------------------------------- MapReduceJobState: checkpoint-v{N}.json


@dataclass(frozen=True)
class RustAgentResult:
    item_id: str
    outcome: str  # succeeded | failed | timed_out | pending
    output: str | None
    error: str | None
    duration: float | None
    log: str | None


@dataclass(frozen=True)
class RustJobState:
    path: Path
    job_id: str
    work_items: tuple[Any, ...]
    results: dict[str, RustAgentResult]
    failed_attempts: dict[str, tuple[int, str | None]]  # item id -> (attempts, last error)
    pending: tuple[str, ...]
    parent_worktree: str | None
    reduce_started: bool
    reduce_completed: bool
    is_complete: bool
    variables: dict[str, Any]
    setup_completed: bool
    input: str | None
    version: int


def read_job_state(path: Path) -> RustJobState:
    what = "MapReduce job state"
    f = _Fields(read_json_file(path, what), path, what)
    results: dict[str, RustAgentResult] = {}
    raw_results = f.get("agent_results", dict, default={})
    for key, raw in raw_results.items():
        r = _Fields(raw, path, what, f"agent_results.{key}")
        status = raw.get("status")
        if status == "Success":
            outcome, error = "succeeded", None
        elif status == "Timeout":
            outcome, error = "timed_out", "timed out"
        elif isinstance(status, dict) and "Failed" in status:
            outcome, error = "failed", str(status["Failed"])
        elif status in ("Pending", "Running") or (isinstance(status, dict) and "Retrying" in status):
            outcome, error = "pending", None
        else:
            raise _problem(path, what, r.name("status"), f"is {status!r}, not Pending, Running, Success, "
                           "Failed, Timeout or Retrying")
        results[key] = RustAgentResult(item_id=r.get("item_id", str, default=key), outcome=outcome,
                                       output=r.get("output", str), error=r.get("error", str) or error,
                                       duration=r.duration("duration"), log=r.get("json_log_location", str))
    failed: dict[str, tuple[int, str | None]] = {}
    for key, raw in f.get("failed_agents", dict, default={}).items():
        r = _Fields(raw, path, what, f"failed_agents.{key}")
        failed[key] = (r.get("attempts", int, default=1), r.get("last_error", str))
    pending = f.get("pending_items", list, default=[])
    if not all(isinstance(p, str) for p in pending):
        raise _problem(path, what, "pending_items", "should be a list of item ids")
    reduce = f.sub("reduce_phase_state")
    config = f.sub("config")
    return RustJobState(
        path=path, job_id=f.get("job_id", str, required=True),
        work_items=tuple(f.get("work_items", list, required=True)), results=results, failed_attempts=failed,
        pending=tuple(pending), parent_worktree=f.get("parent_worktree", str),
        reduce_started=bool(reduce.get("started", bool, default=False)) if reduce else False,
        reduce_completed=bool(reduce.get("completed", bool, default=False)) if reduce else False,
        is_complete=f.get("is_complete", bool, default=False), variables=dict(f.get("variables", dict, default={})),
        setup_completed=f.get("setup_completed", bool, default=False),
        input=config.get("input", str) if config else None, version=f.get("checkpoint_version", int, default=0),
    )


# ---------------------------------------------------------------- DeadLetteredItem: dlq/.../items/{id}.json


@dataclass(frozen=True)
class RustFailure:
    attempt: int
    status: str  # failed | timed_out
    error: str | None
    exit_code: int | None
    log: str | None
    duration: float | None
    time: float | None


@dataclass(frozen=True)
class RustDlqItem:
    path: Path
    item_id: str
    item_data: Any
    failure_count: int
    history: tuple[RustFailure, ...]
    last_attempt: float | None


def read_dlq_item(path: Path) -> RustDlqItem:
    what = "dead-letter queue item"
    f = _Fields(read_json_file(path, what), path, what)
    history = []
    for n, raw in enumerate(f.get("failure_history", list, default=[])):
        h = _Fields(raw, path, what, f"failure_history[{n}]")
        kind = raw.get("error_type")
        exit_code = None
        if isinstance(kind, dict) and isinstance(kind.get("CommandFailed"), dict):
            exit_code = kind["CommandFailed"].get("exit_code")
        ms = h.get("duration_ms", int)
        history.append(RustFailure(attempt=h.get("attempt_number", int, default=n + 1),
                                   status="timed_out" if kind == "Timeout" else "failed",
                                   error=h.get("error_message", str), exit_code=exit_code if isinstance(
                                       exit_code, int) else None, log=h.get("json_log_location", str),
                                   duration=ms / 1000 if ms is not None else None, time=epoch(h.get("timestamp", str))))
    return RustDlqItem(path=path, item_id=f.get("item_id", str, required=True), item_data=f.data.get("item_data"),
                       failure_count=f.get("failure_count", int, default=max(len(history), 1)),
                       history=tuple(history), last_attempt=epoch(f.get("last_attempt", str)))
