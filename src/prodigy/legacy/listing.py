"""The original's sessions for `sessions list` and the resume listing, beside ours: the ones not converted
yet (a converted one is listed as the session it became, which names its original)."""

from __future__ import annotations

from dataclasses import dataclass

from prodigy.errors import ProdigyError
from prodigy.legacy.discover import (
    checkpoint_only_session_ids,
    jobs_of_session,
    original_session_ids,
    session_path,
)
from prodigy.legacy.shapes import STATUS_MAP, read_session
from prodigy.state import conversions


@dataclass(frozen=True)
class OriginalRow:
    id: str
    kind: str
    workflow: str
    status: str  # ours (interrupted, failed, completed, cancelled)
    original_status: str
    progress: dict[str, int]
    created_at: str
    updated_at: str
    job_id: str | None

    @property
    def resumable(self) -> bool:
        return self.status in ("interrupted", "failed")


def original_rows() -> tuple[list[OriginalRow], list[str], set[str]]:
    """(rows of originals not converted yet, warnings for unreadable ones, every original session id seen)."""
    rows: list[OriginalRow] = []
    warnings: list[str] = []
    seen = set(original_session_ids())
    for session_id in sorted(seen):
        row = original_row(session_id, warnings)
        if row is not None:
            rows.append(row)
    for session_id in checkpoint_only_session_ids():
        row = checkpoint_only_row(session_id)
        if row is not None:
            rows.append(row)
        seen.add(session_id)
    return rows, warnings, seen


def original_row(session_id: str, warnings: list[str]) -> OriginalRow | None:
    """The row of one original session (None when it was converted, or its file is not one: a warning for an
    unreadable one)."""
    if conversions.load(session_id) is not None:
        return None
    path = session_path(session_id)
    try:
        session = read_session(path) if path else None
    except ProdigyError as exc:
        warnings.append(f"{str(exc).splitlines()[0]} (original prodigy)")
        return None
    if session is None:
        return None
    mapreduce = session.session_type == "MapReduce" or session.job_id or jobs_of_session(session)
    kind = "mapreduce" if mapreduce else "workflow"
    if session.job_id and session.mr_total is not None:
        progress = {"done": session.mr_processed or 0, "total": session.mr_total, "failed": session.mr_failed or 0}
    elif session.total_steps:
        progress = {"done": len(session.completed_steps) or (session.current_step or 0),
                    "total": session.total_steps}
    else:
        progress = {}
    return OriginalRow(id=session.id, kind=kind, workflow=session.workflow_name or "?",
                       status=STATUS_MAP[session.status], original_status=session.status,
                       progress=progress, created_at=session.started_at or "",
                       updated_at=session.updated_at or session.started_at or "", job_id=session.job_id)


def checkpoint_only_row(session_id: str) -> OriginalRow | None:
    """An original session that left only a checkpoint (None once converted)."""
    if conversions.load(session_id) is not None:
        return None
    return OriginalRow(id=session_id, kind="workflow", workflow="?", status="interrupted",
                       original_status="(checkpoint only)", progress={}, created_at="", updated_at="", job_id=None)
