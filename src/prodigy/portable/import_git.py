"""The git side of `sessions import`: is this a clone of the session's repository (checked before anything
changes), and the session branch out of the bundle, its uncommitted changes back, or all of it undone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prodigy.errors import StateError, UsageError
from prodigy.portable.export import BUNDLE
from prodigy.state.sessions import SessionRecord

IMPORT_REF = "refs/prodigy/import/{sid}"


def target(record: SessionRecord, git: dict[str, Any] | None, source: dict[str, Any], directory: Path,
            files: Path) -> tuple[Path | None, Path]:
    """The new checkout's top level (None outside git) and the run directory in it."""
    from prodigy.git import bundle as bundles
    from prodigy.git import carry as gitcarry
    from prodigy.git.command import GitError
    from prodigy.git.repo import toplevel

    try:
        root = toplevel(directory)
    except GitError:
        root = None
    if git is None:  # the session did not run in a git repository: the directory is its run directory
        return None, directory
    origin = source.get("repo_root") or record.run_dir
    if root is None:
        raise UsageError(f"{directory} is not in a git repository, but session {record.id} ran in one ({origin}). "
                         "Nothing was imported.", hint="Import it inside a clone of that repository: "
                         "cd CLONE && prodigy sessions import FILE")
    root = Path(root)
    if git.get("worktree"):
        base = str(git.get("base"))
        bundle = Path(git["bundle"]) if git.get("bundle") else None
        if not gitcarry.has_commit(root, base):
            raise unrelated(record.id, root, origin, base, gitcarry.is_shallow(root))
        if bundle is not None:
            check = bundles.verify(root, files / bundle)
            if not check.ok:
                raise unrelated(record.id, root, origin, (check.missing or (base,))[0], gitcarry.is_shallow(root),
                                 detail=check.message)
        subdir = str(git.get("subdir") or "")
        return root, root / subdir if subdir else root
    roots = set(git.get("roots") or ())
    if roots and not roots & set(gitcarry.root_commits(root)):
        raise unrelated(record.id, root, origin, sorted(roots)[0], False)
    rel = os.path.relpath(record.run_dir, str(git.get("toplevel") or record.run_dir))
    return root, (root / rel if not rel.startswith("..") and rel != "." else root)


def unrelated(sid: str, root: Path, origin: str, commit: str, shallow: bool, detail: str = "") -> UsageError:
    why = (f"{root} is a shallow clone that does not reach commit {commit[:12]}" if shallow else
           f"{root} does not contain commit {commit[:12]}, which session {sid} started from in {origin}")
    hint = ("Fetch the whole history (git fetch --unshallow, or fetch-depth: 0 in actions/checkout) and import "
            "again." if shallow else "Import it in a clone of the repository the session ran in (the same origin).")
    return UsageError(f"Not the session's repository: {why}{f' ({detail})' if detail else ''}. Nothing was "
                      "imported.", hint=hint)


def make_branch(root: Path, files: Path, git: dict[str, Any], sid: str) -> None:
    from prodigy.git import bundle as bundles
    from prodigy.git.carry import set_ref
    from prodigy.git.repo import head_of

    branch = f"refs/heads/{git['branch']}"
    held = bundles.heads(root, files / BUNDLE) if git.get("bundle") else {}
    refs = {branch: branch} if branch in held else {}
    wip = git.get("uncommitted") or {}
    if wip.get("ref") and str(wip["ref"]) in held:
        refs[str(wip["ref"])] = IMPORT_REF.format(sid=sid)
    if branch not in held:  # no commits of its own (the bundle then carries only the uncommitted changes, if any)
        set_ref(root, branch, str(git["base"]))
    if refs:
        bundles.fetch(root, files / BUNDLE, refs)
    tip = head_of(root, branch)
    if git.get("tip") and tip != git["tip"]:
        raise StateError(f"The branch {git['branch']} came out of the bundle at {tip}, not at {git['tip']} as the "
                         "manifest says.")


def restore_uncommitted(root: Path, worktree: Path, git: dict[str, Any], sid: str) -> str | None:
    """The worktree's uncommitted changes back from their commit; a note saying so, or None."""
    from prodigy.git.carry import delete_ref
    from prodigy.git.carry import restore_uncommitted as restore

    wip = git.get("uncommitted") or {}
    if not wip.get("commit"):
        return None
    try:
        count = restore(worktree, str(wip["commit"]))
    finally:
        delete_ref(root, IMPORT_REF.format(sid=sid))
    return f"restored {count} uncommitted file(s) of the session worktree"


def undo(root: Path, worktree: Path | None, branch: str, sid: str, *, made_branch: bool, made_worktree: bool) -> None:
    """Take back the branch and worktree an import created."""
    from prodigy.git.carry import delete_ref
    from prodigy.git.repo import delete_branch, remove_worktree

    if made_worktree and worktree is not None:
        remove_worktree(root, worktree)
    if made_branch:
        delete_branch(root, branch)
        delete_ref(root, IMPORT_REF.format(sid=sid))
