"""Merging the session branch back into the branch the run started from, in the user's checkout."""

from __future__ import annotations

from dataclasses import dataclass

from prodigy.git.repo import (
    abort_merge,
    changed_paths,
    current_branch,
    dirty_paths,
    head_of,
    merge,
    merge_base,
)
from prodigy.git.worktree import SessionWorktree


@dataclass(frozen=True)
class MergeBack:
    """What merging the session branch into the user's branch did."""

    status: str  # merged | fast_forward | refused | conflict | failed
    detail: str
    conflicts: tuple[str, ...] = ()


def merge_into_original(wt: SessionWorktree) -> MergeBack:
    """The default end-of-run merge, in the user's checkout; never touches a dirty file, never leaves a
    half-done merge behind."""
    repo = wt.repo_root
    if wt.original_branch is None:
        return MergeBack("refused", f"the run started on a detached HEAD ({wt.original_head[:12]}), so there is "
                         "no branch to merge into")
    on = current_branch(repo)
    if on != wt.original_branch:
        return MergeBack("refused", f"your checkout {repo} is on {on or 'a detached HEAD'}, not on "
                         f"{wt.original_branch} where the run started")
    base = merge_base(repo, "HEAD", wt.branch) or wt.original_head
    touched = changed_paths(repo, base, wt.branch)
    overlap = sorted(touched & set(dirty_paths(repo)))
    if overlap:
        return MergeBack("refused", "the merge would change files with uncommitted changes in your checkout: "
                         + ", ".join(overlap[:10]) + (" ..." if len(overlap) > 10 else ""))
    result = merge(repo, wt.branch, "--no-edit", "-m", f"prodigy: merge {wt.branch}")
    if result.ok:
        fast = head_of(repo) == head_of(repo, wt.branch)
        return MergeBack("fast_forward" if fast else "merged", f"{wt.branch} merged into {wt.original_branch}")
    conflicts = abort_merge(repo)
    if conflicts:
        return MergeBack("conflict", f"merging {wt.branch} into {wt.original_branch} conflicts in "
                         + ", ".join(conflicts), tuple(conflicts))
    return MergeBack("failed", f"git merge {wt.branch} failed: {result.message}")
