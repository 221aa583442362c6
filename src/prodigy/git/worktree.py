"""The session worktree: where a session's steps run, plain git (never an AI).

    worktrees/{repo}/{session_id}                branch prodigy-{session_id}, from the user's HEAD
    worktrees/{repo}/{session_id}.agents/item_i  branch prodigy-{session_id}-item_i, from the session HEAD
                                                 (agents.py)"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.git.command import GIT_LOCK, GitError, git
from prodigy.git.repo import (
    add_worktree,
    branch_exists,
    branches,
    current_branch,
    delete_branch,
    git_dir,
    head_of,
    merge_in_progress,
    remove_worktree,
    toplevel,
)
from prodigy.state import storage

IDLE_WAIT = 5.0  # seconds to wait for a git command of a killed run to finish before resuming
MERGE_SUBJECT = "prodigy: merge item_{index} of {job_id}"


@dataclass(frozen=True)
class SessionWorktree:
    session_id: str
    repo_root: Path  # the user's checkout
    path: Path
    branch: str
    original_branch: str | None  # None when HEAD was detached
    original_head: str
    subdir: str  # the run directory relative to the repo root ("" at the root)

    @property
    def run_dir(self) -> Path:
        return self.path / self.subdir if self.subdir else self.path

    @property
    def target(self) -> str:
        return self.original_branch or self.original_head

    @property
    def agents_dir(self) -> Path:
        return paths.agent_worktrees_dir(self.path)

    def to_json(self) -> dict[str, Any]:
        return {"repo_root": str(self.repo_root), "path": str(self.path), "branch": self.branch,
                "original_branch": self.original_branch, "original_head": self.original_head,
                "subdir": self.subdir}

    @classmethod
    def from_json(cls, session_id: str, data: dict[str, Any]) -> SessionWorktree:
        return cls(session_id=session_id, repo_root=Path(data["repo_root"]), path=Path(data["path"]),
                   branch=data["branch"], original_branch=data.get("original_branch"),
                   original_head=data["original_head"], subdir=data.get("subdir", ""))

    def merge_command(self) -> str:
        return f"git -C {shlex.quote(str(self.repo_root))} merge {self.branch}"

    def discard_commands(self) -> list[str]:
        repo = shlex.quote(str(self.repo_root))
        return [f"git -C {repo} worktree remove --force {shlex.quote(str(self.path))}",
                f"git -C {repo} branch -D {self.branch}"]


def plan_session_worktree(run_dir: Path, session_id: str) -> tuple[SessionWorktree | None, str | None]:
    """The worktree a session in run_dir gets, or why it gets none."""
    try:
        root = toplevel(run_dir)
    except GitError:
        return None, "git is not installed"
    if root is None:
        return None, "not inside a git repository"
    head = head_of(root)
    if head is None:
        return None, "the git repository has no commits yet"
    try:
        subdir = run_dir.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        subdir = "."
    wt = SessionWorktree(session_id=session_id, repo_root=root,
                         path=paths.session_worktree_dir(paths.repo_name(root), session_id),
                         branch=f"prodigy-{session_id}", original_branch=current_branch(root), original_head=head,
                         subdir="" if subdir == "." else subdir)
    return wt, None


def create_session_worktree(wt: SessionWorktree) -> None:
    storage.private_dir(wt.path.parent)  # worktrees/ is 0700 like all of PRODIGY_HOME: it holds command output
    with GIT_LOCK:
        result = add_worktree(wt.repo_root, wt.path, wt.branch, wt.original_head)
    if not result.ok:
        raise GitError(f"Could not create the session worktree {wt.path} (branch {wt.branch}): {result.message}",
                       hint="Run with --no-worktree to run in the checkout itself.")
    wt.run_dir.mkdir(parents=True, exist_ok=True)


def reopen_session_worktree(wt: SessionWorktree) -> list[str]:
    """Check the worktree a resume continues in; finish what a killed run left half done. Returns notes."""
    if not wt.path.is_dir() or toplevel(wt.path) != wt.path.resolve():
        raise GitError(f"The worktree of session {wt.session_id} is gone: {wt.path} (branch {wt.branch}).",
                       hint=_gone_hint(wt))
    on = current_branch(wt.path)
    if on != wt.branch:
        raise GitError(f"The session worktree {wt.path} is on {on or 'a detached HEAD'}, not on {wt.branch}.",
                       hint=f"Switch it back with: git -C {shlex.quote(str(wt.path))} checkout {wt.branch}")
    notes = _wait_until_idle(wt.path)
    if merge_in_progress(wt.path):
        git(["merge", "--abort"], wt.path)
        notes.append(f"aborted a merge the interrupted run left half done in {wt.path}")
    wt.run_dir.mkdir(parents=True, exist_ok=True)
    return notes


def _gone_hint(wt: SessionWorktree) -> str:
    repo = shlex.quote(str(wt.repo_root))
    if wt.repo_root.is_dir() and branch_exists(wt.repo_root, wt.branch):
        return (f"The branch still exists; recreate the worktree and resume again:\n"
                f"  git -C {repo} worktree prune && git -C {repo} worktree add {shlex.quote(str(wt.path))} "
                f"{wt.branch}")
    return "The branch is gone too, so the session's work cannot be recovered; start a new run with prodigy run."


def _wait_until_idle(path: Path) -> list[str]:
    """A git command of a killed run may still be finishing (it runs in its own session): wait for its lock."""
    found = git_dir(path)
    if found is None:
        return []
    lock = found / "index.lock"
    deadline = time.monotonic() + IDLE_WAIT
    while lock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if lock.exists():
        lock.unlink(missing_ok=True)
        return [f"removed a stale git lock {lock} left by the interrupted run"]
    return []


def remove_session_worktree(wt: SessionWorktree, *, force_branch: bool) -> list[str]:
    """Remove the session worktree, its agents' leftovers and its branch. Returns problems (never raises)."""
    problems: list[str] = []
    with GIT_LOCK:
        for child in sorted(wt.agents_dir.glob("item_*")) if wt.agents_dir.is_dir() else []:
            problems += [p for p in [remove_worktree(wt.repo_root, child)] if p]
        if wt.agents_dir.is_dir() and not any(wt.agents_dir.iterdir()):
            wt.agents_dir.rmdir()
        problems += [p for p in [remove_worktree(wt.repo_root, wt.path)] if p]
        for branch in branches(wt.repo_root, f"{wt.branch}-item_*"):
            problems += [p for p in [delete_branch(wt.repo_root, branch)] if p]
        problems += [p for p in [delete_branch(wt.repo_root, wt.branch, force=force_branch)] if p]
    return problems


def merged_items(wt: SessionWorktree, job_id: str) -> dict[int, list[str]]:
    """Item index -> the merge commits on the session branch that name it (normally one)."""
    result = git(["log", "--format=%H %s", "--fixed-strings", f"--grep=of {job_id}", wt.branch], wt.path)
    pattern = re.compile(rf"^([0-9a-f]+) prodigy: merge item_(\d+) of {re.escape(job_id)}$")
    found: dict[int, list[str]] = {}
    for line in result.out.splitlines() if result.ok else []:
        match = pattern.match(line.strip())
        if match:
            found.setdefault(int(match.group(2)), []).append(match.group(1))
    return found
