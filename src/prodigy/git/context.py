"""Git context for `${step.files_added}`, `${workflow.commits}` ...: what a step changed in its working tree,
committed or not. Two cheap queries per step (HEAD and `git status`) when a workflow uses these variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from prodigy.git.command import GitError, git
from prodigy.git.repo import STATUS_ARGS, status_entries


@dataclass(frozen=True)
class Snapshot:
    head: str | None
    dirty: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # path -> (status, mtime_ns, size)


@dataclass(frozen=True)
class Changes:
    files_added: tuple[str, ...] = ()
    files_modified: tuple[str, ...] = ()
    files_deleted: tuple[str, ...] = ()
    commits: tuple[str, ...] = ()
    insertions: int = 0
    deletions: int = 0


def snapshot(path: Path) -> Snapshot | None:
    """HEAD and the dirty files with their size and mtime; None outside a repository (tracking is off)."""
    try:
        head = git(["rev-parse", "--verify", "-q", "HEAD^{commit}"], path)
        status = git(STATUS_ARGS, path)
    except GitError:
        return None
    if not status.ok:
        return None
    dirty: dict[str, tuple[str, int, int]] = {}
    for code, name, _source in status_entries(status.out):  # a rename: the new name is what changed
        try:
            info = os.stat(path / name)
            dirty[name] = (code, info.st_mtime_ns, info.st_size)
        except OSError:
            dirty[name] = (code, 0, -1)
    return Snapshot(head.line, dirty)


def changes_since(path: Path, before: Snapshot) -> Changes:
    """Files added, modified and deleted since `before` (commits made and edits left in the tree), the commits
    made, and the lines inserted and deleted."""
    after = snapshot(path)
    if after is None:
        return Changes()
    added: set[str] = set()
    modified: set[str] = set()
    deleted: set[str] = set()
    commits: list[str] = []
    if before.head and after.head and before.head != after.head:
        listed = git(["rev-list", f"{before.head}..{after.head}"], path)
        commits = listed.out.split() if listed.ok else []
        diff = git(["diff", "--name-status", "-z", "--no-renames", before.head, after.head], path)
        fields = diff.out.split("\0") if diff.ok else []
        for status, name in zip(fields[0::2], fields[1::2], strict=False):
            {"A": added, "D": deleted}.get(status[:1], modified).add(name)
    for name, state in after.dirty.items():
        if before.dirty.get(name) == state:
            continue  # dirty before the step and untouched by it
        code = state[0]
        if "D" in code:
            deleted.add(name)
        elif code in ("??", "A ", "AM") and name not in modified:
            added.add(name)
        else:
            modified.add(name)
    modified -= added | deleted
    insertions, deletions = _line_counts(path, before.head, sorted(added | modified | deleted), after)
    return Changes(tuple(sorted(added)), tuple(sorted(modified)), tuple(sorted(deleted)), tuple(commits),
                   insertions, deletions)


def _line_counts(path: Path, base: str | None, names: list[str], after: Snapshot) -> tuple[int, int]:
    if not names or base is None:
        return 0, 0
    result = git(["diff", "--numstat", base, "--", *names], path)
    insertions = deletions = 0
    for line in result.out.splitlines() if result.ok else []:
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            insertions += int(parts[0])
            deletions += int(parts[1])
    for name in names:  # untracked files are not in `git diff`: count their lines
        if after.dirty.get(name, ("",))[0] == "??":
            try:
                insertions += (path / name).read_bytes().count(b"\n")
            except OSError:
                pass
    return insertions, deletions


def newest(path: Path, names: list[str]) -> str | None:
    """The most recently modified of `names` (relative to path) that still exists."""
    best: tuple[int, str] | None = None
    for name in names:
        try:
            stamp = os.stat(path / name).st_mtime_ns
        except OSError:
            continue
        if best is None or stamp >= best[0]:
            best = (stamp, name)
    return best[1] if best else None
