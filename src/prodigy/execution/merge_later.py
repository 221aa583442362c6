"""`prodigy worktree merge [NAME] [--all]`: the end-of-run merge of a session's worktree, on demand, by the same
code the end of a run uses (git.conclude, with the workflow's `merge:` steps when it has them), under the
session's execution lock. A session that did not complete is merged only with force: its work is unfinished."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy import git
from prodigy.errors import NotFoundError, StateError, UsageError
from prodigy.execution.reporter import Reporter
from prodigy.execution.signals import StopRequest
from prodigy.state import locks, sessions
from prodigy.state.locks import ExecutionLock
from prodigy.state.sessions import SessionRecord


@dataclass(frozen=True)
class Candidate:
    session_id: str
    status: str
    branch: str
    commits: int | None
    reason: str | None  # why it is not merged (None: it will be)


@dataclass(frozen=True)
class MergeOutcome:
    session_id: str
    report: Any  # git.WorktreeReport, or None when skipped
    skipped: str | None = None


def _worktree(record: SessionRecord) -> Any:
    from prodigy.git.worktree import SessionWorktree

    data = record.extra.get("worktree")
    if not data or data.get("removed_at"):
        return None
    return SessionWorktree.from_json(record.id, data)


def _commits(wt: Any) -> int | None:
    from prodigy.git.repo import branch_exists, count_commits

    if not wt.repo_root.is_dir() or not branch_exists(wt.repo_root, wt.branch):
        return None
    return count_commits(wt.repo_root, wt.target, wt.branch)


def _reason(record: SessionRecord, wt: Any, commits: int | None, force: bool, *, held: bool = False) -> str | None:
    if wt is None:
        return "it has no worktree any more (merged and removed, or it never had one)"
    if not held and locks.is_locked(record.id):
        return "it is running (a prodigy process holds its lock)"
    if not wt.path.is_dir():
        return f"its worktree {wt.path} is gone"
    if commits is None:
        return f"its branch {wt.branch} is gone from {wt.repo_root}"
    if record.status != "completed" and not force:
        return (f"it is {record.status}: its work is unfinished; resume it (prodigy resume {record.id}), or pass "
                "--force to merge what it has")
    return None


def find(name: str | None, *, all_: bool, force: bool) -> list[Candidate]:
    """NAME (a session id or prefix, a job id, or a prodigy-session-... branch) or every session with a worktree."""
    if name:
        from prodigy.resume.resolve import resolve

        records = [resolve(name.removeprefix("prodigy-")).session]
    elif all_:
        records = [r for r in sessions.load_all()[0] if _worktree(r) is not None]
    else:
        raise UsageError("Say which worktree to merge: a session id (or prefix), or --all.",
                         hint="See them with: prodigy worktree ls")
    found = []
    for record in records:
        wt = _worktree(record)
        commits = _commits(wt) if wt is not None else None
        reason = _reason(record, wt, commits, force)
        if reason is None and commits == 0 and all_:
            reason = "nothing to merge (no commits)"
        found.append(Candidate(record.id, record.status, wt.branch if wt else "-", commits, reason))
    return found


def merge(session_id: str, options: Any, stop: StopRequest, reporter: Reporter, *, force: bool,
          on_line: Any = None) -> MergeOutcome:
    """Merge one session's branch back as the end of a completed run does (and remove its worktree after)."""
    import dataclasses

    from prodigy.execution.session import _merge_steps, recorded_inputs

    with ExecutionLock(session_id, purpose="worktree merge"):
        record = sessions.load(session_id)  # re-read under the lock
        wt = _worktree(record)
        reason = _reason(record, wt, _commits(wt) if wt is not None else None, force, held=True)
        if reason is not None:
            return MergeOutcome(session_id, None, reason)
        steps = None
        workflow = _workflow(record, reporter)
        if workflow is not None and workflow.merge is not None:
            options = dataclasses.replace(options, run_dir=Path(record.run_dir), inputs=recorded_inputs(record),
                                          profile=record.extra.get("profile"), worktree=wt)
            steps = _merge_steps(workflow, record, options, stop, on_line)
        report = git.conclude(record, wt, Path(record.run_dir), exit_code=0, status="completed", yes=True,
                              confirm=None, merge_steps=steps)
    return MergeOutcome(session_id, report)


def _workflow(record: SessionRecord, reporter: Reporter) -> Any:
    """The session's workflow, for its merge: steps; without it (file gone) the default merge is used."""
    from prodigy.resume.standard import load_recorded_workflow

    try:
        return load_recorded_workflow(record, None, reporter, announce_change=False)
    except (UsageError, StateError, NotFoundError) as exc:
        reporter.emit("note", text=f"{record.id}: {exc.message.splitlines()[0]}; using the default merge "
                                   "(git merge), not the workflow's merge: steps")
        return None
