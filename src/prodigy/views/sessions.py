"""`prodigy sessions list|show|clean`: views of the session records (and, for show, of the session's job).

A listing reads the session records: what it shows (status, phase, progress) is kept there by the executors,
so listing 1,000 finished sessions never opens a job journal. A MapReduce session still marked running is the
exception: its progress comes from its journal, and if no process holds its lock it shows as interrupted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import LockHeldError, NotFoundError, StateError
from prodigy.execution.mapreduce.mapvars import counts
from prodigy.resume.resolve import Target
from prodigy.state import checkpoints, cleanup, generated, locks, sessions
from prodigy.state.jobs import find_job_folder
from prodigy.state.sessions import RESUMABLE, SessionRecord
from prodigy.state.spend import job_spend, readable
from prodigy.views.common import age_seconds, job_ref, load_job

DEFAULT_CLEAN_STATUSES = ("completed", "cancelled")


# The listing (rows, true status and progress) is views/session_list.py's, which a listing imports alone.
from prodigy.views.session_list import (  # noqa: E402, F401 - re-exported: callers use these names
    SessionListing,
    SessionRow,
    _original_row,
    _row,
    list_sessions,
    true_progress,
    true_status,
)

# ---------------------------------------------------------------- show


@dataclass(frozen=True)
class JobView:
    job_id: str
    folder: str
    events_path: str
    phase: str
    status: str
    counts: dict[str, int]
    setup_steps_done: int
    reduce_steps_done: int
    resumes: int
    error: str | None
    warnings: tuple[str, ...] = ()
    agents: dict[str, Any] | None = None  # the job's agent economics (state/spend.py::job_spend)


@dataclass(frozen=True)
class StandardView:
    checkpoint_path: str
    total_steps: int
    steps_done: int
    next_step: int | None  # 1-based; None when every step completed
    in_flight: dict[str, Any] | None
    failure: dict[str, Any] | None
    agents: dict[str, Any] | None = None  # {"total": ..., "steps": {"1": ...}}: what the agent calls cost


@dataclass(frozen=True)
class SessionDetail:
    record: dict[str, Any]
    age_seconds: float | None
    live: bool  # some process holds the execution lock right now
    lock_holder: dict[str, Any] | None
    job: JobView | None
    standard: StandardView | None
    next_command: str | None
    problems: tuple[str, ...] = field(default=())


def show_session(target: Target) -> SessionDetail:
    record = target.session
    live = locks.is_locked(record.id)
    problems: list[str] = []
    job = standard = None
    dlq = 0
    if record.kind == "mapreduce" and record.job_id:
        try:
            job = _job_view(target)
            dlq = job.counts["dlq"]
        except (StateError, NotFoundError) as exc:
            problems.append(str(exc).splitlines()[0])
    elif record.kind == "workflow":
        standard = _standard_view(record.id, problems)
    shown = record.to_json()
    if shown["status"] == "running" and not live:
        shown["status"] = "interrupted"
        shown["status_note"] = "its process is gone; the record still said running"
    if job is not None and job.status == "running" and not live:
        job = replace(job, status="interrupted")
    if job is not None and job.counts["total"]:
        c = job.counts
        shown["progress"] = {"done": c["successful"] + c["failed"], "total": c["total"], "failed": c["failed"],
                             "dlq": c["dlq"]}
    return SessionDetail(
        record=shown, age_seconds=age_seconds(record.created_at), live=live,
        lock_holder=locks.read_holder(record.id) if live else None, job=job, standard=standard,
        next_command=next_command(record, live=live, dlq=dlq), problems=tuple(problems),
    )


def _job_view(target: Target) -> JobView:
    ref = job_ref(target)
    _store, state = load_job(ref)
    return JobView(
        job_id=ref.job_id, folder=str(ref.folder), events_path=str(ref.events_path), phase=state.phase,
        status=state.status, counts=counts(state), setup_steps_done=len(state.setup_steps),
        reduce_steps_done=len(state.reduce_steps), resumes=state.resumes, error=state.error,
        warnings=tuple(state.warnings), agents=job_spend(state),
    )


def _standard_view(session_id: str, problems: list[str]) -> StandardView | None:
    try:
        checkpoint = checkpoints.load(session_id)
    except (StateError, TypeError) as exc:
        problems.append(f"the checkpoint {checkpoints.path_for(session_id)} is unreadable: "
                        f"{str(exc).splitlines()[0]}")
        return None
    if checkpoint is None:
        return None
    first = checkpoint.first_incomplete()
    return StandardView(
        checkpoint_path=str(checkpoints.path_for(session_id)), total_steps=checkpoint.total_steps,
        steps_done=len(checkpoint.completed), next_step=None if first >= checkpoint.total_steps else first + 1,
        in_flight=checkpoint.in_flight, failure=checkpoint.failure, agents=_standard_agents(checkpoint),
    )


def _standard_agents(checkpoint: Any) -> dict[str, Any] | None:
    spend = getattr(checkpoint, "spend", None)
    if not spend:
        return None
    steps = {str(int(i) + 1): readable(done.get("ag")) for i, done in sorted(checkpoint.completed.items(),
                                                                           key=lambda kv: int(kv[0]))
             if done.get("ag")}
    return {"total": readable(spend), "steps": steps}


def next_command(record: SessionRecord, *, live: bool, dlq: int) -> str | None:
    if live:
        return f"prodigy events follow {record.job_id}" if record.job_id else None
    if record.resumable:
        return f"prodigy resume {record.id}"
    if dlq and record.job_id:
        from prodigy.resume.plan import retry_command

        return retry_command(record.job_id)
    return None


# ---------------------------------------------------------------- clean


@dataclass(frozen=True)
class CleanCandidate:
    id: str
    kind: str
    status: str
    workflow: str
    age_seconds: float
    paths: tuple[str, ...]  # what exists on disk and would be removed


@dataclass(frozen=True)
class CleanPlan:
    older_than: float
    statuses: tuple[str, ...]
    candidates: tuple[CleanCandidate, ...]
    kept: dict[str, int]  # reason -> how many sessions were kept for it


@dataclass(frozen=True)
class CleanResult:
    removed: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]  # (session id, why it was kept after all)


def plan_clean(older_than: float, statuses: tuple[str, ...] = (), now: float | None = None) -> CleanPlan:
    """Which sessions `sessions clean` would remove. Running or resumable sessions only when their status is
    asked for explicitly; never one whose execution lock is held."""
    wanted = tuple(statuses) or DEFAULT_CLEAN_STATUSES
    now = time.time() if now is None else now
    from prodigy.legacy.discover import original_session_ids

    records, _warnings = sessions.load_all(skip=set(original_session_ids()))  # not the original (Rust) prodigy's
    candidates: list[CleanCandidate] = []
    kept: dict[str, int] = {}
    for record in records:
        age = age_seconds(record.updated_at, now) or 0.0
        reason = _keep_reason(record, wanted, age, older_than)
        if reason is None and locks.is_locked(record.id):
            reason = "in progress (its lock is held)"
        if reason is not None:
            kept[reason] = kept.get(reason, 0) + 1
            continue
        candidates.append(CleanCandidate(id=record.id, kind=record.kind, status=record.status,
                                         workflow=record.workflow_name, age_seconds=age,
                                         paths=tuple(str(p) for p in session_paths(record) if p.exists())))
    return CleanPlan(older_than=older_than, statuses=wanted, candidates=tuple(candidates), kept=kept)


def _keep_reason(record: SessionRecord, wanted: tuple[str, ...], age: float, older_than: float) -> str | None:
    if record.status not in wanted:
        if record.status in RESUMABLE:
            return f"{record.status} (resumable; choose it with --status {record.status})"
        return f"{record.status} (not selected by --status)"
    if age < older_than:
        return "newer than --older-than"
    return None


def session_paths(record: SessionRecord) -> list[Path]:
    """Everything under PRODIGY_HOME that belongs to one session (the record and its lock file last)."""
    found = [paths.session_state_dir(record.id), paths.session_mapping_file(record.id)]
    if record.job_id:
        found.append(paths.job_mapping_file(record.job_id))
        repo = record.repo or ""
        try:
            folder = find_job_folder(record.job_id, record.repo)
            found.append(folder)
            repo = folder.parents[2].name
        except NotFoundError:
            pass
        if repo:
            found.append(paths.events_file(repo, record.job_id).parent)
    found += generated.files_of(record.workflow_path)  # the workflow `exec`/`batch` wrote for it
    found.append(paths.claude_session_logs_dir(record.id))
    found += [paths.lock_info_file(record.id), paths.session_file(record.id), paths.lock_file(record.id)]
    return found


def apply_clean(plan: CleanPlan) -> CleanResult:
    """Remove the planned sessions, each under its execution lock, re-checking its status under the lock."""
    removed: list[str] = []
    skipped: list[tuple[str, str]] = []
    for candidate in plan.candidates:
        try:
            with locks.ExecutionLock(candidate.id, purpose="sessions clean"):
                try:
                    record = sessions.load(candidate.id)
                except NotFoundError:
                    skipped.append((candidate.id, "already removed"))
                    continue
                if record.status != candidate.status:
                    skipped.append((candidate.id, f"its status changed to {record.status}"))
                    continue
                lock_path = paths.lock_file(record.id)
                cleanup.remove_paths(p for p in session_paths(record) if p != lock_path)
        except LockHeldError:
            skipped.append((candidate.id, "in progress (its lock is held)"))
            continue
        cleanup.remove_paths([paths.lock_file(candidate.id)])
        removed.append(candidate.id)
    return CleanResult(removed=tuple(removed), skipped=tuple(skipped))

