"""Git worktree isolation with plain git (never an AI): the session worktree, one worktree per map agent, and
the merges that bring their commits back.

    worktrees/{repo}/{session_id}                branch prodigy-{session_id}, from the user's HEAD
    worktrees/{repo}/{session_id}.agents/item_i  branch prodigy-{session_id}-item_i, from the session HEAD

Everything that changes the repository's shared metadata (worktree add/remove, branch deletion, merges into the
session branch) runs under GIT_LOCK, one at a time; git's own lock files guard against other processes."""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import ProdigyError

GIT_LOCK = threading.Lock()
GIT_TIMEOUT = 300.0
IDLE_WAIT = 5.0  # seconds to wait for a git command of a killed run to finish before resuming
FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "prodigy", "GIT_AUTHOR_EMAIL": "prodigy@localhost",
                     "GIT_COMMITTER_NAME": "prodigy", "GIT_COMMITTER_EMAIL": "prodigy@localhost"}


class GitError(ProdigyError):
    """A git command prodigy needed failed; the message carries git's own words."""


@dataclass(frozen=True)
class GitResult:
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def message(self) -> str:
        text = " ".join(line.strip() for line in (self.err.strip() or self.out.strip()).splitlines())
        return text[-600:] or f"git exited with {self.code}"


def git(args: list[str], cwd: Path, *, env: dict[str, str] | None = None,
        timeout: float = GIT_TIMEOUT) -> GitResult:
    """Run git. Output goes to files, not pipes, and git gets its own session: neither a Ctrl-C in the terminal
    nor prodigy's own death (SIGPIPE) can stop it half way through a merge."""
    if not Path(cwd).is_dir():
        return GitResult(128, "", f"{cwd}: no such directory")
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true", "GIT_MERGE_AUTOEDIT": "no",
                **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            code = subprocess.run(["git", *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                  env=full_env, timeout=timeout, start_new_session=True, check=False).returncode
        except FileNotFoundError:
            raise GitError("git is not installed (or not on PATH); worktree isolation needs it.",
                           hint="Install git, or run with --no-worktree.") from None
        except subprocess.TimeoutExpired:
            code = 124
        out.seek(0)
        err.seek(0)
        return GitResult(code, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


# ---------------------------------------------------------------- queries


def _line(result: GitResult) -> str | None:
    return result.out.strip() or None if result.ok else None


def toplevel(path: Path) -> Path | None:
    found = _line(git(["rev-parse", "--show-toplevel"], path))
    return Path(found) if found else None


def head_of(path: Path, ref: str = "HEAD") -> str | None:
    return _line(git(["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], path))


def current_branch(path: Path) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    return _line(git(["symbolic-ref", "--short", "-q", "HEAD"], path))


def branch_exists(repo: Path, branch: str) -> bool:
    return git(["show-ref", "--verify", "-q", f"refs/heads/{branch}"], repo).ok


def branches(repo: Path, pattern: str) -> list[str]:
    result = git(["for-each-ref", "--format=%(refname:short)", f"refs/heads/{pattern}"], repo)
    return result.out.split() if result.ok else []


def count_commits(repo: Path, base: str, tip: str) -> int:
    result = git(["rev-list", "--count", f"{base}..{tip}"], repo)
    return int(result.out.strip()) if result.ok and result.out.strip().isdigit() else 0


def is_ancestor(repo: Path, commit: str, of: str) -> bool:
    return git(["merge-base", "--is-ancestor", commit, of], repo).ok


def _nul_list(result: GitResult) -> list[str]:
    return [p for p in result.out.split("\0") if p] if result.ok else []


def dirty_paths(path: Path) -> list[str]:
    """Modified, staged and untracked files (both names of a rename)."""
    entries = git(["status", "--porcelain", "-z", "--untracked-files=all"], path).out.split("\0")
    found: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        found.append(entry[3:])
        if entry[0] in "RC":  # the next field is the rename's source
            found.append(entries[i])
            i += 1
    return found


def changed_paths(repo: Path, base: str, tip: str) -> set[str]:
    return set(_nul_list(git(["diff", "--name-only", "-z", base, tip], repo)))


def unmerged_paths(path: Path) -> list[str]:
    return sorted(set(_nul_list(git(["diff", "--name-only", "-z", "--diff-filter=U"], path))))


def merge_in_progress(path: Path) -> bool:
    return git(["rev-parse", "-q", "--verify", "MERGE_HEAD"], path).ok


@functools.lru_cache(maxsize=32)
def identity_env(repo: str) -> tuple[tuple[str, str], ...]:
    """Merge commits need a committer: prodigy's own when the user configured none."""
    return () if git(["var", "GIT_COMMITTER_IDENT"], Path(repo)).ok else tuple(FALLBACK_IDENTITY.items())


def merge(path: Path, branch: str, *args: str) -> GitResult:
    return git(["merge", *args, branch], path, env=dict(identity_env(str(path))))


def abort_merge(path: Path) -> list[str]:
    """Abort a merge that stopped with conflicts; returns the conflicting files."""
    conflicts = unmerged_paths(path)
    if merge_in_progress(path):
        git(["merge", "--abort"], path)
    return conflicts


# ---------------------------------------------------------------- removal


def remove_worktree(repo: Path, path: Path) -> str | None:
    """Remove a linked worktree (files and git's record of it). Returns a problem, or None."""
    if path.exists():
        result = git(["worktree", "remove", "--force", "--force", str(path)], repo)
        if not result.ok:
            shutil.rmtree(path, ignore_errors=True)
            if path.exists():
                return f"could not remove the worktree {path}: {result.message}"
    git(["worktree", "prune"], repo)
    return None


def delete_branch(repo: Path, branch: str, *, force: bool = True) -> str | None:
    if not branch_exists(repo, branch):
        return None
    result = git(["branch", "-D" if force else "-d", "-q", branch], repo)
    return None if result.ok else f"could not delete the branch {branch}: {result.message}"


# ---------------------------------------------------------------- the session worktree


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
    wt.path.parent.mkdir(parents=True, exist_ok=True)
    with GIT_LOCK:
        result = git(["worktree", "add", "-q", "-b", wt.branch, str(wt.path), wt.original_head], wt.repo_root)
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
    gitdir = _line(git(["rev-parse", "--absolute-git-dir"], path))
    if gitdir is None:
        return []
    lock = Path(gitdir) / "index.lock"
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


# ---------------------------------------------------------------- merging

MERGE_SUBJECT = "prodigy: merge item_{index} of {job_id}"


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
    base = _line(git(["merge-base", "HEAD", wt.branch], repo)) or wt.original_head
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
