"""What the runners call: a session's worktree from start to end.

`start` (run) and `reopen` (resume) give the session worktree the steps run in (or None: they run in the run
directory). `recover_merged` keeps a resume from merging an item twice; `agent_workspaces` gives the map phase
its per-item worktrees. `conclude` decides, at the end of a run, whether the session branch is merged into the
user's branch, and reports what happened. Runner-side details come in as plain values and callables, so this
package imports nothing from the executors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy.state import sessions
from prodigy.state.sessions import SessionRecord, now_iso

# The git machinery is imported inside the functions that use it, only for a session that has (or is getting) a
# worktree: a run outside a repository never loads it.
if TYPE_CHECKING:
    from prodigy.execution.reporter import Reporter
    from prodigy.git.agents import AgentWorkspaces
    from prodigy.git.refresh import Refresh
    from prodigy.git.worktree import SessionWorktree
    from prodigy.state.jobs import JobState, JobStore

# Runs the workflow's merge: steps in a directory with the merge.* variables; returns None, or why they failed.
MergeSteps = Callable[[Path, dict[str, str]], "str | None"]


@dataclass(frozen=True)
class WorktreeReport:
    """Where the session's steps ran and what became of its branch."""

    isolated: bool
    run_dir: str  # where the steps ran
    reason: str | None = None  # why there was no worktree
    path: str | None = None
    branch: str | None = None
    repo: str | None = None
    target: str | None = None  # the user's branch (or commit, when HEAD was detached)
    # kept | kept_with_dlq | not_merged | merged | fast_forward | nothing_to_merge | uncommitted | refused | conflict | failed
    # | merge_block_failed | merge_block_unmerged
    outcome: str = "none"
    detail: str | None = None
    commits: int = 0
    conflicts: tuple[str, ...] = ()
    uncommitted: tuple[str, ...] = ()
    removed: bool = False
    merge_commands: tuple[str, ...] = ()
    discard_commands: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    refresh: dict[str, Any] | None = None  # a resume: the new commits it brought in (git/refresh.py Refresh)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- start and resume


def start(record: SessionRecord, run_dir: Path, *, disabled: bool = False) -> SessionWorktree | None:
    """Create the session worktree when run_dir is in a git repository with commits, and note it (or why there is
    none) in the record. Called under the session lock before the record is first saved, so a failure leaves no
    session behind."""
    if disabled:
        record.extra["worktree_disabled"] = "--no-worktree"
        return None
    from prodigy.git.worktree import create_session_worktree, plan_session_worktree

    wt, reason = plan_session_worktree(run_dir, record.id)
    if wt is None:
        record.extra["worktree_disabled"] = reason
        return None
    create_session_worktree(wt)
    record.extra["worktree"] = wt.to_json()
    return wt


def announce(record: SessionRecord, worktree: SessionWorktree | None, run_dir: Path, reporter: Reporter) -> None:
    if worktree is None:
        reporter.emit("worktree_disabled", reason=record.extra.get("worktree_disabled") or "no worktree",
                      run_dir=str(run_dir))
        return
    from prodigy.git.repo import dirty_paths

    reporter.emit("worktree_created", path=str(worktree.path), branch=worktree.branch, base=worktree.target,
                  run_dir=str(worktree.run_dir), dirty=len(dirty_paths(worktree.repo_root)))


@dataclass(frozen=True)
class Reopened:
    worktree: SessionWorktree | None  # None: the session ran without one
    refresh: Refresh | None = None  # what the resume brought in from the branch the session started from


def reopen(record: SessionRecord, reporter: Reporter, *, refresh: bool = True) -> Reopened:
    """The worktree a resume continues in (an error naming path and branch if it was deleted), with the new
    commits of the branch the session started from merged in first (unless refresh is False: --no-refresh)."""
    data = record.extra.get("worktree")
    if not data:
        return Reopened(None)
    from prodigy.git.refresh import refresh_session_worktree
    from prodigy.git.worktree import SessionWorktree, reopen_session_worktree

    wt = SessionWorktree.from_json(record.id, data)
    for note in reopen_session_worktree(wt):
        reporter.emit("note", text=note)
    reporter.emit("worktree_reused", path=str(wt.path), branch=wt.branch, run_dir=str(wt.run_dir))
    brought = refresh_session_worktree(wt, enabled=refresh)
    if brought.status in ("brought_in", "kept", "branch_gone"):
        reporter.emit("worktree_refreshed", status=brought.status, branch=brought.branch,
                      commits=list(brought.commits), session_id=record.id)
    if brought.status == "brought_in":
        data["refreshed"] = {"at": now_iso(), "branch": brought.branch, "head": brought.head,
                             "commits": brought.count}
        sessions.save(record)
    return Reopened(wt, brought)


def recover_merged(store: JobStore, state: JobState, worktree: SessionWorktree | None,
                   reporter: Reporter) -> list[int]:
    """Items in flight at a crash whose merge commit is already on the session branch are done: record them as
    succeeded so they are neither run nor merged again."""
    from prodigy.state.jobs import PENDING, RUNNING

    in_flight = sorted(i for i, s in state.items.tracked().items()
                       if s.status == RUNNING or (s.status == PENDING and s.interrupted))
    if worktree is None or not in_flight:
        return []
    from prodigy.git.worktree import merged_items

    merged = merged_items(worktree, state.job_id)
    recovered = [i for i in in_flight if merged.get(i)]
    for index in recovered:
        store.append({"t": "done", "i": index, "a": max(state.item(index).attempts, 1), "s": "succeeded",
                      "d": 0.0, "merged": merged[index][0], "recovered": "merge commit on the session branch"})
    if recovered:
        names = ", ".join(f"item_{i}" for i in recovered[:10]) + (" ..." if len(recovered) > 10 else "")
        reporter.emit("note", text=f"{len(recovered)} item(s) in flight at the interruption were already merged "
                      f"into {worktree.branch} ({names}): recorded as succeeded, not run again.")
    return recovered


