"""Helpers for the tests that carry a session to another clone and home (imported as `portable_support`).

Two "runners": clone A of an origin with home H1, clone B of the same origin at another path with an empty
home H2. Every prodigy subprocess gets its PRODIGY_HOME explicitly and stdin from /dev/null."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import support
from support import git


def make_origin(tmp_path: Path, files: dict[str, str]) -> Path:
    """A bare origin whose main branch holds `files` (one commit)."""
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    for name, text in files.items():
        (seed / name).write_text(text, encoding="utf-8")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "initial")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    return origin


def clone(origin: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, "clone", "-q", str(origin), str(dest))
    return dest


def prodigy(*args: str, cwd: Path, home: Path, env: dict[str, str] | None = None,
            timeout: float = 90) -> tuple[int, str, str]:
    return support.run_prodigy(*args, cwd=cwd, env={"PRODIGY_HOME": str(home), **(env or {})}, timeout=timeout)


def spawn(spawner: Any, *args: str, cwd: Path, home: Path, env: dict[str, str] | None = None) -> Any:
    return spawner(*args, cwd=cwd, env={"PRODIGY_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env or {})})


def journal(home: Path) -> list[dict[str, Any]]:
    found = sorted(home.glob("state/*/mapreduce/jobs/*/journal.jsonl"))
    assert len(found) == 1, found
    return support.journal_records(found[0])


def succeeded(home: Path) -> set[int]:
    try:
        records = journal(home)
    except (AssertionError, FileNotFoundError):
        return set()
    return {r["i"] for r in records if r.get("t") == "done" and r.get("s", "succeeded") == "succeeded"}


def only_session(home: Path) -> str:
    found = sorted((home / "sessions").glob("session-*.json"))
    assert len(found) == 1, found
    return found[0].stem


def merge_subjects(repo: Path, ref: str = "main") -> Counter[str]:
    return Counter(git(repo, "log", "--merges", "--format=%s", ref).splitlines())


def tree_state(*folders: Path) -> dict[str, bytes]:
    """Every file under the folders (for "nothing changed" checks), .git included."""
    found: dict[str, bytes] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file() and "index" != path.name:
                found[str(path)] = path.read_bytes()
    return found


def git_state(repo: Path) -> tuple[str, str, str]:
    return (git(repo, "for-each-ref"), git(repo, "worktree", "list", "--porcelain"), git(repo, "status", "--porcelain"))
