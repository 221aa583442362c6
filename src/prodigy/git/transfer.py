"""Map items on workers that share no filesystem with the coordinator (`--repo-transfer git`).

On the coordinator, `RepoShipper` packs the session branch as git bundles (bundle.py): once, the whole history at
the commit the map phase started from (`base`); for each dispatch, the commits the session branch gained since
(`head`: the merges of finished items), so every item starts where a local agent worktree would. When an item
comes back, its new commits arrive as a bundle; they are fetched into the item's branch and merged into the
session branch exactly as a local agent worktree's are (agents.py), then the branch is deleted.

On a worker, `checkout` keeps one bare repository per coordinator repository in its cache (the objects of every
commit it was sent, so a commit is sent to a worker once), adds a linked worktree for the attempt on the item's
branch, and `give_back` bundles the commits the item made; `discard` removes the worktree. A file lock keeps the
worker processes of one host from changing the cache repository at the same time.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from prodigy.execution import outcome as o
from prodigy.git import bundle
from prodigy.git.agents import AgentWorkspaces, _failed
from prodigy.git.command import GIT_LOCK, GitError, git
from prodigy.git.repo import count_commits, delete_branch, dirty_paths, head_of, remove_worktree

DELTAS_KEPT = 8


# ---------------------------------------------------------------- on the coordinator


class RepoShipper:
    def __init__(self, workspaces: AgentWorkspaces) -> None:
        self.workspaces = workspaces
        self.session = workspaces.session
        self.ref = f"refs/heads/{self.session.branch}"
        self.repo_key = hashlib.sha256(f"{socket.gethostname()}:{self.session.repo_root}".encode()).hexdigest()[:16]
        self._scratch = Path(tempfile.mkdtemp(prefix="prodigy-transfer-"))
        self._lock = threading.Lock()
        self._base: tuple[str, bytes] | None = None
        self._deltas: dict[str, bytes] = {}
        self.identity = identity(self.session.path)

    def base(self) -> tuple[str, bytes]:
        """The session branch's commit when the map phase began, with its whole history, as bundle bytes."""
        with self._lock:
            if self._base is None:
                path = self._scratch / "base.bundle"
                with GIT_LOCK:
                    made = bundle.create(self.session.path, path, [self.ref])
                if made is None or self.ref not in made.heads:
                    raise GitError(f"Could not pack {self.session.branch} of {self.session.path} for the workers.")
                self._base = (made.heads[self.ref], path.read_bytes())
                path.unlink(missing_ok=True)
            return self._base

    def head(self) -> tuple[str, bytes | None]:
        """Where an item dispatched now starts (the session branch's tip) and the commits since the base."""
        base, _ = self.base()
        with GIT_LOCK:
            tip = head_of(self.session.path, self.ref)
            if tip is None:
                raise GitError(f"The session branch {self.session.branch} is gone from {self.session.path}.")
            if tip == base:
                return base, None
            with self._lock:
                cached = self._deltas.get(tip)
            if cached is not None:
                return tip, cached
            path = self._scratch / f"delta-{tip}.bundle"
            made = bundle.create(self.session.path, path, [self.ref], exclude=(base,))
        if made is None:
            return base, None
        data = path.read_bytes()
        path.unlink(missing_ok=True)
        with self._lock:
            while len(self._deltas) >= DELTAS_KEPT:
                self._deltas.pop(next(iter(self._deltas)))
            self._deltas[tip] = data
        return tip, data

    def take(self, index: int, outcome: Any, returned: Any) -> Any:
        """The item's commits (a protocol.Returned) into its branch, merged into the session branch. The outcome
        the coordinator records: a merge that fails fails the item, as with local agent worktrees."""
        workspaces = self.workspaces
        if returned is None:
            return outcome
        if returned.uncommitted:
            workspaces.note_uncommitted(index)
        if outcome.status not in o.OK_STATUSES or returned.bundle is None or returned.tip is None:
            return outcome
        path = self._scratch / f"item_{index}-{uuid.uuid4().hex[:8]}.bundle"
        try:
            path.write_bytes(returned.bundle)
            check = bundle.verify(self.session.path, path)
            if not check.ok:
                return _failed(outcome, f"item_{index}'s commits came back in a git bundle this repository cannot "
                               f"take: {check.message}")
            with GIT_LOCK:
                bundle.fetch(self.session.path, path, {returned.ref: f"refs/heads/{workspaces.branch_for(index)}"},
                             force=True)
            return workspaces.merge_tip(index, returned.tip, outcome)
        except (GitError, OSError) as exc:
            return _failed(outcome, f"item_{index}'s commits could not be taken in: {exc}")
        finally:
            path.unlink(missing_ok=True)
            workspaces.discard(index)

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)


