"""Git bundles: commits carried in one file to a repository that shares no filesystem with this one.

`sessions export` / `import` use them for a session branch; a remote map worker can use them the same way.

    create(repo, path, refs, exclude=...) -> Bundle | None   the commits of refs that exclude lacks, in one file
    heads(repo, path) -> {ref: commit}                      what a bundle holds
    verify(repo, path) -> BundleCheck                       can this repository take it (its prerequisites)?
    fetch(repo, path, {ref_in_bundle: local_ref})           copy refs out of a bundle (an existing ref only moves
                                                            forward, unless force)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from prodigy.git.command import GitError, git

_SHA = re.compile(r"\b[0-9a-f]{40}\b")


@dataclass(frozen=True)
class Bundle:
    path: Path
    heads: dict[str, str]  # ref -> commit
    prerequisites: tuple[str, ...]  # commits the receiving repository must already have
    size: int


@dataclass(frozen=True)
class BundleCheck:
    ok: bool
    missing: tuple[str, ...] = ()  # prerequisite commits the repository lacks
    message: str = ""


def create(repo: Path, path: Path, refs: list[str], *, exclude: tuple[str, ...] = ()) -> Bundle | None:
    """Write a bundle of refs (full ref names) without the history of `exclude` (commits the receiver has).
    None when that leaves nothing to carry (every ref is at or behind an excluded commit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    tips = [ref for ref in refs if _has_new_commits(repo, ref, exclude)]
    if not tips:
        return None
    result = git(["bundle", "create", "-q", str(path), *tips, *(f"^{commit}" for commit in exclude)], repo)
    if not result.ok:
        raise GitError(f"Could not write a git bundle of {', '.join(tips)} from {repo}: {result.message}")
    return Bundle(path=path, heads=heads(repo, path), prerequisites=_prerequisites(repo, path),
                  size=path.stat().st_size)


def _has_new_commits(repo: Path, ref: str, exclude: tuple[str, ...]) -> bool:
    result = git(["rev-list", "--count", ref, *(f"^{commit}" for commit in exclude)], repo)
    if not result.ok:
        raise GitError(f"Cannot read {ref} in {repo}: {result.message}")
    return result.out.strip() not in ("", "0")


def heads(repo: Path, path: Path) -> dict[str, str]:
    result = git(["bundle", "list-heads", str(path)], repo)
    if not result.ok:
        raise GitError(f"{path} is not a readable git bundle: {result.message}")
    found: dict[str, str] = {}
    for line in result.out.splitlines():
        commit, _, ref = line.strip().partition(" ")
        if _SHA.fullmatch(commit) and ref:
            found[ref] = commit
    return found


def _prerequisites(repo: Path, path: Path) -> tuple[str, ...]:
    """The `-<commit>` lines of the bundle header (git has no plumbing command that lists them)."""
    found: list[str] = []
    with open(path, "rb") as handle:
        if not handle.readline().startswith(b"# v"):
            raise GitError(f"{path} is not a git bundle.")
        for raw in handle:
            line = raw.rstrip(b"\n")
            if not line:
                break  # the header ends at an empty line; the pack follows
            if line.startswith(b"-"):
                found.append(line[1:41].decode("ascii", "replace"))
    return tuple(found)


def verify(repo: Path, path: Path) -> BundleCheck:
    """Whether `repo` has every commit the bundle builds on (git bundle verify; it names the missing ones)."""
    result = git(["bundle", "verify", str(path)], repo)
    if result.ok:
        return BundleCheck(ok=True)
    text = result.out + result.err
    missing = tuple(dict.fromkeys(_SHA.findall(text))) if "lacks" in text else ()
    return BundleCheck(ok=False, missing=missing, message=result.message)


def fetch(repo: Path, path: Path, refs: dict[str, str], *, force: bool = False) -> None:
    """Copy refs out of the bundle: {ref in the bundle: local ref to create}."""
    specs = [f"{'+' if force else ''}{src}:{dst}" for src, dst in refs.items()]
    result = git(["fetch", "--no-tags", "-q", str(path), *specs], repo)
    if not result.ok:
        raise GitError(f"Could not fetch {', '.join(refs)} from the bundle {path} into {repo}: {result.message}")
