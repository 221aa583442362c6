"""The one place prodigy starts git. Everything else in the package (and in prodigy) calls `git()`.

Output goes to files, not pipes, and git gets its own session: neither a Ctrl-C in the terminal nor prodigy's own
death (SIGPIPE) can stop it half way through a merge. Everything that changes a repository's shared metadata
(worktree add/remove, branch deletion, merges into a session branch) runs under GIT_LOCK, one at a time; git's
own lock files guard against other processes."""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from prodigy.errors import ProdigyError

GIT_LOCK = threading.Lock()
GIT_TIMEOUT = 300.0
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

    @property
    def line(self) -> str | None:
        """The first line of output of a query that succeeded, else None."""
        return self.out.strip() or None if self.ok else None


def git(args: list[str], cwd: Path, *, env: dict[str, str] | None = None,
        timeout: float = GIT_TIMEOUT) -> GitResult:
    """Run git in cwd. A missing git is a GitError; a failing git is a result with its code and words."""
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


@functools.lru_cache(maxsize=32)
def identity_env(repo: str) -> tuple[tuple[str, str], ...]:
    """Merge commits need a committer: prodigy's own when the user configured none."""
    return () if git(["var", "GIT_COMMITTER_IDENT"], Path(repo)).ok else tuple(FALLBACK_IDENTITY.items())
