"""Worktree isolation of a session: where its steps run, what a resume reuses, and the merge at the end.

`start` (run) and `reopen` (resume) return RunOptions whose `worktree` is the session worktree (or None: steps run
in the run directory). `recover_merged` keeps a resume from merging an item twice. `conclude` decides, at the end
of a successful run, whether the session branch is merged into the user's branch, and reports what happened."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prodigy.state import sessions
from prodigy.state.jobs import PENDING, RUNNING
from prodigy.state.sessions import SessionRecord, now_iso

# The git machinery (execution.worktree, mapreduce.workspaces) is imported inside the functions that use it,
# only for a session that has (or is getting) a worktree: a run outside a repository never loads it.
if TYPE_CHECKING:
    from prodigy.execution.reporter import Reporter
    from prodigy.execution.session import RunOptions
    from prodigy.execution.signals import StopRequest
    from prodigy.execution.worktree import SessionWorktree
    from prodigy.state.jobs import JobState, JobStore
    from prodigy.workflow.model import Workflow


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

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- start and resume


def start(record: SessionRecord, options: RunOptions) -> RunOptions:
    """Create the session worktree when the run directory is in a git repository with commits. Called under the
    session lock before the record is first saved, so a failure leaves no session behind."""
    if options.no_worktree:
        record.extra["worktree_disabled"] = "--no-worktree"
        return options
    from prodigy.execution.worktree import create_session_worktree, plan_session_worktree

    wt, reason = plan_session_worktree(options.run_dir, record.id)
    if wt is None:
        record.extra["worktree_disabled"] = reason
        return options
    create_session_worktree(wt)
    record.extra["worktree"] = wt.to_json()
    return dataclasses.replace(options, worktree=wt)


def announce(record: SessionRecord, options: RunOptions, reporter: Reporter) -> None:
    wt = options.worktree
    if wt is None:
        reporter.emit("worktree_disabled", reason=record.extra.get("worktree_disabled") or "no worktree",
                      run_dir=str(options.run_dir))
        return
    from prodigy.execution.worktree import dirty_paths

    reporter.emit("worktree_created", path=str(wt.path), branch=wt.branch, base=wt.target,
                  run_dir=str(wt.run_dir), dirty=len(dirty_paths(wt.repo_root)))


def reopen(record: SessionRecord, options: RunOptions, reporter: Reporter) -> RunOptions:
    """A resume continues in the session's worktree (an error naming path and branch if it was deleted)."""
    data = record.extra.get("worktree")
    if not data:
        return options
    from prodigy.execution.worktree import SessionWorktree, reopen_session_worktree

    wt = SessionWorktree.from_json(record.id, data)
    for note in reopen_session_worktree(wt):
        reporter.emit("note", text=note)
    reporter.emit("worktree_reused", path=str(wt.path), branch=wt.branch, run_dir=str(wt.run_dir))
    return dataclasses.replace(options, worktree=wt)


def recover_merged(store: JobStore, state: JobState, options: RunOptions, reporter: Reporter) -> list[int]:
    """Items in flight at a crash whose merge commit is already on the session branch are done: record them as
    succeeded so they are neither run nor merged again."""
    wt = options.worktree
    in_flight = sorted(i for i, s in state.items.items()
                       if s.status == RUNNING or (s.status == PENDING and s.interrupted))
    if wt is None or not in_flight:
        return []
    from prodigy.execution.worktree import merged_items

    merged = merged_items(wt, state.job_id)
    recovered = [i for i in in_flight if merged.get(i)]
    for index in recovered:
        store.append({"t": "done", "i": index, "a": max(state.item(index).attempts, 1), "s": "succeeded",
                      "d": 0.0, "merged": merged[index][0], "recovered": "merge commit on the session branch"})
    if recovered:
        names = ", ".join(f"item_{i}" for i in recovered[:10]) + (" ..." if len(recovered) > 10 else "")
        reporter.emit("note", text=f"{len(recovered)} item(s) in flight at the interruption were already merged "
                      f"into {wt.branch} ({names}): recorded as succeeded, not run again.")
    return recovered


