"""Carrying a session's git state to another clone of the repository (`sessions export/import`, and a resume
whose checkout moved).

    has_commit, is_shallow, root_commits     is this a clone of the same repository, and does it reach a commit?
    snapshot_uncommitted / restore_uncommitted   a worktree's uncommitted changes as a commit, and back
    find_branch                              a session branch in a clone: local, remote-tracking, or fetched
    checkout_branch                          a linked worktree on an existing branch
    set_aside_stale                          an old checkout's worktree folder, moved aside (never deleted)
    set_ref / delete_ref                     the temporary refs a bundle is made from
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prodigy.git.command import GIT_LOCK, GitError, GitResult, git, identity_env
from prodigy.git.repo import branch_exists, dirty_paths, head_of, merge_in_progress, prune_worktrees, toplevel

FETCH_TIMEOUT = 120.0


def has_commit(repo: Path, commit: str) -> bool:
    return git(["cat-file", "-e", f"{commit}^{{commit}}"], repo).ok


def is_shallow(repo: Path) -> bool:
    return git(["rev-parse", "--is-shallow-repository"], repo).line == "true"


def root_commits(repo: Path) -> tuple[str, ...]:
    """The first commits of HEAD's history (a repository's identity, as far as git has one)."""
    result = git(["rev-list", "--max-parents=0", "HEAD"], repo)
    return tuple(sorted(result.out.split())) if result.ok else ()


def set_ref(repo: Path, ref: str, commit: str) -> None:
    result = git(["update-ref", ref, commit], repo)
    if not result.ok:
        raise GitError(f"Could not set {ref} in {repo}: {result.message}")


def delete_ref(repo: Path, ref: str) -> None:
    git(["update-ref", "-d", ref], repo)


# ---------------------------------------------------------------- uncommitted changes


@dataclass(frozen=True)
class Uncommitted:
    commit: str | None  # a commit whose tree is the worktree's files (parent: HEAD); None when clean
    files: int
    skipped: str | None = None  # why nothing was taken although files changed


def snapshot_uncommitted(worktree: Path, message: str) -> Uncommitted:
    """The worktree's changed and untracked files (not ignored ones) as a commit on top of HEAD, made with a
    throwaway index: the worktree, its index and its branch are left exactly as they were."""
    changed = dirty_paths(worktree)
    if not changed:
        return Uncommitted(None, 0)
    if merge_in_progress(worktree):
        return Uncommitted(None, len(changed), skipped="a merge is in progress in the worktree")
    head = head_of(worktree)
    if head is None:
        return Uncommitted(None, len(changed), skipped="the worktree has no HEAD")
    with tempfile.TemporaryDirectory(prefix="prodigy-index-") as folder:
        env = {"GIT_INDEX_FILE": os.path.join(folder, "index"), **dict(identity_env(str(worktree)))}
        for args in (["read-tree", head], ["add", "-A", "--", "."]):
            _check(git(args, worktree, env=env), worktree, "record the uncommitted changes")
        tree = _check(git(["write-tree"], worktree, env=env), worktree, "record the uncommitted changes").line
        commit = _check(git(["commit-tree", str(tree), "-p", head, "-m", message], worktree, env=env), worktree,
                        "record the uncommitted changes").line
    return Uncommitted(commit, len(changed))


def restore_uncommitted(worktree: Path, commit: str) -> int:
    """Make the worktree's files those of `commit` while its branch and index stay at HEAD: the changes come
    back as uncommitted ones (new files untracked, deleted files deleted). Returns the number of files."""
    _check(git(["read-tree", "-m", "-u", "HEAD", commit], worktree), worktree, "restore the uncommitted changes")
    _check(git(["reset", "-q"], worktree), worktree, "restore the uncommitted changes")
    return len(dirty_paths(worktree))


def _check(result: GitResult, where: Path, what: str) -> GitResult:
    if not result.ok:
        raise GitError(f"Could not {what} in {where}: {result.message}")
    return result


# ---------------------------------------------------------------- branches and worktrees


@dataclass(frozen=True)
class FoundBranch:
    commit: str
    source: str  # "local branch", "origin/prodigy-... (remote-tracking)", "fetched from origin"


def find_branch(repo: Path, branch: str, *, fetch: bool = True) -> FoundBranch | None:
    """A branch in this clone: the local branch; else a remote-tracking one (a local branch is created from
    it); else fetched from each remote in turn. None when no remote has it."""
    local = head_of(repo, f"refs/heads/{branch}")
    if local:
        return FoundBranch(local, "local branch")
    result = git(["for-each-ref", "--format=%(refname) %(objectname)", f"refs/remotes/*/{branch}"], repo)
    for line in result.out.splitlines() if result.ok else []:
        ref, _, commit = line.partition(" ")
        if ref.endswith(f"/{branch}"):
            set_ref(repo, f"refs/heads/{branch}", commit)
            return FoundBranch(commit, f"{ref.removeprefix('refs/remotes/')} (remote-tracking)")
    if not fetch:
        return None
    remotes = git(["remote"], repo)
    for remote in remotes.out.split() if remotes.ok else []:
        got = git(["fetch", "--no-tags", "-q", remote, f"refs/heads/{branch}:refs/heads/{branch}"], repo,
                  timeout=FETCH_TIMEOUT)
        commit = head_of(repo, f"refs/heads/{branch}") if got.ok else None
        if commit:
            return FoundBranch(commit, f"fetched from {remote}")
    return None


def worktree_of_branch(repo: Path, branch: str) -> Path | None:
    """Where the branch is checked out in this repository's worktrees, if anywhere."""
    result = git(["worktree", "list", "--porcelain"], repo)
    current: Path | None = None
    for line in result.out.splitlines() if result.ok else []:
        if line.startswith("worktree "):
            current = Path(line[len("worktree "):])
        elif line == f"branch refs/heads/{branch}":
            return current
    return None


def checkout_branch(repo: Path, path: Path, branch: str) -> None:
    """A linked worktree at path on an existing branch (a stale record of a vanished worktree is pruned)."""
    if not branch_exists(repo, branch):
        raise GitError(f"Cannot create the worktree {path}: there is no branch {branch} in {repo}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with GIT_LOCK:
        prune_worktrees(repo)
        result = git(["worktree", "add", "-q", str(path), branch], repo)
    if not result.ok:
        raise GitError(f"Could not create the session worktree {path} on {branch}: {result.message}")


def set_aside_stale(folders: Iterable[Path], within: Path) -> list[Path]:
    """Worktree folders under `within` left from an old checkout (their git link points at a repository that is
    gone) are renamed aside, never deleted: they may hold uncommitted work. Returns where each one went."""
    moved = []
    for folder in dict.fromkeys(folders):
        if folder.is_dir() and toplevel(folder) != folder.resolve() and folder.is_relative_to(within):
            aside = folder.with_name(f"{folder.name}.stale-{time.strftime('%Y%m%d_%H%M%S')}")
            folder.rename(aside)
            moved.append(aside)
    return moved
