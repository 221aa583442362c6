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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import NotFoundError, StateError
from prodigy.state.atomic import read_json, write_bytes, write_json
from prodigy.state.journal import Journal, read_journal, read_record_at
from prodigy.state.sessions import now_iso

# Item statuses in the fold.
PENDING = "pending"
RUNNING = "running"  # started, no terminal record yet (in flight, or orphaned by a crash)
SUCCEEDED = "succeeded"
DLQ = "dlq"  # failed after its retries; retried only by resume --force / dlq retry
SKIPPED = "skipped"  # failed under on_item_failure: skip (accepted, never retried)
PURGED = "purged"  # dropped from the DLQ by `prodigy dlq purge`

TERMINAL = (SUCCEEDED, DLQ, SKIPPED, PURGED)
SNAPSHOT_EVERY_RECORDS = 2000
SNAPSHOT_EVERY_SECONDS = 10.0


@dataclass
class ItemState:
    status: str = PENDING
    attempts: int = 0  # attempts started so far
    offset: int | None = None  # journal offset of the last terminal ("done") record
    failures: list[int] = field(default_factory=list)  # offsets of failed attempts' records
    proc: list[Any] | None = None  # [pid, pgid, start_time(, worker)] of the running attempt's latest command
    retry_budget: int | None = None  # attempts allowed in the current round (set by --force)
    round_attempts: int = 0  # attempts made in the current round
    interrupted: bool = False  # its last attempt was cut short by an interrupt or a crash

    def to_list(self) -> list[Any]:
        return [self.status, self.attempts, self.offset, self.failures, self.proc, self.retry_budget,
                self.round_attempts, self.interrupted]

    @classmethod
    def from_list(cls, data: list[Any]) -> ItemState:
        return cls(*data)


@dataclass
class JobState:
    job_id: str
    phase: str = "setup"  # setup | map | reduce | done
    status: str = "running"  # running | interrupted | failed | completed
    setup_steps: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> captured variables
    setup_complete: bool = False
    captures: dict[str, Any] = field(default_factory=dict)  # variables exported by setup to map/reduce
    item_count: int | None = None  # set when the work list is frozen
    items: dict[int, ItemState] = field(default_factory=dict)  # only items that ever started
    map_complete: bool = False
    reduce_steps: dict[int, dict[str, Any]] = field(default_factory=dict)
    reduce_complete: bool = False
    error: str | None = None
    resumes: int = 0
    step_proc: list[Any] | None = None  # [phase, index, pid, pgid, start_time] of a running setup/reduce step
    warnings: list[str] = field(default_factory=list)
    tally: dict[str, int] = field(default_factory=dict)  # status -> number of tracked items

    def __post_init__(self) -> None:
        if self.items and not self.tally:
            for item in self.items.values():
                self.tally[item.status] = self.tally.get(item.status, 0) + 1

    def item(self, index: int) -> ItemState:
        state = self.items.get(index)
        if state is None:
            state = self.items[index] = ItemState()
            self.tally[PENDING] = self.tally.get(PENDING, 0) + 1
        return state

    def set_status(self, item: ItemState, status: str) -> None:
        """Every status change goes through here so counts stay O(1) on jobs of any size."""
        if item.status != status:
            self.tally[item.status] = self.tally.get(item.status, 0) - 1
            self.tally[status] = self.tally.get(status, 0) + 1
            item.status = status

    def status_of(self, index: int) -> str:
        state = self.items.get(index)
        return state.status if state else PENDING

    def count(self, *statuses: str) -> int:
        """Items in these statuses; PENDING includes items that never started."""
        total = sum(self.tally.get(status, 0) for status in statuses)
        if PENDING in statuses and self.item_count is not None:
            total += max(self.item_count - len(self.items), 0)
        return total

    def indexes(self, *statuses: str) -> list[int]:
        if PENDING in statuses and self.item_count is not None:
            wanted = set(statuses)
            return [i for i in range(self.item_count) if self.status_of(i) in wanted]
        return sorted(i for i, s in self.items.items() if s.status in statuses)


def item_id(index: int) -> str:
    return f"item_{index}"


