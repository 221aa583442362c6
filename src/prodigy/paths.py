"""Every path under PRODIGY_HOME comes from here. Ids are validated before they touch a path."""

from __future__ import annotations

import os
import re
from pathlib import Path

from prodigy.ids import check_id

_REPO_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def home() -> Path:
    """PRODIGY_HOME, or ~/.prodigy; always absolute."""
    configured = os.environ.get("PRODIGY_HOME")
    base = Path(configured).expanduser() if configured else Path.home() / ".prodigy"
    return base.absolute()


def repo_name(repo_path: Path | str) -> str:
    """A safe folder name for a repository (its directory name)."""
    name = Path(repo_path).absolute().name or "root"
    return _REPO_SAFE.sub("_", name).strip("._") or "repo"


def sessions_dir() -> Path:
    return home() / "sessions"


def session_file(session_id: str) -> Path:
    return sessions_dir() / f"{check_id(session_id)}.json"


def session_state_dir(session_id: str) -> Path:
    return home() / "state" / check_id(session_id)


def checkpoints_dir(session_id: str) -> Path:
    return session_state_dir(session_id) / "checkpoints"


def composed_file(session_id: str) -> Path:
    """The resolved form of a composed workflow, kept for the session's resumes."""
    return session_state_dir(session_id) / "workflow.composed.json"


def mappings_dir() -> Path:
    return home() / "state" / "mappings"


def job_mapping_file(job_id: str) -> Path:
    return mappings_dir() / f"job-{check_id(job_id)}.json"


def session_mapping_file(session_id: str) -> Path:
    return mappings_dir() / f"session-{check_id(session_id)}.json"


def jobs_root(repo: str) -> Path:
    return home() / "state" / _REPO_SAFE.sub("_", repo) / "mapreduce" / "jobs"


def job_dir(repo: str, job_id: str) -> Path:
    return jobs_root(repo) / check_id(job_id)


def events_file(repo: str, job_id: str) -> Path:
    return home() / "events" / _REPO_SAFE.sub("_", repo) / check_id(job_id) / "events.jsonl"


def locks_dir() -> Path:
    return home() / "resume_locks"


def lock_file(session_id: str) -> Path:
    return locks_dir() / f"{check_id(session_id)}.lock"


def lock_info_file(session_id: str) -> Path:
    return locks_dir() / f"{check_id(session_id)}.json"


def logs_dir() -> Path:
    return home() / "logs"


def claude_logs_dir() -> Path:
    return logs_dir() / "claude"


def claude_session_logs_dir(session_id: str) -> Path:
    """The agent logs of one session (one stream-json file per agent call)."""
    return claude_logs_dir() / check_id(session_id)


def crash_logs_dir() -> Path:
    return logs_dir() / "crashes"


def generated_dir() -> Path:
    """Workflows that `prodigy exec` and `prodigy batch` generate (kept: their sessions resume from them)."""
    return home() / "generated"


def templates_dir() -> Path:
    """The template registry (`prodigy template register|list|show|delete`)."""
    return home() / "templates"


def worktrees_dir(repo: str) -> Path:
    return home() / "worktrees" / _REPO_SAFE.sub("_", repo)


def session_worktree_dir(repo: str, session_id: str) -> Path:
    return worktrees_dir(repo) / check_id(session_id)


def agent_worktrees_dir(session_worktree: Path) -> Path:
    """Where a session's map agents get their worktrees: beside the session worktree, {session_id}.agents/item_{i}
    (a fixed place, so a resume finds what a crashed run left)."""
    return session_worktree.with_name(f"{check_id(session_worktree.name)}.agents")


def legacy_dir() -> Path:
    """Records of conversions from the original (Rust) prodigy; the originals themselves stay where they are."""
    return home() / "legacy"


def conversion_file(original_id: str) -> Path:
    return legacy_dir() / "conversions" / f"{check_id(original_id)}.json"


def conversion_alias_file(alias: str) -> Path:
    """Another id of the same original (a job id, a workflow checkpoint id) -> its conversion record."""
    return legacy_dir() / "aliases" / f"{check_id(alias)}.json"


def worker_cache_dir() -> Path:
    """On a Dask worker (--repo-transfer git): the cache of repositories, item checkouts and agent logs. Not under
    PRODIGY_HOME, which a worker on another machine does not have: $PRODIGY_WORKER_CACHE, else
    $XDG_CACHE_HOME/prodigy-worker, else ~/.cache/prodigy-worker."""
    configured = os.environ.get("PRODIGY_WORKER_CACHE")
    if configured:
        return Path(configured).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "prodigy-worker"