def identity(repo: Path) -> tuple[tuple[str, str], ...]:
    """The author and committer git would use here, as GIT_* variables, so items commit as they would locally."""
    found: list[tuple[str, str]] = []
    for who in ("AUTHOR", "COMMITTER"):
        line = git(["var", f"GIT_{who}_IDENT"], repo).line
        if not line or "<" not in line:
            continue
        name, _, rest = line.partition("<")
        found += [(f"GIT_{who}_NAME", name.strip()), (f"GIT_{who}_EMAIL", rest.partition(">")[0].strip())]
    return tuple(found)


# ---------------------------------------------------------------- on a worker


@dataclass(frozen=True)
class Checkout:
    repo: Path  # the worker's cache repository
    path: Path  # the attempt's worktree
    run_dir: Path
    start: str  # the commit it started from
    branch: str


def checkout(cache: Path, repo_key: str, *, base: str, base_bundle: Callable[[], bytes], head: str,
             delta: bytes | None, name: str, branch: str, subdir: str) -> Checkout:
    """The attempt's own worktree at `head`, on `branch`, under `cache`; the base bundle is fetched only when
    the cache repository lacks the commits."""
    repos = cache / "repos"
    repos.mkdir(parents=True, exist_ok=True)
    repo = repos / f"{repo_key}.git"
    path = cache / "items" / name
    with FileLock(str(repos / f"{repo_key}.lock")):
        if not (repo / "HEAD").is_file():
            _ok(git(["init", "--bare", "-q", str(repo)], repos), f"create the cache repository {repo}")
        if not _has(repo, head):
            if not _has(repo, base):
                _take_in(repo, base_bundle(), base)
            if delta is not None:
                _take_in(repo, delta, head)
            if not _has(repo, head):
                raise GitError(f"The commit {head[:12]} did not arrive in the worker's cache repository {repo}.")
        if path.exists():
            remove_worktree(repo, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _ok(git(["worktree", "add", "-q", "-B", branch, str(path), head], repo),
            f"make the item's worktree {path}")
    run_dir = path / subdir if subdir else path
    run_dir.mkdir(parents=True, exist_ok=True)
    return Checkout(repo=repo, path=path, run_dir=run_dir, start=head, branch=branch)


def give_back(co: Checkout, cap: int) -> tuple[bytes | None, str | None, str | None, tuple[str, ...]]:
    """(bundle of the commits the item made, the ref in it, the tip, files it left uncommitted)."""
    tip = head_of(co.path)
    uncommitted = tuple(dirty_paths(co.path))
    if tip is None or tip == co.start or count_commits(co.path, co.start, tip) == 0:
        return None, None, tip, uncommitted
    out = co.path.parent / f"{co.path.name}.out.bundle"
    try:
        made = bundle.create(co.path, out, ["HEAD"], exclude=(co.start,))
        if made is None:
            return None, None, tip, uncommitted
        if made.size > cap:
            raise GitError(f"The item's commits make a git bundle of {made.size} bytes, more than the {cap} bytes a "
                           "worker sends back.")
        return out.read_bytes(), "HEAD", tip, uncommitted
    finally:
        out.unlink(missing_ok=True)


def discard(co: Checkout, repo_key: str) -> None:
    with FileLock(str(co.repo.parent / f"{repo_key}.lock")):
        remove_worktree(co.repo, co.path)
        delete_branch(co.repo, co.branch)


def _has(repo: Path, commit: str) -> bool:
    return git(["cat-file", "-e", f"{commit}^{{commit}}"], repo).ok


def _take_in(repo: Path, data: bytes, commit: str) -> None:
    path = repo / f"incoming-{uuid.uuid4().hex[:8]}.bundle"
    try:
        path.write_bytes(data)
        heads = bundle.heads(repo, path)
        if not heads:
            raise GitError(f"The bundle for {commit[:12]} holds no refs.")
        bundle.fetch(repo, path, {next(iter(heads)): f"refs/prodigy/{commit}"}, force=True)
    finally:
        path.unlink(missing_ok=True)


def _ok(result: Any, what: str) -> None:
    if not result.ok:
        raise GitError(f"Could not {what}: {result.message}")
