"""Where the original (Rust) prodigy left its state under the same PRODIGY_HOME, and which id names what.

    sessions/{id}.json                                  UnifiedSession (id session-<uuid>, or workflow-<ms>)
    state/{session}/checkpoints/{workflow_id}.checkpoint.json   standard-workflow checkpoint
    worktrees/{repo}/{session}                          the session's git worktree, branch prodigy-{session}
    events/{repo}/{job_id}/events-*.jsonl[.gz]          MapReduce events ({repo} is often the session id)
    dlq/{repo}/{job_id}/mapreduce/dlq/{job_id}/items/*.json   dead-letter items (other versions: dlq/{repo}/{job}/items)
    state/{repo}/mapreduce/jobs/{job_id}/checkpoint-v{N}.json + metadata.json   job state (some versions)
    state/{repo}/mappings/{id}.json, state/mappings/job-{id}.json   session <-> job mappings (rarely written)

Job ids of the original: mapreduce-YYYYmmdd_HHMMSS, mapreduce-<epoch_ms>, session-mapreduce-...; ours are
mapreduce-YYYYmmdd_HHMMSS_session-<uuid> and never have these files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import AmbiguousIdError, StateError
from prodigy.ids import JOB_ID_RE, check_id
from prodigy.legacy import job_shapes, shapes
from prodigy.legacy.events import event_files

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_VERSION_RE = re.compile(r"^checkpoint-v(\d+)\.json$")


def _safe(name: str) -> bool:
    return bool(_SAFE.match(name)) and ".." not in name


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- sessions


def _original_session_file(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return False
    if b'"schema_version"' in head:  # ours: write_json puts schema_version first
        return False
    return shapes.looks_like_session(_json(path))


def session_path(session_id: str) -> Path | None:
    """sessions/{id}.json when it is the original's UnifiedSession (not one of our records)."""
    if not _safe(session_id):
        return None
    path = paths.sessions_dir() / f"{session_id}.json"
    return path if path.is_file() and _original_session_file(path) else None


def original_session_ids() -> list[str]:
    folder = paths.sessions_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _safe(p.stem) and _original_session_file(p))


def checkpoint_files(session_id: str) -> list[Path]:
    """The session's workflow checkpoints, newest first (the original resumed from the newest by mtime)."""
    folder = paths.home() / "state" / check_id(session_id) / "checkpoints"
    found = [p for p in folder.glob("*.checkpoint.json")] if folder.is_dir() else []
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)


def checkpoint_owner(workflow_id: str) -> str | None:
    """The session whose state/{session}/checkpoints/ holds {workflow_id}.checkpoint.json."""
    if not _safe(workflow_id):
        return None
    found = sorted((paths.home() / "state").glob(f"*/checkpoints/{workflow_id}.checkpoint.json"))
    owners = [p.parents[1].name for p in found]
    if len(owners) > 1:
        raise AmbiguousIdError(workflow_id, owners)
    return owners[0] if owners else None


# ---------------------------------------------------------------- jobs


def is_original_job_id(value: str) -> bool:
    return (value.startswith("mapreduce-") or value.startswith("session-mapreduce-")) and not JOB_ID_RE.match(value)


@dataclass(frozen=True)
class JobFiles:
    job_id: str
    event_files: tuple[Path, ...]
    dlq_files: tuple[Path, ...]
    state_dirs: tuple[Path, ...]  # folders holding checkpoint-v{N}.json / metadata.json
    repos: tuple[str, ...]  # the {repo} segments the job's files were found under

    @property
    def exists(self) -> bool:
        return bool(self.event_files or self.dlq_files or self.state_dirs)


def job_files(job_id: str) -> JobFiles:
    home = paths.home()
    if not _safe(job_id):
        return JobFiles(job_id, (), (), (), ())
    events: list[Path] = []
    repos: set[str] = set()
    for folder in sorted(home.glob(f"events/*/{job_id}")):
        found = [p for p in event_files(folder) if p.name != "events.jsonl" or _is_rust_event_file(p)]
        if found:
            events += found
            repos.add(folder.parent.name)
    dlq: list[Path] = []
    for folder in sorted(home.glob(f"dlq/*/{job_id}")):
        items = sorted(p for p in folder.rglob("items/*.json") if p.is_file())
        if items:
            dlq += items
            repos.add(folder.parent.name)
    for folder in sorted(home.glob(f"state/*/mapreduce/dlq/{job_id}/items")):
        dlq += sorted(p for p in folder.glob("*.json") if p.is_file())
    states = []
    for folder in sorted(home.glob(f"state/*/mapreduce/jobs/{job_id}")):
        if (folder / "job.json").exists():
            continue  # one of ours
        if any(folder.glob("checkpoint-v*.json")) or (folder / "metadata.json").is_file():
            states.append(folder)
            repos.add(folder.parents[2].name)
        events += [p for p in event_files(folder / "events") if _is_rust_event_file(p)]
    return JobFiles(job_id, tuple(events), tuple(dlq), tuple(states), tuple(sorted(repos)))