def item_index(item: str) -> int:
    if not item.startswith("item_") or not item[5:].isdigit():
        raise ValueError(f"not an item id: {item!r}")
    return int(item[5:])


# ---------------------------------------------------------------- the fold


def apply(state: JobState, record: dict[str, Any], offset: int) -> None:
    """Fold one journal record into the state. Unknown record types are ignored (newer writers)."""
    kind = record.get("t")
    if kind == "setup_step":
        state.setup_steps[int(record["index"])] = record.get("vars") or {}
        state.captures.update(record.get("vars") or {})
        state.step_proc = None
    elif kind == "setup_done":
        state.setup_complete = True
        state.captures.update(record.get("captures") or {})
        state.phase = "map"
    elif kind == "items_frozen":
        state.item_count = int(record["count"])
        state.phase = "map"
    elif kind == "start":
        item = state.item(int(record["i"]))
        if item.status == RUNNING:
            item.interrupted = True  # the previous attempt never finished (a crash)
        state.set_status(item, RUNNING)
        item.attempts = max(item.attempts, int(record.get("a", item.attempts + 1)))
        item.round_attempts += 1
        item.proc = None
    elif kind == "proc":
        if "ph" in record:
            state.step_proc = [record["ph"], record["k"], record["pid"], record["pg"], record["st"]]
            return
        item = state.item(int(record["i"]))
        item.proc = [record["pid"], record["pg"], record["st"], *([record["w"]] if record.get("w") else [])]
    elif kind == "done":
        _apply_done(state, record, offset)
    elif kind == "dlq_retry":
        for index in record.get("items", []):
            item = state.item(int(index))
            if item.status == DLQ:
                state.set_status(item, PENDING)
                item.retry_budget = int(record.get("budget", 1))
                item.round_attempts = 0
    elif kind == "dlq_purge":
        for index in record.get("items", []):
            item = state.item(int(index))
            if item.status == DLQ:
                state.set_status(item, PURGED)
    elif kind == "map_done":
        state.map_complete = True
        state.phase = "reduce"
    elif kind == "map_reopened":
        state.map_complete = False
        state.reduce_complete = False
        state.reduce_steps.clear()
        state.phase = "map"
    elif kind == "reduce_step":
        state.reduce_steps[int(record["index"])] = record.get("vars") or {}
        state.step_proc = None
    elif kind == "reduce_done":
        state.reduce_complete = True
        state.phase = "done"
    elif kind == "job_status":
        state.status = record.get("status", state.status)
        state.error = record.get("error")
    elif kind == "resume":
        state.resumes += 1


