"""Map agents in their own git worktrees: the pool's `workspaces` hook (execution/mapreduce/pool.py::Workspaces).

Each item runs in a worktree branched from the session worktree's HEAD when it is dispatched. When it ends, its
commits are merged into the session branch (one merge at a time) *before* its outcome goes back to the
coordinator, so an item counts as succeeded only once its work is merged; a conflict fails the item and leaves
the session branch as it was. The agent worktree and its branch are then removed; a removal that fails is a
warning, never a failure."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from prodigy.execution import outcome as o
from prodigy.git.command import GIT_LOCK, GitError
from prodigy.git.repo import (
    abort_merge,
    add_worktree,
    branches,
    count_commits,
    delete_branch,
    dirty_paths,
    head_of,
    merge,
    prune_worktrees,
    remove_worktree,
)
from prodigy.git.worktree import MERGE_SUBJECT, SessionWorktree

UNCOMMITTED_NAMED = 10  # items named in the "left uncommitted changes" warning


class AgentWorkspaces:
    def __init__(self, session: SessionWorktree, job_id: str) -> None:
        self.session = session
        self.job_id = job_id
        self._bases: dict[int, str] = {}  # item index -> the session HEAD its worktree started from
        self._lock = threading.Lock()
        self._warnings: list[str] = []
        self._uncommitted: list[int] = []

    def path_for(self, index: int) -> Path:
        return self.session.agents_dir / f"item_{index}"

    def branch_for(self, index: int) -> str:
        return f"{self.session.branch}-item_{index}"

    # -- before dispatching
    def sweep(self, keep: frozenset[int] = frozenset()) -> int:
        """Remove every agent worktree and branch an interrupted or killed run left behind, except those of the
        items in `keep` (their interrupted agents may continue in them: resume inside the agent)."""
        repo = self.session.path
        kept = {self.path_for(i) for i in keep} | {self.branch_for(i) for i in keep}
        with GIT_LOCK:
            leftovers = sorted(self.session.agents_dir.glob("item_*")) if self.session.agents_dir.is_dir() else []
            leftovers = [child for child in leftovers if child not in kept]
            for child in leftovers:
                self._warn(remove_worktree(repo, child))
            for branch in branches(repo, f"{self.session.branch}-item_*"):
                if branch not in kept:
                    self._warn(delete_branch(repo, branch))
            prune_worktrees(repo)
        return len(leftovers)

    # -- the hook (called on worker threads)
    def enter(self, task: Any) -> Path:
        index = task.index
        path, branch = self.path_for(index), self.branch_for(index)
        with GIT_LOCK:
            base = head_of(self.session.path)
            if getattr(task, "resume", None) and (path / ".git").exists():
                result = None  # the interrupted agent continues in the tree it was editing
            else:
                if path.exists():  # a leftover of an earlier attempt (kept, or its removal failed)
                    self._warn(remove_worktree(self.session.path, path))
                result = add_worktree(self.session.path, path, branch, base or "HEAD", reset=True)
        if base is None or (result is not None and not result.ok):
            why = result.message if result is not None else "the session worktree has no HEAD"
            raise GitError(f"could not create the worktree of item_{index} at {path}: {why}")
        with self._lock:
            self._bases[index] = base
        run_dir = path / self.session.subdir if self.session.subdir else path
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir

    def leave(self, task: Any, outcome: Any) -> Any:
        index = task.index
        with self._lock:
            base = self._bases.pop(index, None)
        kind = getattr(outcome, "failure_kind", None)
        stopped = outcome.status == o.INTERRUPTED or (kind is not None and kind.run_level)
        if stopped and getattr(outcome, "agent", None) is not None:
            return outcome  # kept: the next attempt may continue its agent here (enter and sweep decide)
        try:
            if outcome.status in o.OK_STATUSES and base is not None:
                outcome = self._merge(index, outcome)
        finally:
            self._discard(index)
        return outcome

    # -- after the map phase
    def drain_warnings(self) -> list[str]:
        with self._lock:
            warnings, self._warnings = self._warnings, []
            uncommitted, self._uncommitted = sorted(self._uncommitted), []
        if uncommitted:
            named = ", ".join(f"item_{i}" for i in uncommitted[:UNCOMMITTED_NAMED])
            more = f" and {len(uncommitted) - UNCOMMITTED_NAMED} more" if len(uncommitted) > UNCOMMITTED_NAMED else ""
            warnings.append(f"{len(uncommitted)} item(s) left uncommitted changes in their worktrees ({named}{more}); "
                            "only commits are merged, so those changes were discarded")
        return warnings

    # -- internals
    def _merge(self, index: int, outcome: Any) -> Any:
        path = self.path_for(index)
        if dirty_paths(path):
            self.note_uncommitted(index)
        tip = head_of(path)
        if tip is None:
            return _failed(outcome, f"item_{index}: its worktree {path} has no HEAD any more; nothing was merged")
        return self.merge_tip(index, tip, outcome)

    # -- also used for items whose commits come back from a remote worker (transfer.py)
    def note_uncommitted(self, index: int) -> None:
        with self._lock:
            self._uncommitted.append(index)

    def merge_tip(self, index: int, tip: str, outcome: Any) -> Any:
        """Merge the item's branch (at `tip`) into the session branch; a conflict or failure fails the item."""
        branch = self.branch_for(index)
        session = self.session.path
        with GIT_LOCK:
            if count_commits(session, "HEAD", tip) == 0:
                return outcome  # no commits (or none the session branch lacks): nothing to merge
            message = MERGE_SUBJECT.format(index=index, job_id=self.job_id)
            result = merge(session, branch, "--no-ff", "-q", "-m", message)
            if result.ok:
                return outcome
            conflicts = abort_merge(session)
        if conflicts:
            return _failed(outcome, f"merge conflict merging item_{index} into {self.session.branch} in "
                           f"{', '.join(conflicts)}; the merge was aborted", result.out + result.err)
        return _failed(outcome, f"merging item_{index} into {self.session.branch} failed: {result.message}",
                       result.out + result.err)

    def discard(self, index: int) -> None:
        self._discard(index)

    def _discard(self, index: int) -> None:
        with GIT_LOCK:
            self._warn(remove_worktree(self.session.path, self.path_for(index)))
            self._warn(delete_branch(self.session.path, self.branch_for(index)))

    def _warn(self, problem: str | None) -> None:
        if problem:
            with self._lock:
                self._warnings.append(problem)


def _failed(outcome: Any, error: str, detail: str = "") -> Any:
    return dataclasses.replace(outcome, status=o.FAILED, exit_code=None, error=error,
                               stderr=(outcome.stderr + "\n" + detail).strip()[-4096:])
