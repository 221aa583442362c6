"""`sessions list` from the session index (state/session_index.py): newest first, a page at a time, reading
only the records of the rows shown. With 100,000 sessions the default page costs a read of the index (a few
MB) and of 20 records, cold or warm, instead of every record (13 s warm, 217 s cold before).

Our records, the original (Rust) prodigy's sessions not converted yet and its checkpoint-only sessions are
all in the index, ordered by creation time (unknown times last). A status filter uses the status the index
keeps, except that a "running" session whose lock is free is interrupted (views/sessions.py::true_status),
so for `running` and `interrupted` the candidates' locks are checked. Rows are built as before (the record's
status and progress, a running MapReduce job's progress from its journal)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.errors import NotFoundError, ProdigyError, StateError
from prodigy.state import session_index, sessions
from prodigy.state.session_index import CHECKPOINT_ONLY, ORIGINAL, Entry
from prodigy.state.sessions import SessionRecord

DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class SessionRow:
    id: str
    kind: str
    workflow: str
    workflow_path: str
    status: str
    phase: str | None
    progress: dict[str, int]
    created_at: str
    updated_at: str
    age_seconds: float | None
    job_id: str | None
    resumable: bool
    origin: str | None = None  # "original": the Rust prodigy's, not converted yet; "converted from <id>"


@dataclass(frozen=True)
class SessionListing:
    rows: tuple[SessionRow, ...]
    total: int  # matching the status filter, before --limit
    warnings: tuple[str, ...] = ()


def _row(record: SessionRecord, now: float) -> SessionRow:
    original = (record.extra.get("legacy") or {}).get("original_id")
    status, progress = true_status(record), true_progress(record)
    return SessionRow(
        id=record.id, kind=record.kind, workflow=record.workflow_name, workflow_path=record.workflow_path,
        status=status, phase=record.phase, progress=progress, created_at=record.created_at,
        updated_at=record.updated_at, age_seconds=age_seconds(record.created_at, now), job_id=record.job_id,
        resumable=record.resumable, origin=f"converted from {original}" if original else None,
    )


def _original_row(row: Any, now: float) -> SessionRow:
    return SessionRow(
        id=row.id, kind=row.kind, workflow=row.workflow, workflow_path="", status=row.status, phase=None,
        progress=dict(row.progress), created_at=row.created_at, updated_at=row.updated_at,
        age_seconds=age_seconds(row.created_at, now) if row.created_at else None, job_id=row.job_id,
        resumable=row.resumable, origin="original")


def true_status(record: SessionRecord, *, live: bool | None = None) -> str:
    """The record's status, except that a "running" session no process executes (its lock is free: the process
    was killed, or died with its output) is interrupted."""
    if record.status != "running":
        return record.status
    from prodigy.state import locks

    return "running" if (locks.is_locked(record.id) if live is None else live) else "interrupted"


def true_progress(record: SessionRecord) -> dict[str, int]:
    """Progress as recorded, except for a MapReduce job still marked running: its journal (the snapshot plus the
    records after it) is the truth, so a listing mid-run or after a kill shows what is done."""
    if record.status != "running" or record.kind != "mapreduce" or not record.job_id:
        return dict(record.progress)
    from prodigy.execution.mapreduce.mapvars import counts  # a running job only: its journal is read
    from prodigy.resume.resolve import Target
    from prodigy.views.common import job_ref, load_job

    try:
        _store, state = load_job(job_ref(Target(session=record, job_id=record.job_id, resolved_via="record")))
    except (StateError, NotFoundError, OSError):
        return dict(record.progress)
    if state.item_count is None:
        return dict(record.progress)
    numbers = counts(state)
    return {"done": numbers["successful"] + numbers["failed"], "total": numbers["total"],
            "failed": numbers["failed"], "dlq": numbers["dlq"]}


def list_sessions(status: tuple[str, ...] = (), limit: int | None = None, page: int = 1) -> SessionListing:
    """Sessions newest first, `limit` a page (None: all), from the session index."""
    listing = select(status, limit=limit, page=page)
    rows = tuple(listing.rows())
    return SessionListing(rows=rows, total=listing.total, warnings=tuple(listing.warnings))


def age_seconds(iso: str | None, now: float) -> float | None:
    """views/common.age_seconds without importing what views/common needs (the listing stays light)."""
    millis = session_index.created_ms(iso)
    return max(0.0, now - millis / 1000) if millis >= 0 else None


@dataclass
class Listing:
    """The entries to show (newest first) and how many match; rows are read as they are iterated."""

    entries: list[Entry]
    total: int
    warnings: list[str] = field(default_factory=list)

    def rows(self) -> Iterator[Any]:
        now = time.time()
        for entry in self.entries:
            if entry.origin == ORIGINAL:
                from prodigy.legacy.listing import original_row  # only where the original's sessions are

                original = original_row(entry.id, self.warnings)
                if original is not None:
                    yield _original_row(original, now)
                continue
            if entry.origin == CHECKPOINT_ONLY:
                from prodigy.legacy.listing import checkpoint_only_row

                original = checkpoint_only_row(entry.id)
                if original is not None:
                    yield _original_row(original, now)
                continue
            try:
                record = sessions.load(entry.id)
            except NotFoundError:
                continue  # removed since the index was read
            except ProdigyError as exc:  # a damaged record (StateError), or a damaged index line's id
                self.warnings.append(str(exc).splitlines()[0])
                continue
            yield _row(record, now)


def select(status: tuple[str, ...] = (), *, limit: int | None = DEFAULT_LIMIT, page: int = 1) -> Listing:
    """The sessions of one page (`limit` None: all of them), newest first, matching `status`."""
    index = session_index.current(_describe, extra=_checkpoint_only)
    order = [sid for _key, sid in index.newest_first()]
    if status:
        order = [sid for sid in order if _matches(index.entry(sid), status)]
    total = len(order)
    if limit is not None:
        order = order[(page - 1) * limit: page * limit]
    return Listing(entries=[index.entry(sid) for sid in order], total=total)


def _matches(entry: Entry, wanted: tuple[str, ...]) -> bool:
    if entry.status != "running" or entry.origin:
        return entry.status in wanted
    if "running" not in wanted and "interrupted" not in wanted:
        return False
    from prodigy.state import locks

    return ("running" if locks.is_locked(entry.id) else "interrupted") in wanted


def _describe(path: Path) -> Entry | None:
    """A file of the sessions folder as an index entry: ours, an original session, or None."""
    session_id = path.stem
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return None
    if b'"schema_version"' in head:  # ours (write_json puts it first)
        try:
            return session_index.entry_of(sessions.load(session_id))
        except NotFoundError:
            return None
        except StateError:
            return Entry(-1, session_id, "damaged")  # listed with its warning when its page is shown
        except ProdigyError:
            return None  # not a name prodigy gives a session
    from prodigy.legacy.listing import original_row

    original = original_row(session_id, [])
    if original is None:
        return None
    return Entry(session_index.created_ms(original.created_at), session_id, original.status, ORIGINAL)


def _checkpoint_only() -> list[Entry]:
    from prodigy.legacy.discover import checkpoint_only_session_ids

    return [Entry(-1, sid, "interrupted", CHECKPOINT_ONLY) for sid in checkpoint_only_session_ids()]