def _apply_done(state: JobState, record: dict[str, Any], offset: int) -> None:
    item = state.item(int(record["i"]))
    item.proc = None
    status = record.get("s")
    if status == "interrupted":
        state.set_status(item, PENDING)  # runs again on resume, as a new attempt
        item.interrupted = True
        return
    item.interrupted = False
    item.offset = offset
    if status == "succeeded":
        state.set_status(item, SUCCEEDED)
        item.retry_budget = None
        return
    item.failures.append(offset)
    final = record.get("final")
    if final == "dlq":
        state.set_status(item, DLQ)
    elif final == "skip":
        state.set_status(item, SKIPPED)
    else:
        state.set_status(item, PENDING)  # a retry follows


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
        folder.mkdir(parents=True, exist_ok=True)
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
        return JobMeta(**{k: data.get(k, "") for k in JobMeta.__dataclass_fields__})

    # -- the frozen work list
    def freeze_items(self, items: list[Any]) -> None:
        """Write the work list once (invariant 4). A second call would be a bug: resume never re-reads input."""
        if self.items_path.exists():
            raise StateError(f"The work list of {self.folder.name} is already frozen ({self.items_path}).")
        lines = "".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in items)
        write_bytes(self.items_path, lines.encode())
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
            for index, line in enumerate(handle):
                if wanted is not None and index not in wanted:
                    continue
                try:
                    result[index] = json.loads(line)
                except ValueError:
                    raise StateError(f"The frozen work list {self.items_path} is corrupted at line "
                                     f"{index + 1}.") from None
        return result

    # -- journal
    def open_journal(self) -> None:
        if self._journal is None:
            self._journal = Journal(self.journal_path)

    def append(self, record: dict[str, Any], *, sync: bool = True) -> int:
        self.open_journal()
        assert self._journal is not None
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
        due = (self._records_since_snapshot >= SNAPSHOT_EVERY_RECORDS
               or time.monotonic() - self._last_snapshot >= SNAPSHOT_EVERY_SECONDS)
        if self.state is not None and self._journal is not None and (force or due):
            with self._append_lock:
                self._journal.sync()
                self.write_snapshot(self.state, self._journal.offset)

    def write_snapshot(self, state: JobState, offset: int) -> None:
        write_json(self.snapshot_path, {"offset": offset, "state": _dump_state(state)})
        self._records_since_snapshot = 0
        self._last_snapshot = time.monotonic()

    def close(self) -> None:
        if self._journal is not None:
            self.maybe_snapshot(force=True)
            self._journal.close()
            self._journal = None

    # -- loading
    def load_state(self) -> JobState:
        """Snapshot + journal tail. A bad snapshot is rebuilt from the whole journal (and said so)."""
        warnings: list[str] = []
        state, offset = None, 0
        try:
            data = read_json(self.snapshot_path, what="job checkpoint")
            state = _load_state(data["state"])
            offset = int(data["offset"])
        except FileNotFoundError:
            pass
        except (StateError, KeyError, TypeError, ValueError) as exc:
            warnings.append(f"the checkpoint {self.snapshot_path} is unreadable ({str(exc).splitlines()[0]}); "
                            "rebuilt the job state from the journal")
            state, offset = None, 0
        size = self.journal_path.stat().st_size if self.journal_path.exists() else 0
        if state is not None and offset > size:
            warnings.append(f"the journal {self.journal_path} is shorter than its checkpoint records "
                            f"({size} < {offset} bytes); kept the checkpoint's state")
            offset = size
        if state is None:
            state = JobState(job_id=self.folder.name)
            if size == 0 and not self.meta_path.exists():
                raise StateError(f"No job state in {self.folder}.")
        read = read_journal(self.journal_path, offset)
        for record, record_offset in zip(read.records, read.offsets, strict=True):
            apply(state, record, record_offset)
        state.warnings = warnings + read.warnings
        self.state = state
        self._records_since_snapshot = len(read.records)
        return state

    def record_at(self, offset: int | None) -> dict[str, Any] | None:
        return None if offset is None else read_record_at(self.journal_path, offset)


def _dump_state(state: JobState) -> dict[str, Any]:
    return {
        "job_id": state.job_id, "phase": state.phase, "status": state.status,
        "setup_steps": {str(k): v for k, v in state.setup_steps.items()},
        "setup_complete": state.setup_complete, "captures": state.captures, "item_count": state.item_count,
        "items": {str(k): v.to_list() for k, v in state.items.items()},
        "map_complete": state.map_complete,
        "reduce_steps": {str(k): v for k, v in state.reduce_steps.items()},
        "reduce_complete": state.reduce_complete, "error": state.error, "resumes": state.resumes,
        "step_proc": state.step_proc,
    }


def _load_state(data: dict[str, Any]) -> JobState:
    state = JobState(job_id=data["job_id"])
    state.phase, state.status = data["phase"], data["status"]
    state.setup_steps = {int(k): v for k, v in data.get("setup_steps", {}).items()}
    state.setup_complete = bool(data.get("setup_complete"))
    state.captures = dict(data.get("captures") or {})
    state.item_count = data.get("item_count")
    state.items = {int(k): ItemState.from_list(v) for k, v in data.get("items", {}).items()}
    state.__post_init__()
    state.map_complete = bool(data.get("map_complete"))
    state.reduce_steps = {int(k): v for k, v in data.get("reduce_steps", {}).items()}
    state.reduce_complete = bool(data.get("reduce_complete"))
    state.error = data.get("error")
    state.resumes = int(data.get("resumes", 0))
    state.step_proc = data.get("step_proc")
    return state


# ---------------------------------------------------------------- mappings and lookup


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
