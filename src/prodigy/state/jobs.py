"""A MapReduce job on disk: state/{repo}/mapreduce/jobs/{job_id}/

    job.json          metadata (ids, workflow path and hash, run dir), written once
    workflow.yml      the workflow text the job started with
    items.jsonl       the frozen work list, one item per line; line n is item_<n> (invariant 4)
    journal.jsonl     every state change, append-only, fsync'd per record (invariant 1, 2)
    checkpoint.json   the journal folded up to a byte offset, so loading reads only the tail

The journal is the single source of truth. JobState is its fold; every count, the DLQ and ${map.results}
are computed from it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import NotFoundError, StateError
from prodigy.state import records, storage
from prodigy.state.atomic import read_json, remove_stale_temps, write_bytes, write_json
from prodigy.state.job_repair import missing_records, offset_mismatch
from prodigy.state.job_state import (  # noqa: F401 - re-exported: the store's callers use these names
    DLQ,
    PENDING,
    PURGED,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TERMINAL,
    ItemState,
    JobState,
    apply,
    dump_state,
    item_id,
    item_index,
    load_state_data,
)
from prodigy.state.journal import Journal, read_journal, read_record_at, tail_mark
from prodigy.state.sessions import now_iso

SNAPSHOT_EVERY_RECORDS = 1000  # about 500 items (a start and a done record each)
SNAPSHOT_EVERY_SECONDS = 30.0


# ---------------------------------------------------------------- the store


@dataclass(frozen=True)
class JobMeta:
    job_id: str
    session_id: str
    workflow_path: str
    workflow_sha256: str
    run_dir: str
    repo: str
    created_at: str


class JobStore:
    """Reads and writes one job folder. Only the holder of the session's execution lock writes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._journal: Journal | None = None
        self._append_lock = threading.Lock()  # worker threads record their process groups through append()
        self._records_since_snapshot = 0
        self._last_snapshot = time.monotonic()
        self.state: JobState | None = None
        self._repairs: list[dict[str, Any]] | None = None  # set by load_state when snapshot and journal disagree

    # -- paths
    @property
    def meta_path(self) -> Path:
        return self.folder / "job.json"

    @property
    def journal_path(self) -> Path:
        return self.folder / "journal.jsonl"

    @property
    def snapshot_path(self) -> Path:
        return self.folder / "checkpoint.json"

    @property
    def items_path(self) -> Path:
        return self.folder / "items.jsonl"

    @property
    def workflow_copy_path(self) -> Path:
        return self.folder / "workflow.yml"

    # -- creation and metadata
    @classmethod
    def create(cls, meta: JobMeta, workflow_text: str) -> JobStore:
        folder = paths.job_dir(meta.repo, meta.job_id)
        storage.private_dir(folder)
        store = cls(folder)
        write_bytes(store.workflow_copy_path, workflow_text.encode())
        write_json(store.meta_path, meta.__dict__)
        store.state = JobState(job_id=meta.job_id)
        return store

    def meta(self) -> JobMeta:
        try:
            data = read_json(self.meta_path, what="job metadata")
        except FileNotFoundError:
            raise StateError(f"Job metadata missing: {self.meta_path}") from None
        data.pop("schema_version", None)
        try:
            return records.convert({k: data.get(k, "") for k in JobMeta.__dataclass_fields__}, JobMeta,
                                   "job metadata")
        except records.BadRecord as exc:
            raise StateError(f"The job metadata {self.meta_path} is damaged: {exc}.",
                             hint="It is written once when the job starts; restore it from a backup, or start the "
                             "workflow again.") from None

    # -- the frozen work list
    def freeze_items(self, items: list[Any]) -> None:
        """Write the work list once (invariant 4). A second call would be a bug: resume never re-reads input.
        The list counts as frozen once its `items_frozen` record is in the journal: a file left by a run that
        died (or hit a full disk) before writing that record is replaced."""
        if self.items_path.exists() and (self.state is None or self.state.item_count is not None):
            raise StateError(f"The work list of {self.folder.name} is already frozen ({self.items_path}).")
        write_bytes(self.items_path, b"".join(records.encode(item) + b"\n" for item in items))
        self.append({"t": "items_frozen", "count": len(items)})

    def load_items(self, wanted: set[int] | None = None) -> dict[int, Any]:
        """Items by index; with `wanted`, only those are decoded (the rest are skipped unparsed)."""
        result: dict[int, Any] = {}
        try:
            handle = open(self.items_path, "rb")
        except FileNotFoundError:
            raise StateError(f"The frozen work list {self.items_path} is missing.",
                             hint="The job folder was damaged; the job cannot continue its map phase.") from None
        with handle:
            lines = enumerate(handle) if wanted is None else _wanted_lines(handle, wanted)
            for index, line in lines:
                try:
                    result[index] = json.loads(line)
                except (ValueError, RecursionError):
                    raise StateError(f"The frozen work list {self.items_path} is corrupted at line "
                                     f"{index + 1}.") from None
        return result

    # -- journal
    def open_journal(self) -> None:
        """Open the journal for writing (only the lock holder does). First clean up what a killed write left
        (stale snapshot temp files), and if the snapshot did not fit the journal, append the completed work
        only the snapshot knew and write a fresh snapshot, before any new record."""
        if self._journal is not None:
            return
        remove_stale_temps(self.folder, self.snapshot_path.name)
        self._journal = Journal(self.journal_path)
        if self._repairs is not None and self.state is not None:
            repairs, self._repairs = self._repairs, None
            for record in repairs:
                self._journal.append({**record, "ts": round(time.time(), 3)}, sync=False)
            self._journal.sync()
            fresh = JobState(job_id=self.state.job_id)
            read = read_journal(self.journal_path)
            for record, offset in zip(read.records, read.offsets, strict=True):
                apply(fresh, record, offset)
            fresh.warnings = self.state.warnings
            self.state.__dict__.update(fresh.__dict__)  # the same object: callers hold it
            self.write_snapshot(self.state, self._journal.offset)

    def sync(self) -> None:
        """Make every record appended so far durable (one fsync covers them all)."""
        if self._journal is not None:
            self._journal.sync()

    def append(self, record: dict[str, Any], *, sync: bool = True, stamp: bool = True) -> int:
        self.open_journal()
        assert self._journal is not None
        if stamp:
            record.setdefault("ts", round(time.time(), 3))
        with self._append_lock:
            offset = self._journal.append(record, sync=False)
            if self.state is not None:
                apply(self.state, record, offset)
            self._records_since_snapshot += 1
        if sync:
            self._journal.sync()  # outside the lock so concurrent appends share one fsync
        return offset

    def maybe_snapshot(self, *, force: bool = False) -> None:
        # A snapshot costs time proportional to the job, so big jobs take them less often: at most a few per
        # pass over the items, keeping the total cost linear while a crash still replays a bounded tail.
        every = max(SNAPSHOT_EVERY_RECORDS, len(self.state.items) // 4 if self.state else 0)
        due = self._records_since_snapshot >= every or (
            self._records_since_snapshot and time.monotonic() - self._last_snapshot >= SNAPSHOT_EVERY_SECONDS)
        if self.state is not None and self._journal is not None and (force or due):
            with self._append_lock:
                self._journal.sync()
                self.write_snapshot(self.state, self._journal.offset)

    def write_snapshot(self, state: JobState, offset: int) -> None:
        write_json(self.snapshot_path, {"offset": offset, "tail": tail_mark(self.journal_path, offset),
                                        "state": dump_state(state)}, compact=True)
        self._records_since_snapshot = 0
        self._last_snapshot = time.monotonic()

    def close(self) -> None:
        if self._journal is not None:
            self.maybe_snapshot(force=True)
            self._journal.close()
            self._journal = None

    # -- loading
    def load_state(self) -> JobState:
        """Snapshot + journal tail. A snapshot that is unreadable or of the wrong shape is rebuilt from the whole
        journal; one whose offset does not fit the journal too, keeping the completed work it knew (see
        job_repair). Both are said in `state.warnings`."""
        warnings: list[str] = []
        snapshot, offset, tail = self._read_snapshot(warnings)
        size = self.journal_path.stat().st_size if self.journal_path.exists() else 0
        repairs: list[dict[str, Any]] | None = None
        if snapshot is not None:
            mismatch = offset_mismatch(self.journal_path, offset, size, tail)
            if mismatch is not None:
                journal_state = _fold(JobState(job_id=self.folder.name), read_journal(self.journal_path))
                repairs = missing_records(snapshot, journal_state)
                warnings.append(f"{mismatch} ({self.snapshot_path}); rebuilt the job state from the whole journal"
                                + (f" and re-recorded {len(repairs)} record(s) of completed work only the checkpoint knew"
                                   if repairs else "") + ", and wrote a fresh checkpoint")
                snapshot, offset = None, 0
        state = snapshot
        if state is None:
            state = JobState(job_id=self.folder.name)
            if size == 0 and not self.meta_path.exists():
                raise StateError(f"No job state in {self.folder}.")
        read = read_journal(self.journal_path, offset)
        _fold(state, read)
        for record in repairs or ():
            apply(state, record, None)  # type: ignore[arg-type] - in memory until the writer appends them
        state.warnings = warnings + read.warnings
        self.state = state
        self._repairs = repairs  # a list (maybe empty): the writer appends it and writes a fresh snapshot
        self._records_since_snapshot = len(read.records)
        return state

    def _read_snapshot(self, warnings: list[str]) -> tuple[JobState | None, int, str | None]:
        try:
            data = records.snapshot(read_json(self.snapshot_path, what="job checkpoint"))
            return load_state_data(data["state"]), int(data["offset"]), data.get("tail")
        except FileNotFoundError:
            return None, 0, None
        except (StateError, records.BadRecord, KeyError, TypeError, ValueError) as exc:
            reason = str(exc).splitlines()[0].replace(f"The job checkpoint {self.snapshot_path} is ", "")
            warnings.append(f"the checkpoint {self.snapshot_path} is unreadable ({reason.rstrip('.')}); "
                            "rebuilt the job state from the journal")
            return None, 0, None

    def record_at(self, offset: int | None) -> dict[str, Any] | None:
        return None if offset is None else read_record_at(self.journal_path, offset)


def _wanted_lines(handle: Any, wanted: set[int], block: int = 1 << 20) -> Iterator[tuple[int, bytes]]:
    """(index, line) of the wanted lines only: blocks whose lines are all unwanted are counted, not split (a
    resume of 10 items left in a 1,000,000-item work list reads it at the speed of bytes.count)."""
    pending = sorted(i for i in wanted if i >= 0)
    at, first, carry = 0, 0, b""  # first: the index of the first line starting in `carry + data`
    while at < len(pending):
        data = handle.read(block)
        if not data:
            if carry:
                yield from ((first, carry),) if pending[at] == first else ()
            return
        data = carry + data
        cut = data.rfind(b"\n") + 1
        whole, carry = data[:cut], data[cut:]
        count = whole.count(b"\n")
        if pending[at] < first + count:
            for offset, line in enumerate(whole.split(b"\n")[:count]):
                while at < len(pending) and pending[at] < first + offset:
                    at += 1
                if at < len(pending) and pending[at] == first + offset:
                    yield first + offset, line
                    at += 1
        first += count


# ---------------------------------------------------------------- mappings and lookup


def _fold(state: JobState, read: Any) -> JobState:
    for record, offset in zip(read.records, read.offsets, strict=True):
        apply(state, record, offset)
    return state


def write_mappings(job_id: str, session_id: str, workflow_name: str) -> None:
    record = {"session_id": session_id, "job_id": job_id, "workflow_name": workflow_name,
              "created_at": now_iso()}
    write_json(paths.job_mapping_file(job_id), record)
    write_json(paths.session_mapping_file(session_id), record)


def find_job_folder(job_id: str, repo: str | None = None) -> Path:
    if repo:
        folder = paths.job_dir(repo, job_id)
        if folder.is_dir():
            return folder
    state_root = paths.home() / "state"
    for folder in state_root.glob(f"*/mapreduce/jobs/{job_id}"):
        if folder.is_dir():
            return folder
    raise NotFoundError(
        f"MapReduce job folder not found for {job_id}.",
        hint=f"Searched {state_root}/*/mapreduce/jobs/. The job may have been cleaned up; "
        "see what exists with: prodigy sessions list",
    )


def open_store(job_id: str, repo: str | None = None) -> JobStore:
    return JobStore(find_job_folder(job_id, repo))