def agent_workspaces(worktree: SessionWorktree | None, job_id: str) -> AgentWorkspaces | None:
    """The map phase's per-item worktrees (the pool's `workspaces` hook), with a session worktree."""
    if worktree is None:
        return None
    from prodigy.git.agents import AgentWorkspaces

    return AgentWorkspaces(worktree, job_id)


def missing_explainer(worktree: SessionWorktree | None) -> Callable[..., Any] | None:
    """For StepContext.explain_missing: (cwd, path=, stderr=) -> git.missing.Missing | None."""
    if worktree is None:
        return None
    import functools

    from prodigy.git.missing import explain_missing

    return functools.partial(explain_missing, worktree)


# ---------------------------------------------------------------- the end of a run


def conclude(record: SessionRecord, worktree: SessionWorktree | None, run_dir: Path, *, exit_code: int,
             status: str, yes: bool, confirm: Callable[[str], bool] | None,
             merge_steps: MergeSteps | None, refreshed: Refresh | None = None) -> WorktreeReport:
    """The worktree part of a run's summary: merge the session branch back when the run completed (exit_code 0)
    and the user said yes (-y, or confirm), by the workflow's merge: steps when it has them."""
    if worktree is None:
        return WorktreeReport(isolated=False, run_dir=str(run_dir),
                              reason=record.extra.get("worktree_disabled") or "no worktree")
    report = _conclude(worktree, exit_code=exit_code, status=status, yes=yes, confirm=confirm,
                       merge_steps=merge_steps)
    if refreshed is not None:
        report = dataclasses.replace(report, refresh=refreshed.to_json())
    data = record.extra.setdefault("worktree", worktree.to_json())
    data["outcome"] = report.outcome
    if report.removed:
        data["removed_at"] = now_iso()
    sessions.save(record)
    return report


def _conclude(wt: SessionWorktree, *, exit_code: int, status: str, yes: bool,
              confirm: Callable[[str], bool] | None, merge_steps: MergeSteps | None) -> WorktreeReport:
    from prodigy.git.merge import merge_into_original
    from prodigy.git.repo import count_commits, dirty_paths
    from prodigy.git.worktree import remove_session_worktree

    report = WorktreeReport(isolated=True, run_dir=str(wt.run_dir), path=str(wt.path), branch=wt.branch,
                            repo=str(wt.repo_root), target=wt.target, merge_commands=(wt.merge_command(),),
                            discard_commands=tuple(wt.discard_commands()))
    if exit_code != 0:
        if status == "completed_with_failures":
            return dataclasses.replace(report, outcome="kept_with_dlq", detail="items are in the dead-letter "
                                       "queue; retry them before merging, or merge what succeeded by hand")
        return dataclasses.replace(report, outcome="kept",
                                   detail="the session did not complete; its worktree is kept for the resume")
    commits = count_commits(wt.repo_root, wt.target, wt.branch)
    uncommitted = tuple(dirty_paths(wt.path))
    report = dataclasses.replace(report, commits=commits, uncommitted=uncommitted)
    if commits == 0:
        if uncommitted:
            return dataclasses.replace(report, outcome="uncommitted", detail="no commits to merge, but the session "
                                       "worktree has uncommitted changes (kept; they are not merged)")
        problems = remove_session_worktree(wt, force_branch=False)
        return dataclasses.replace(report, outcome="nothing_to_merge", removed=not problems, problems=tuple(problems),
                                   detail="no commits to merge")
    question = f"Merge {wt.branch} ({commits} commit(s)) into {wt.target} in {wt.repo_root}?"
    if not (yes or (confirm is not None and confirm(question))):
        return dataclasses.replace(report, outcome="not_merged")
    if merge_steps is not None:
        report = _merge_block(report, wt, merge_steps)
    else:
        back = merge_into_original(wt)
        report = dataclasses.replace(report, outcome=back.status, detail=back.detail, conflicts=back.conflicts)
    if report.outcome in ("merged", "fast_forward") and not uncommitted:
        problems = remove_session_worktree(wt, force_branch=True)
        report = dataclasses.replace(report, removed=not problems, problems=tuple(problems))
    return report


def _merge_block(report: WorktreeReport, wt: SessionWorktree, merge_steps: MergeSteps) -> WorktreeReport:
    """The workflow's merge: steps replace the default merge; they run in the session worktree."""
    from prodigy.git.repo import is_ancestor

    variables = {"merge.source_branch": wt.branch, "merge.target_branch": wt.target,
                 "merge.worktree": str(wt.path), "merge.session_id": wt.session_id}
    error = merge_steps(wt.path, variables)
    if error is not None:
        return dataclasses.replace(report, outcome="merge_block_failed",
                                   detail=f"the workflow's merge: steps failed: {error}")
    if not is_ancestor(wt.repo_root, wt.branch, wt.target):
        return dataclasses.replace(report, outcome="merge_block_unmerged", detail=f"the workflow's merge: steps "
                                   f"finished, but {wt.branch} is not merged into {wt.target}")
    return dataclasses.replace(report, outcome="merged", detail="merged by the workflow's merge: steps")