def _is_rust_event_file(path: Path) -> bool:
    """Our events.jsonl lines have "event" as a string; the original's have an object with event_type."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(65536)
    except OSError:
        return False
    if first[:2] == b"\x1f\x8b":
        return True
    data = _json_line(first)
    return isinstance(data, dict) and isinstance(data.get("event"), dict)


def _json_line(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def original_job_ids() -> list[str]:
    """Job ids with files the original wrote (events, DLQ or job state)."""
    home = paths.home()
    found: set[str] = set()
    for pattern in ("events/*/*", "dlq/*/*", "state/*/mapreduce/jobs/*"):
        for folder in home.glob(pattern):
            if folder.is_dir() and is_original_job_id(folder.name) and _safe(folder.name):
                found.add(folder.name)
    return sorted(job for job in found if job_files(job).exists)


def job_state_files(folder: Path) -> list[Path]:
    """checkpoint-v{N}.json files, newest first; the one metadata.json points at goes first."""
    versions = []
    for path in folder.glob("checkpoint-v*.json"):
        match = _VERSION_RE.match(path.name)
        if match:
            versions.append((int(match.group(1)), path))
    ordered = [p for _v, p in sorted(versions, reverse=True)]
    meta = _json(folder / "metadata.json")
    if isinstance(meta, dict) and isinstance(meta.get("path"), str):
        pointed = Path(meta["path"])
        named = folder / pointed.name  # the pointer is absolute; trust only its name inside this folder
        if named in ordered:
            ordered.remove(named)
            ordered.insert(0, named)
    return ordered


# ---------------------------------------------------------------- session <-> job (the spec's strategies)


def jobs_of_session(session: shapes.RustSession) -> list[str]:
    """The original's jobs run by this session: mapreduce_data.job_id, then the {repo} segment of events/DLQ/
    state paths (the original used the session worktree's name there), then job dirs naming the session."""
    found: list[str] = []
    if session.job_id:
        found.append(session.job_id)
    home = paths.home()
    for pattern in (f"events/{session.id}/*", f"dlq/{session.id}/*", f"state/{session.id}/mapreduce/jobs/*"):
        for folder in sorted(home.glob(pattern)):
            if folder.is_dir() and _safe(folder.name) and not JOB_ID_RE.match(folder.name):
                found.append(folder.name)
    for folder in sorted(home.glob("state/*/mapreduce/jobs/*")):
        if session.id in folder.name and not (folder / "job.json").exists():
            found.append(folder.name)
    unique = list(dict.fromkeys(found))
    return [job for job in unique if job == session.job_id or job_files(job).exists]


def session_of_job(job_id: str) -> tuple[str | None, str]:
    """(the original session id, how it was found) by the spec's strategies, in order; (None, searched)."""
    home = paths.home()
    searched = []
    for mapping in [home / "state" / "mappings" / f"job-{job_id}.json",
                    *sorted(home.glob(f"state/*/mappings/{job_id}.json"))]:
        data = _json(mapping)
        session_id = data.get("session_id") if isinstance(data, dict) else None
        if isinstance(session_id, str) and session_path(session_id):
            return session_id, f"mapping file {mapping}"
    searched.append("mapping files (state/mappings/job-<id>.json, state/<repo>/mappings/<id>.json)")
    if "session-" in job_id:
        embedded = "session-" + job_id.split("session-", 1)[1]
        if session_path(embedded):
            return embedded, "the session id in the job id"
    searched.append("the session id inside the job id")
    for session_id in original_session_ids():
        data = _json(paths.sessions_dir() / f"{session_id}.json")
        mr = data.get("mapreduce_data") if isinstance(data, dict) else None
        if isinstance(mr, dict) and mr.get("job_id") == job_id:
            return session_id, "mapreduce_data.job_id of its session record"
    searched.append("mapreduce_data.job_id of every session record")
    for repo in job_files(job_id).repos:
        if session_path(repo):
            return repo, f"the folder its events/DLQ are under ({repo})"
    searched.append("the {repo} folder of its events and DLQ items")
    return None, "; ".join(searched)


def newest_readable_job_state(folder: Path) -> tuple[job_shapes.RustJobState | None, list[str]]:
    """The latest job state that reads, falling back through the kept versions (the original keeps 3)."""
    warnings = []
    for path in job_state_files(folder):
        try:
            return job_shapes.read_job_state(path), warnings
        except StateError as exc:
            warnings.append(f"{str(exc).splitlines()[0]} (tried the previous version)")
    return None, warnings


def checkpoint_only_session_ids() -> list[str]:
    """state/{id}/checkpoints/*.checkpoint.json with no session record at all (the original resumed these too)."""
    found = set()
    for path in (paths.home() / "state").glob("*/checkpoints/*.checkpoint.json"):
        session_id = path.parents[1].name
        if _safe(session_id) and not (paths.sessions_dir() / f"{session_id}.json").exists():
            found.add(session_id)
    return sorted(found)
