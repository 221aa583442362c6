"""Ids typed by a user -> a session (and its job). Unique prefixes work; ambiguous ones list candidates.

A job resolves to its session by, in order: the mapping file state/mappings/job-{job_id}.json, the session
id embedded in the job id, a scan of the session records. Each failure says what it searched."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from prodigy import paths
from prodigy.errors import AmbiguousIdError, NotFoundError
from prodigy.ids import IdType, check_id, detect_id_type, session_from_job_id
from prodigy.state import sessions
from prodigy.state.sessions import SessionRecord

_UUID_START = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{0,4}){0,4}[0-9a-f]*$")


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
                        hint=_listing_hint(prefix, candidates))


def _listing_hint(text: str = "", candidates: list[str] | None = None) -> str:
    near = did_you_mean(text, candidates or [])
    suggestion = f"Did you mean {' or '.join(near)}?\n" if near else ""
    return (f"{suggestion}Searched {paths.sessions_dir()} and {paths.mappings_dir()}. "
            "See what exists with: prodigy sessions list")


def did_you_mean(text: str, candidates: list[str], limit: int = 3) -> list[str]:
    """Ids that differ from what was typed by a slip (a wrong, missing or extra character), compared over the
    typed length, so that a mistyped prefix finds its id too."""
    import difflib

    if len(text) < 6:
        return []
    scored = sorted(((difflib.SequenceMatcher(None, text, c[: len(text) + 1]).ratio(), c) for c in candidates),
                    reverse=True)
    return [c for score, c in scored[:limit] if score >= 0.85]


def _with_prefix(text: str) -> str | None:
    """A bare uuid (or its start), as `prodigy sessions list` users copy it: the session id it stands for."""
    if detect_id_type(text) is IdType.UNKNOWN and _UUID_START.match(text):
        return f"session-{text}"
    return None


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
    """A job id or its prefix; also the id of a MapReduce session (or a bare uuid), which names its job."""
    check_id(text)
    if (converted := _original(text)) is not None:
        return converted
    if detect_id_type(text) is not IdType.JOB:
        return _job_of_session(text)
    job_id = complete(text, known_job_ids(), "MapReduce job")
    session_id, via = find_session_for_job(job_id)
    return Target(sessions.load(session_id), job_id, via)


def _job_of_session(text: str) -> Target:
    target = resolve(text)
    record = target.session
    if record.kind != "mapreduce":
        raise NotFoundError(f"Session {record.id} is a standard workflow: it has no MapReduce job.",
                            hint=f"Resume it with: prodigy resume {record.id}")
    return Target(record, target.job_id or record.job_id, f"{target.resolved_via} (the session's job)")


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
    jobs = known_job_ids()
    candidates = [s for s in session_ids if s.startswith(text)] + [j for j in jobs if j.startswith(text)]
    if not candidates and (prefixed := _with_prefix(text)) is not None:
        return resolve(prefixed)
    if not candidates:
        raise NotFoundError(f"Not found: no session or job id matches '{text}'.",
                            hint=_listing_hint(text, session_ids + jobs))
    if len(candidates) > 1:
        raise AmbiguousIdError(text, sorted(candidates))
    return resolve(candidates[0])
