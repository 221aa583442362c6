"""`prodigy checkpoints list|show|validate`: the saved state of sessions and jobs, and a checker that says
exactly what is wrong with a job's state (journal, snapshot, frozen work list) and can rebuild the snapshot
from the journal, the single source of truth."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import NotFoundError, StateError
from prodigy.execution.mapreduce.mapvars import counts
from prodigy.resume.resolve import Target
from prodigy.state import checkpoints, records, sessions
from prodigy.state.atomic import read_json
from prodigy.state.jobs import JobState, JobStore, apply, dump_state, find_job_folder, load_state_data
from prodigy.state.journal import Journal, JournalRead, read_journal
from prodigy.state.locks import ExecutionLock, is_locked
from prodigy.state.sessions import SessionRecord
from prodigy.views.common import iso_from_epoch, job_ref


@dataclass(frozen=True)
class CheckpointEntry:
    session_id: str
    job_id: str | None
    kind: str  # standard | job
    status: str  # the session's status
    path: str
    exists: bool
    size_bytes: int | None
    modified_at: str | None
    journal_path: str | None = None
    journal_size_bytes: int | None = None


def _stat(path: Path) -> tuple[bool, int | None, str | None]:
    try:
        info = path.stat()
    except OSError:
        return False, None, None
    return True, info.st_size, iso_from_epoch(info.st_mtime)


def _entry(record: SessionRecord, job_id: str | None) -> CheckpointEntry | None:
    if record.kind == "workflow":
        path = checkpoints.path_for(record.id)
        exists, size, modified = _stat(path)
        return CheckpointEntry(session_id=record.id, job_id=None, kind="standard", status=record.status,
                               path=str(path), exists=exists, size_bytes=size, modified_at=modified)
    if not job_id:
        return None
    try:
        store = JobStore(find_job_folder(job_id, record.repo))
    except NotFoundError:
        return None
    exists, size, modified = _stat(store.snapshot_path)
    _journal_exists, journal_size, _ = _stat(store.journal_path)
    return CheckpointEntry(session_id=record.id, job_id=job_id, kind="job", status=record.status,
                           path=str(store.snapshot_path), exists=exists, size_bytes=size, modified_at=modified,
                           journal_path=str(store.journal_path), journal_size_bytes=journal_size)


def list_checkpoints(target: Target | None = None) -> tuple[tuple[CheckpointEntry, ...], tuple[str, ...]]:
    """Checkpoints of one session/job, or of every session (newest first); only stat()s files."""
    if target is not None:
        entry = _entry(target.session, target.job_id or target.session.job_id)
        return ((entry,) if entry else ()), ()
    from prodigy.legacy.discover import original_session_ids

    records, warnings = sessions.load_all(skip=set(original_session_ids()))  # not the original (Rust) prodigy's
    entries = [e for e in (_entry(r, r.job_id) for r in records) if e is not None]
    return tuple(entries), tuple(warnings)


# ---------------------------------------------------------------- show


def show_checkpoint(target: Target) -> dict[str, Any]:
    record = target.session
    if record.kind == "workflow":
        return _show_standard(record)
    ref = job_ref(target)
    store = ref.store()
    exists, size, modified = _stat(store.snapshot_path)
    journal_size = _stat(store.journal_path)[1] or 0
    result: dict[str, Any] = {
        "kind": "job", "session_id": record.id, "job_id": ref.job_id, "path": str(store.snapshot_path),
        "exists": exists, "size_bytes": size, "modified_at": modified, "journal_path": str(store.journal_path),
        "journal_size_bytes": journal_size, "offset": None, "records_after_snapshot": None, "state": None,
        "error": None,
    }
    if not exists:
        result["error"] = "no snapshot: loading folds the whole journal"
        return result
    try:
        offset, state = _read_snapshot(store)
    except (StateError, records.BadRecord, KeyError, TypeError, ValueError) as exc:
        result["error"] = f"unreadable: {str(exc).splitlines()[0]}"
        return result
    result["offset"] = offset
    if offset <= journal_size:
        result["records_after_snapshot"] = len(read_journal(store.journal_path, offset).records)
    result["state"] = _state_summary(state)
    return result


def _show_standard(record: SessionRecord) -> dict[str, Any]:
    path = checkpoints.path_for(record.id)
    exists, size, modified = _stat(path)
    result: dict[str, Any] = {"kind": "standard", "session_id": record.id, "job_id": None, "path": str(path),
                              "exists": exists, "size_bytes": size, "modified_at": modified, "state": None,
                              "error": None}
    try:
        checkpoint = checkpoints.load(record.id)
    except (StateError, TypeError) as exc:
        result["error"] = f"unreadable: {str(exc).splitlines()[0]}"
        return result
    if checkpoint is None:
        result["error"] = "no checkpoint yet"
        return result
    first = checkpoint.first_incomplete()
    result["state"] = {
        "status": checkpoint.status, "total_steps": checkpoint.total_steps,
        "completed_steps": sorted(int(k) + 1 for k in checkpoint.completed if str(k).isdigit()),
        "next_step": None if first >= checkpoint.total_steps else first + 1,
        "in_flight": checkpoint.in_flight, "failure": checkpoint.failure,
        "variables": sorted(checkpoint.variables), "updated_at": checkpoint.updated_at,
        "workflow_path": checkpoint.workflow_path,
    }
    return result


def _state_summary(state: JobState) -> dict[str, Any]:
    return {"phase": state.phase, "status": state.status, "item_count": state.item_count,
            "items": counts(state), "setup_steps_done": len(state.setup_steps),
            "reduce_steps_done": len(state.reduce_steps), "resumes": state.resumes, "error": state.error}


def _read_snapshot(store: JobStore) -> tuple[int, JobState]:
    data = records.snapshot(read_json(store.snapshot_path, what="job checkpoint"))
    return int(data["offset"]), load_state_data(data["state"])


# ---------------------------------------------------------------- validate and repair


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    repairable: bool


@dataclass(frozen=True)
class Validation:
    session_id: str
    job_id: str | None
    kind: str  # standard | job
    problems: tuple[Problem, ...]
    checked: tuple[str, ...]  # what was looked at (paths)
    notes: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Repair:
    before: Validation
    actions: tuple[str, ...]
    after: Validation


def full_fold(store: JobStore) -> tuple[JobState, JournalRead]:
    read = read_journal(store.journal_path, 0)
    state = JobState(job_id=store.folder.name)
    for record, offset in zip(read.records, read.offsets, strict=True):
        apply(state, record, offset)
    return state, read


def validate(target: Target) -> Validation:
    record = target.session
    if record.kind == "workflow":
        return _validate_standard(record)
    ref = job_ref(target)
    store = ref.store()
    problems: list[Problem] = []
    notes: list[str] = []
    if not store.meta_path.exists():
        problems.append(Problem("meta_missing", f"the job metadata {store.meta_path} is missing", False))
    size = _stat(store.journal_path)[1]
    if size is None:
        problems.append(Problem("journal_missing", f"the journal {store.journal_path} is missing", False))
        return Validation(record.id, ref.job_id, "job", tuple(problems), (str(store.folder),))
    state, read = full_fold(store)
    problems += _journal_problems(store.journal_path, size, read)
    if store.snapshot_path.exists():
        problems += _snapshot_problems(store, size, read, state)
    else:  # normal until the first snapshot (a kill before it): loading folds the whole journal
        notes.append(f"no snapshot yet ({store.snapshot_path}): loading folds the whole journal")
    problems += _items_problems(store, state)
    if is_locked(record.id):
        notes.append("the job is being executed right now: its state may change while it is checked")
    checked = (str(store.journal_path), str(store.snapshot_path), str(store.items_path))
    return Validation(record.id, ref.job_id, "job", tuple(problems), checked, tuple(notes))


def _journal_problems(path: Path, size: int, read: JournalRead) -> list[Problem]:
    problems = []
    torn = size > 0 and _last_byte(path) != b"\n"
    for warning in read.warnings:
        if torn and "incomplete last record" in warning:
            problems.append(Problem("journal_torn", f"{warning}; {size - read.end_offset} byte(s) after the "
                                    "last complete record", True))
        else:
            problems.append(Problem("journal_garbled", warning, False))
    return problems


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1)


def _snapshot_problems(store: JobStore, size: int, read: JournalRead, full: JobState) -> list[Problem]:
    path = store.snapshot_path
    try:
        offset, snapshot = _read_snapshot(store)
    except (StateError, records.BadRecord, KeyError, TypeError, ValueError) as exc:
        return [Problem("snapshot_unreadable", f"the snapshot {path} is unreadable: {str(exc).splitlines()[0]}",
                        True)]
    if offset > size:
        return [Problem("snapshot_offset_beyond_journal", f"the snapshot {path} covers {offset} bytes of "
                        f"journal but the journal has only {size} (it was truncated after the snapshot)", True)]
    boundaries = {0, read.end_offset, *read.offsets}
    if offset not in boundaries:
        return [Problem("snapshot_offset_misaligned", f"the snapshot {path} ends at byte {offset}, which is "
                        "not a record boundary of the journal", True)]
    for record, record_offset in zip(read.records, read.offsets, strict=True):
        if record_offset >= offset:
            apply(snapshot, record, record_offset)
    differences = _differences(dump_state(snapshot), dump_state(full), snapshot, full)
    if differences:
        return [Problem("snapshot_disagrees", f"the snapshot {path} plus the journal after byte {offset} "
                        f"disagrees with a full fold of the journal: {'; '.join(differences)}", True)]
    return []


def _differences(loaded: dict[str, Any], folded: dict[str, Any], snapshot: JobState, full: JobState) -> list[str]:
    found = []
    for key in folded.keys() | loaded.keys():
        if key in ("items", "compact"):
            continue
        if loaded.get(key) != folded.get(key):
            found.append(f"{key}: snapshot {loaded.get(key)!r} vs journal {folded.get(key)!r}")
    if loaded["items"] != folded["items"] or loaded.get("compact") != folded.get("compact"):
        items = snapshot.items.differing(full.items)
        if items:
            shown = ", ".join(f"item_{k}" for k in items[:10]) + (" ..." if len(items) > 10 else "")
            found.append(f"{len(items)} item(s) differ ({shown})")
    return found


def _items_problems(store: JobStore, state: JobState) -> list[Problem]:
    if state.item_count is None:
        return []
    path = store.items_path
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return [Problem("items_missing", f"the frozen work list {path} is missing; the journal says "
                        f"{state.item_count} item(s)", False)]
    problems = []
    lines = 0
    with handle:
        for raw in handle:
            lines += 1
            try:
                json.loads(raw)
            except ValueError:
                problems.append(Problem("items_unreadable", f"{path} line {lines} is not JSON", False))
    if lines != state.item_count:
        problems.append(Problem("items_count_mismatch", f"{path} has {lines} line(s) but the journal froze "
                                f"{state.item_count} item(s)", False))
    return problems


def _validate_standard(record: SessionRecord) -> Validation:
    path = checkpoints.path_for(record.id)
    problems: list[Problem] = []
    try:
        checkpoint = checkpoints.load(record.id)
    except (StateError, TypeError) as exc:
        checkpoint = None
        problems.append(Problem("checkpoint_unreadable", f"the checkpoint {path} is unreadable: "
                                f"{str(exc).splitlines()[0]}", False))
    else:
        if checkpoint is None:
            problems.append(Problem("checkpoint_missing", f"the checkpoint {path} is missing", False))
    if checkpoint is not None:
        if checkpoint.session_id != record.id:
            problems.append(Problem("checkpoint_wrong_session", f"{path} belongs to {checkpoint.session_id}", False))
        bad = [k for k in checkpoint.completed if not str(k).isdigit() or int(k) >= checkpoint.total_steps]
        if bad:
            problems.append(Problem("checkpoint_bad_steps", f"{path} records steps outside 1..{checkpoint.total_steps}"
                                    f": {', '.join(map(str, bad))}", False))
    return Validation(record.id, None, "standard", tuple(problems), (str(path),))


def repair(target: Target) -> Repair:
    """Rebuild a job's snapshot from a full fold of its journal (cutting a torn last record first, as the
    journal writer would), under the session's execution lock."""
    before = validate(target)
    repairable = [p for p in before.problems if p.repairable]
    if before.kind != "job" or not repairable:
        return Repair(before=before, actions=(), after=before)
    ref = job_ref(target)
    actions = []
    with ExecutionLock(ref.session.id, purpose="checkpoints repair"):
        store = ref.store()
        if any(p.code == "journal_torn" for p in repairable):
            size = store.journal_path.stat().st_size
            Journal(store.journal_path).close()  # the writer's own torn-tail repair
            cut = size - store.journal_path.stat().st_size
            actions.append(f"cut an incomplete last record ({cut} bytes) from {store.journal_path}")
        state, read = full_fold(store)
        store.write_snapshot(state, read.end_offset)
        actions.append(f"rebuilt {store.snapshot_path} from {len(read.records)} journal record(s) "
                       f"(offset {read.end_offset})")
    return Repair(before=before, actions=tuple(actions), after=validate(target))