def agent_workspaces(options: RunOptions, job_id: str) -> Any:
    if options.worktree is None:
        return None
    from prodigy.execution.mapreduce.workspaces import AgentWorkspaces

    return AgentWorkspaces(options.worktree, job_id)


# ---------------------------------------------------------------- the end of a run


def conclude(summary: Any, workflow: Workflow, record: SessionRecord, options: RunOptions, stop: StopRequest,
             on_line: Any = None) -> Any:
    """Attach the worktree report to a run's summary, merging the session branch back when the run completed
    and the user said yes (-y, or the prompt)."""
    wt = options.worktree
    if wt is None:
        report = WorktreeReport(isolated=False, run_dir=str(options.run_dir),
                                reason=record.extra.get("worktree_disabled") or "no worktree")
        return dataclasses.replace(summary, worktree=report)
    report = _conclude(summary, workflow, record, wt, options, stop, on_line)
    data = record.extra.setdefault("worktree", wt.to_json())
    data["outcome"] = report.outcome
    if report.removed:
        data["removed_at"] = now_iso()
    sessions.save(record)
    return dataclasses.replace(summary, worktree=report)


def _conclude(summary: Any, workflow: Workflow, record: SessionRecord, wt: SessionWorktree,
              options: RunOptions, stop: StopRequest, on_line: Any) -> WorktreeReport:
    from prodigy.execution.worktree import (
        count_commits,
        dirty_paths,
        merge_into_original,
        remove_session_worktree,
    )

    report = WorktreeReport(isolated=True, run_dir=str(wt.run_dir), path=str(wt.path), branch=wt.branch,
                            repo=str(wt.repo_root), target=wt.target, merge_commands=(wt.merge_command(),),
                            discard_commands=tuple(wt.discard_commands()))
    if summary.exit_code != 0:
        if getattr(summary, "status", "") == "completed_with_failures":
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
    if not (options.yes or (options.confirm is not None and options.confirm(question))):
        return dataclasses.replace(report, outcome="not_merged")
    if workflow.merge is not None:
        report = _merge_block(report, workflow, record, wt, options, stop, on_line)
    else:
        back = merge_into_original(wt)
        report = dataclasses.replace(report, outcome=back.status, detail=back.detail, conflicts=back.conflicts)
    if report.outcome in ("merged", "fast_forward") and not uncommitted:
        problems = remove_session_worktree(wt, force_branch=True)
        report = dataclasses.replace(report, removed=not problems, problems=tuple(problems))
    return report


def _merge_block(report: WorktreeReport, workflow: Workflow, record: SessionRecord, wt: SessionWorktree,
                 options: RunOptions, stop: StopRequest, on_line: Any) -> WorktreeReport:
    """The workflow's merge: steps replace the default merge; they run in the session worktree."""
    from prodigy.execution import environment
    from prodigy.execution.runner import run_steps
    from prodigy.execution.session import step_context
    from prodigy.execution.worktree import is_ancestor

    assert workflow.merge is not None
    env = environment.build(workflow, session_id=record.id, run_dir=options.run_dir, profile=options.profile)
    ctx = dataclasses.replace(step_context(workflow, record.id, options, stop, env, on_line), run_dir=wt.path,
                              label="merge")
    if workflow.merge.timeout:
        ctx = dataclasses.replace(ctx, deadline=time.monotonic() + workflow.merge.timeout)
    variables = {**env.variables, "merge.source_branch": wt.branch, "merge.target_branch": wt.target,
                 "merge.worktree": str(wt.path), "merge.session_id": record.id}
    outcome = run_steps(workflow.merge.steps, variables, ctx)
    if not outcome.ok:
        return dataclasses.replace(report, outcome="merge_block_failed",
                                   detail=f"the workflow's merge: steps failed: {env.masker(outcome.error or outcome.status)}")
    if not is_ancestor(wt.repo_root, wt.branch, wt.target):
        return dataclasses.replace(report, outcome="merge_block_unmerged", detail=f"the workflow's merge: steps "
                                   f"finished, but {wt.branch} is not merged into {wt.target}")
    return dataclasses.replace(report, outcome="merged", detail="merged by the workflow's merge: steps")
