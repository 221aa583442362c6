"""Which original a typed id names: its session id, a workflow-<ms> checkpoint id, one of its job ids
(mapreduce-YYYYmmdd_HHMMSS, mapreduce-<epoch_ms>, session-mapreduce-...), or a unique prefix of one."""

from __future__ import annotations

from prodigy import paths
from prodigy.errors import AmbiguousIdError
from prodigy.legacy.discover import (
    _safe,
    checkpoint_files,
    checkpoint_owner,
    is_original_job_id,
    job_files,
    original_job_ids,
    original_session_ids,
    session_of_job,
    session_path,
)
from prodigy.legacy.model import Original
from prodigy.legacy.shapes import read_session


def _session(session_id: str, named_by: str, job_ids: tuple[str, ...] = ()) -> Original:
    path = session_path(session_id)
    return Original(key=session_id, session=read_session(path) if path else None, job_ids=job_ids,
                    named_by=named_by)


def _ours(session_id: str) -> bool:
    return paths.session_file(session_id).exists() and not session_path(session_id)


def find_exact(text: str) -> Original | None:
    if not _safe(text):
        return None
    if session_path(text):
        return _session(text, "session id")
    if is_original_job_id(text) and job_files(text).exists:
        owner, how = session_of_job(text)
        if owner:
            return _session(owner, f"job id {text} ({how})", (text,))
        return Original(key=text, session=None, job_ids=(text,), named_by=f"job id {text} (no session record "
                        f"owns it; searched {how})")
    if text.startswith("workflow-"):
        owner = checkpoint_owner(text)  # state/{session}/checkpoints/{workflow-id}.checkpoint.json
        if owner:
            return _session(owner, f"workflow checkpoint id {text}")
    if not _ours(text) and checkpoint_files(text):
        return Original(key=text, session=None, named_by="session id (a checkpoint without a session record)")
    return None


def find(text: str) -> Original | None:
    """An exact id of the original's, else a unique prefix of one that matches none of ours."""
    found = find_exact(text)
    if found is not None or not _safe(text):
        return found
    legacy_sessions = original_session_ids()
    candidates = sorted({s for s in legacy_sessions if s.startswith(text)}
                        | {j for j in original_job_ids() if j.startswith(text)})
    if not candidates:
        return None
    from prodigy.resume.resolve import known_job_ids
    from prodigy.state import sessions

    ours = [s for s in sessions.all_ids() if s.startswith(text) and s not in legacy_sessions]
    ours += [j for j in known_job_ids() if j.startswith(text) and j not in candidates]
    if ours or len(candidates) > 1:
        raise AmbiguousIdError(text, sorted(set(candidates) | set(ours)))
    return find_exact(candidates[0])
