"""Session records: sessions/{session_id}.json. What a listing needs lives here, so `sessions list` never
has to open a job's journal."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import NotFoundError, StateError
from prodigy.state import records, session_index
from prodigy.state.atomic import read_json, write_json

KINDS = ("workflow", "mapreduce", "workflows")  # workflows: a parent of sub-workflows
STATUSES = ("running", "interrupted", "failed", "completed", "cancelled")
RESUMABLE = ("running", "interrupted", "failed")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class SessionRecord:
    id: str
    kind: str
    status: str
    workflow_path: str
    workflow_sha256: str
    workflow_name: str
    run_dir: str
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    finished_at: str | None = None
    job_id: str | None = None
    repo: str | None = None
    phase: str | None = None
    progress: dict[str, int] = field(default_factory=dict)  # done, failed, total (steps or items)
    error: str | None = None
    exit_code: int | None = None
    resumes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE

    def to_json(self) -> dict[str, Any]:
        return asdict(self)



def save(record: SessionRecord) -> None:
    """Write the record; the session index (session_index.py) gets a line first when the record is new or its
    status changed, and its stamp after."""
    record.updated_at = now_iso()
    path = paths.session_file(record.id)
    if getattr(record, "_indexed_status", None) != record.status or not path.exists():
        session_index.append([session_index.entry_of(record)])
    write_json(path, record.to_json())
    record._indexed_status = record.status  # type: ignore[attr-defined]
    session_index.stamp()


def load(session_id: str) -> SessionRecord:
    path = paths.session_file(session_id)
    try:
        data = read_json(path, what="session record")
    except FileNotFoundError:
        raise NotFoundError(f"Session not found: {session_id}",
                            hint=f"Searched {path}. List sessions with: prodigy sessions list") from None
    return from_json(data, path)


def from_json(data: dict[str, Any], path: Path) -> SessionRecord:
    try:
        record: SessionRecord = records.convert(data, SessionRecord, "session record")
        if record.kind not in KINDS or record.status not in STATUSES:
            raise records.BadRecord(f"kind {record.kind!r} / status {record.status!r} is not one prodigy writes")
        records.session_extra(record.extra)
    except records.BadRecord as exc:
        raise StateError(f"The session record {path} is damaged: {exc}.",
                         hint="Fix or remove the file by hand; `prodigy sessions list` shows the others.") from None
    record._indexed_status = record.status  # type: ignore[attr-defined] - what the index knows of it
    return record


def exists(session_id: str) -> bool:
    return paths.session_file(session_id).exists()


def update(session_id: str, **changes: Any) -> SessionRecord:
    record = load(session_id)
    for key, value in changes.items():
        setattr(record, key, value)
    save(record)
    return record


def all_ids() -> list[str]:
    folder = paths.sessions_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("session-*.json"))


def load_all(skip: frozenset[str] | set[str] = frozenset()) -> tuple[list[SessionRecord], list[str]]:
    """Every readable session record, newest first, and a warning per unreadable one. `skip`: ids whose file is
    not one of our records (the original prodigy's, listed by prodigy.legacy)."""
    records: list[SessionRecord] = []
    warnings: list[str] = []
    for session_id in all_ids():
        if session_id in skip:
            continue
        try:
            records.append(load(session_id))
        except (StateError, NotFoundError) as exc:
            warnings.append(str(exc).splitlines()[0])
    records.sort(key=lambda r: r.created_at, reverse=True)
    return records, warnings
