"""Ids typed by a user -> a session (and its job). Unique prefixes work; ambiguous ones list candidates.

A job resolves to its session by, in order: the mapping file state/mappings/job-{job_id}.json, the session
id embedded in the job id, a scan of the session records. Each failure says what it searched."""

from __future__ import annotations

import json
from dataclasses import dataclass

from prodigy import paths
from prodigy.errors import AmbiguousIdError, NotFoundError
from prodigy.ids import IdType, check_id, detect_id_type, session_from_job_id
from prodigy.state import sessions
from prodigy.state.sessions import SessionRecord


@dataclass(frozen=True)
class Target:
    session: SessionRecord
    job_id: str | None
    resolved_via: str


def complete(prefix: str, candidates: list[str], what: str) -> str:
    if prefix in candidates:
        return prefix
    matches = sorted(c for c in candidates if c.startswith(prefix))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AmbiguousIdError(prefix, matches)
    raise NotFoundError(f"{what[0].upper()}{what[1:]} not found: no {what} id matches '{prefix}'.",
                        hint=_listing_hint())


def _listing_hint() -> str:
    return f"Searched {paths.sessions_dir()} and {paths.mappings_dir()}. See what exists with: prodigy sessions list"


def known_job_ids() -> list[str]:
    found: set[str] = set()
    folder = paths.mappings_dir()
    if folder.is_dir():
        found.update(p.name[len("job-"):-len(".json")] for p in folder.glob("job-*.json"))
    state = paths.home() / "state"
    if state.is_dir():
        found.update(p.name for p in state.glob("*/mapreduce/jobs/*") if p.is_dir())
    return sorted(found)


def find_session_for_job(job_id: str) -> tuple[str, str]:
    """(session_id, how it was found). Raises NotFoundError naming everything it searched."""
    searched = []
    mapping = paths.job_mapping_file(job_id)
    try:
        data = json.loads(mapping.read_text())
        session_id = data.get("session_id") if isinstance(data, dict) else None
        if isinstance(session_id, str) and sessions.exists(check_id(session_id)):
            return session_id, "mapping file"
        searched.append(f"{mapping} (no usable session_id)")
    except (OSError, ValueError):
        searched.append(f"{mapping} (missing or unreadable)")
    embedded = session_from_job_id(job_id)
    if embedded and sessions.exists(embedded):
        return embedded, "job id pattern"
    searched.append(f"the session id inside the job id ({embedded or 'none: not a mapreduce-<time>_session-<uuid> id'})")
    for session_id in sessions.all_ids():
        try:
            record = sessions.load(session_id)
        except Exception:  # noqa: BLE001 - an unreadable record must not stop the scan
            continue
        if record.job_id == job_id:
            return session_id, "session scan"
    searched.append(f"every session record in {paths.sessions_dir()}")
    raise NotFoundError(
        f"MapReduce job not found: {job_id} (no session owns it).\nSearched:\n  - " + "\n  - ".join(searched),
        hint="The session may have been cleaned up. See what exists with: prodigy sessions list",
    )


def _original(text: str) -> Target | None:
    """Ids the original (Rust) prodigy wrote: the session they were converted into (prodigy.legacy)."""
    from prodigy.legacy.resolve import lookup

    return lookup(text)


def resolve_job(text: str) -> Target:
    check_id(text)
    if (converted := _original(text)) is not None:
        return converted
    job_id = complete(text, known_job_ids(), "MapReduce job")
    session_id, via = find_session_for_job(job_id)
    return Target(sessions.load(session_id), job_id, via)


def resolve(text: str) -> Target:
    """A session id, a job id, or a unique prefix of either."""
    check_id(text)
    if (converted := _original(text)) is not None:
        return converted
    kind = detect_id_type(text)
    if kind is IdType.JOB:
        return resolve_job(text)
    session_ids = sessions.all_ids()
    if kind is IdType.SESSION:
        record = sessions.load(complete(text, session_ids, "session"))
        return Target(record, record.job_id, "session record")
    candidates = [s for s in session_ids if s.startswith(text)] + [j for j in known_job_ids() if j.startswith(text)]
    if not candidates:
        raise NotFoundError(f"Not found: no session or job id matches '{text}'.", hint=_listing_hint())
    if len(candidates) > 1:
        raise AmbiguousIdError(text, sorted(candidates))
    return resolve(candidates[0])
