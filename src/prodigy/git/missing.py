"""Why a path a step needs is missing from its worktree while the place that worktree comes from has it.

A session worktree is a checkout of the user's last commit, and a map item's worktree is a checkout of the
session branch's last commit: files that are untracked, ignored or only staged do not come along. When a step
or the map input cannot find a path, this says so in words a newcomer understands, instead of "not found"."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from prodigy.git.command import GitError, git
from prodigy.git.worktree import SessionWorktree

# Paths named by the usual "not found" messages of sh, dash, bash, cat, python, jq, node ...
_MISSING = (
    re.compile(r"(?:^|[\s'\"`(])([^\s'\"`:()]+)['\"`]?: (?:No such file or directory|Directory nonexistent)"),
    re.compile(r"(?:can't|cannot|could not|Could not|unable to) (?:open|create|read|stat|access) "
               r"(?:file )?['\"`]?([^\s'\"`:]+)"),
    re.compile(r"No such file or directory: ['\"]([^'\"]+)['\"]"),
    re.compile(r"does not exist: ([^\s'\"`]+)"),  # prodigy's own: working_dir does not exist: PATH
)
NAMED_AT_MOST = 5  # paths of one stderr checked


@dataclass(frozen=True)
class Missing:
    name: str  # as the user knows it (relative to the run directory, or to the repository)
    reason: str  # what happened
    advice: str  # what to do

    @property
    def text(self) -> str:
        return f"{self.reason}. {self.advice}"


def explain_missing(wt: SessionWorktree, cwd: Path, *, path: str | Path | None = None,
                    stderr: str = "") -> Missing | None:
    """The first of `path` (or the paths a failed command's stderr names), relative to cwd, that is missing in
    its worktree but present where that worktree came from; None when there is no such path."""
    names = [str(path)] if path is not None else _named_in(stderr)
    for name in names:
        try:
            found = _explain(wt, _absolute(cwd, name))
        except (GitError, OSError, ValueError):
            found = None
        if found is not None:
            return found
    return None


def _named_in(stderr: str) -> list[str]:
    names: list[str] = []
    for line in stderr.splitlines()[-40:]:
        for pattern in _MISSING:
            for match in pattern.finditer(line):
                name = match.group(1).rstrip(".,;")
                if name and name not in names and not name.startswith("-"):
                    names.append(name)
    return names[:NAMED_AT_MOST]


def _absolute(cwd: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else cwd / path))


def _explain(wt: SessionWorktree, path: Path) -> Missing | None:
    agents = Path(os.path.normpath(wt.agents_dir))
    session = Path(os.path.normpath(wt.path))
    if agents in path.parents:
        item = path.relative_to(agents).parts[0]
        base, source, source_name = agents / item, session, "session"
    elif session in path.parents or path == session:
        base, source, source_name = session, wt.repo_root, "checkout"
    else:
        return None
    rel = path.relative_to(base)
    # The deepest missing part whose counterpart exists: for out/x.txt in a missing out/, that is out/.
    for candidate in [rel, *rel.parents]:
        if candidate == Path(".") or (base / candidate).exists():
            break
        if (source / candidate).exists():
            return _describe(wt, source, source_name, candidate)
    if source_name == "session":  # not in the session worktree either: perhaps only in the checkout
        return _explain(wt, session / rel)
    return None


def _describe(wt: SessionWorktree, source: Path, source_name: str, rel: Path) -> Missing:
    name = _display(wt, rel)
    state = _state(source, rel)
    if source_name == "session":
        where = "the session worktree"
        why = "each map item runs in its own git worktree of the session branch's last commit"
        if state == "ignored":
            return Missing(name, f"{name} exists in {where} but git ignores it, so it is not committed; {why}",
                           "Write it outside the repository, commit it in setup with git add -f, or run with "
                           "--no-worktree")
        return Missing(name, f"{name} exists in {where} but is not committed; {why}",
                       "Commit it in a setup step (git add -A && git commit -m setup), or run with --no-worktree")
    if state == "ignored":
        return Missing(name, f"{name} exists in your checkout but git ignores it, so the run's git worktree of "
                       "the last commit does not have it",
                       "Create it in a setup step, commit it with git add -f, or run with --no-worktree")
    if state == "committed":
        return Missing(name, f"{name} was committed in your checkout after this session's worktree was made",
                       f"Resume without --no-refresh to bring the new commits in: prodigy resume {wt.session_id}")
    staged = " is staged but" if state == "staged" else ""
    return Missing(name, f"{name} exists in your checkout but{staged or ' is'} not committed; the run uses a git "
                   "worktree of the last commit", "Commit it, or run with --no-worktree")


def _display(wt: SessionWorktree, rel: Path) -> str:
    if wt.subdir and rel.is_relative_to(wt.subdir):
        rel = rel.relative_to(wt.subdir)
    return shlex.quote(rel.as_posix())


def _state(repo: Path, rel: Path) -> str:
    """ignored | untracked | staged (in the index, not in HEAD) | committed (in HEAD)."""
    name = rel.as_posix()
    if git(["check-ignore", "-q", "--", name], repo).ok:
        return "ignored"
    if not git(["ls-files", "--error-unmatch", "--", name], repo).ok:
        return "untracked"
    in_head = git(["ls-tree", "--name-only", "HEAD", "--", name], repo)
    return "committed" if in_head.ok and in_head.out.strip() else "staged"


# ---------------------------------------------------------------- validate


def uncommitted(run_dir: Path, names: list[str]) -> list[tuple[str, str]]:
    """Of the paths a workflow names (relative to run_dir), those that exist but would not be in a worktree of
    the last commit: (name, ignored | untracked | staged). Empty outside a repository with commits."""
    from prodigy.git.repo import head, toplevel

    try:
        root = toplevel(run_dir)
    except GitError:
        return []
    if root is None or head(root) is None:
        return []
    root, base = root.resolve(), run_dir.resolve()
    found: list[tuple[str, str]] = []
    for name in dict.fromkeys(names):
        path = _absolute(base, name)
        if not path.is_relative_to(root) or path == root or not path.exists() or ".git" in path.parts:
            continue  # outside the repository a worktree changes nothing
        state = _state(root, path.relative_to(root))
        if state != "committed":
            found.append((name, state))
    return found
