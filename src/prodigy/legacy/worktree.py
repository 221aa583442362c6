"""The original session's git worktree (worktrees/{repo}/{session}, branch prodigy-{session}), described the way
our session records describe theirs, so a resume continues inside it and merges its branch at the end. All git
for the legacy package goes through here (read-only: nothing in the repository is changed)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import UsageError
from prodigy.git import repo as git_ops
from prodigy.legacy.discover import _safe


class LegacyWorktreeError(UsageError):
    """The original session's worktree is missing or not usable."""


def find(session_id: str, worktree_name: str | None = None) -> Path | None:
    """worktrees/*/{name}: the original searched every repo folder for the session's worktree."""
    for name in dict.fromkeys(n for n in (worktree_name, session_id) if n and _safe(n)):
        for candidate in sorted(paths.home().glob(f"worktrees/*/{name}")):
            if candidate.is_dir():
                return candidate
    return None


def missing(session_id: str, repo_hint: Path | None) -> LegacyWorktreeError:
    branch = f"prodigy-{session_id}"
    hint = "The original ran its steps in that worktree; without it the work of the completed steps is gone."
    if repo_hint is not None and git_ops.toplevel(repo_hint) is not None and git_ops.branch_exists(repo_hint, branch):
        target = paths.home() / "worktrees" / paths.repo_name(repo_hint) / session_id
        hint = (f"The branch {branch} still exists; recreate the worktree and resume again:\n"
                f"  git -C {shlex.quote(str(repo_hint))} worktree add {shlex.quote(str(target))} {branch}")
    return LegacyWorktreeError(
        f"Worktree not found for session {session_id}: searched {paths.home() / 'worktrees'}/*/{session_id}.",
        hint=hint)


def describe(path: Path, session_id: str) -> dict[str, Any]:
    """The SessionWorktree fields (git/worktree.py) of the original's worktree at `path`."""
    top = git_ops.toplevel(path)
    if top is None or top.resolve() != path.resolve():
        raise LegacyWorktreeError(f"The original session's worktree {path} is not a git worktree (git rev-parse "
                                  "--show-toplevel does not name it).",
                                  hint="It may have been pruned or copied; recreate it from its branch with "
                                       "`git worktree add`.")
    branch = git_ops.current_branch(path)
    if branch is None:
        raise LegacyWorktreeError(f"The original session's worktree {path} is on a detached HEAD.",
                                  hint=f"Check out its branch: git -C {shlex.quote(str(path))} checkout "
                                       f"prodigy-{session_id}")
    git_dir = git_ops.common_dir(path)
    if git_dir is None:
        raise LegacyWorktreeError(f"Cannot find the repository of the worktree {path}.")
    repo_root = git_dir.parent if git_dir.name == ".git" else git_dir
    original_branch = _recorded_original_branch(path, session_id) or git_ops.current_branch(repo_root)
    if original_branch == branch:
        original_branch = None
    base = None
    if original_branch:
        base = git_ops.merge_base(repo_root, original_branch, branch)
    head = base or git_ops.head_of(repo_root) or git_ops.head_of(path)
    return {"repo_root": str(repo_root), "path": str(path), "branch": branch, "original_branch": original_branch,
            "original_head": head, "subdir": ""}


def _recorded_original_branch(path: Path, session_id: str) -> str | None:
    """worktrees/{repo}/.metadata/{session}.json (the original's WorktreeState) names the branch it started on."""
    meta = path.parent / ".metadata" / f"{session_id}.json"
    try:
        data = json.loads(meta.read_bytes())
    except (OSError, ValueError):
        return None
    value = data.get("original_branch") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None
