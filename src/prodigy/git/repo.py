"""Queries on a repository or worktree, and the small changes the rest of the package is built from."""

from __future__ import annotations

import shutil
from pathlib import Path

from prodigy.git.command import GitError, GitResult, git, identity_env


def toplevel(path: Path) -> Path | None:
    """The root of the checkout (or linked worktree) path is in; None outside a repository."""
    found = git(["rev-parse", "--show-toplevel"], path).line
    return Path(found) if found else None


def head_of(path: Path, ref: str = "HEAD") -> str | None:
    """The commit ref names, or None (no such ref, no commits, not a repository)."""
    return git(["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], path).line


def head(path: Path) -> str | None:
    """The commit HEAD points at; None outside a repository, in one with no commits, or without git."""
    try:
        return head_of(path)
    except GitError:
        return None


def current_branch(path: Path) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    return git(["symbolic-ref", "--short", "-q", "HEAD"], path).line


def branch_exists(repo: Path, branch: str) -> bool:
    return git(["show-ref", "--verify", "-q", f"refs/heads/{branch}"], repo).ok


def branches(repo: Path, pattern: str) -> list[str]:
    result = git(["for-each-ref", "--format=%(refname:short)", f"refs/heads/{pattern}"], repo)
    return result.out.split() if result.ok else []


def count_commits(repo: Path, base: str, tip: str) -> int:
    """Commits on tip that base lacks."""
    result = git(["rev-list", "--count", f"{base}..{tip}"], repo)
    return int(result.out.strip()) if result.ok and result.out.strip().isdigit() else 0


def is_ancestor(repo: Path, commit: str, of: str) -> bool:
    return git(["merge-base", "--is-ancestor", commit, of], repo).ok


def merge_base(repo: Path, a: str, b: str) -> str | None:
    return git(["merge-base", a, b], repo).line


def _nul_list(result: GitResult) -> list[str]:
    return [p for p in result.out.split("\0") if p] if result.ok else []


STATUS_ARGS = ["status", "--porcelain", "-z", "--untracked-files=all"]


def status_entries(out: str) -> list[tuple[str, str, str | None]]:
    """`git status --porcelain -z` output as (XY code, path, the source of a rename or copy, else None)."""
    fields = out.split("\0")
    found: list[tuple[str, str, str | None]] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        source = None
        if entry[0] in "RC":  # the next field is the rename's source
            source = fields[i] if i < len(fields) else None
            i += 1
        found.append((entry[:2], entry[3:], source))
    return found


def dirty_paths(path: Path) -> list[str]:
    """Modified, staged and untracked files (both names of a rename)."""
    found: list[str] = []
    for _code, name, source in status_entries(git(STATUS_ARGS, path).out):
        found += [name] if source is None else [name, source]
    return found


def changed_paths(repo: Path, base: str, tip: str) -> set[str]:
    return set(_nul_list(git(["diff", "--name-only", "-z", base, tip], repo)))


def unmerged_paths(path: Path) -> list[str]:
    return sorted(set(_nul_list(git(["diff", "--name-only", "-z", "--diff-filter=U"], path))))


def merge_in_progress(path: Path) -> bool:
    return git(["rev-parse", "-q", "--verify", "MERGE_HEAD"], path).ok


def git_dir(path: Path) -> Path | None:
    found = git(["rev-parse", "--absolute-git-dir"], path).line
    return Path(found) if found else None


def common_dir(path: Path) -> Path | None:
    """The .git folder shared by a checkout and its linked worktrees."""
    found = git(["rev-parse", "--path-format=absolute", "--git-common-dir"], path).line
    return Path(found) if found else None


# ---------------------------------------------------------------- changes


def merge(path: Path, branch: str, *args: str) -> GitResult:
    return git(["merge", *args, branch], path, env=dict(identity_env(str(path))))


def abort_merge(path: Path) -> list[str]:
    """Abort a merge that stopped with conflicts; returns the conflicting files."""
    conflicts = unmerged_paths(path)
    if merge_in_progress(path):
        git(["merge", "--abort"], path)
    return conflicts


def add_worktree(repo: Path, path: Path, branch: str, start: str, *, reset: bool = False) -> GitResult:
    """A linked worktree at path on a new branch from start (-B: reset the branch if it exists)."""
    return git(["worktree", "add", "-q", "-B" if reset else "-b", branch, str(path), start], repo)


def remove_worktree(repo: Path, path: Path) -> str | None:
    """Remove a linked worktree (files and git's record of it). Returns a problem, or None."""
    if path.exists():
        result = git(["worktree", "remove", "--force", "--force", str(path)], repo)
        if not result.ok:
            shutil.rmtree(path, ignore_errors=True)
            if path.exists():
                return f"could not remove the worktree {path}: {result.message}"
    prune_worktrees(repo)
    return None


def prune_worktrees(repo: Path) -> None:
    git(["worktree", "prune"], repo)


def delete_branch(repo: Path, branch: str, *, force: bool = True) -> str | None:
    if not branch_exists(repo, branch):
        return None
    result = git(["branch", "-D" if force else "-d", "-q", branch], repo)
    return None if result.ok else f"could not delete the branch {branch}: {result.message}"
