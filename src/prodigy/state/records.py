"""Typed definitions of every record prodigy reads back from disk, and the one place they are checked.

Whatever is on disk may have been truncated, edited or damaged, so nothing read from it reaches the fold, a
view or a resume unchecked. A journal record of the wrong shape is skipped with a warning that names the file
and byte offset (journal.read_journal), a snapshot of the wrong shape is rebuilt from the journal
(jobs.JobStore.load_state), and a session record, job.json or standard checkpoint of the wrong shape is a
StateError (exit 6): never an internal error.

The journal is read on every resume, so its records are decoded with msgspec: one pass that parses and checks
the types against the Structs below (0.70 us a record, against 2.45 us for an unchecked json.loads and 3.53 us
for json.loads with hand checks: bench/journal_decode.py). Callers get plain dicts, exactly what json.loads would give, so a faster codec or a
typed fold can replace `decode_journal_line` without touching them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

import msgspec

MAX_INDEX = 2**40  # far beyond any real job; stops a damaged count from making a resume loop for ever
MAX_ITEMS = 100_000_000

Index = Annotated[int, msgspec.Meta(ge=0, le=MAX_INDEX)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_ITEMS)]
Attempt = Annotated[int, msgspec.Meta(ge=1, le=MAX_INDEX)]
Offset = Annotated[int, msgspec.Meta(ge=0)]
Pid = Annotated[int, msgspec.Meta(ge=0, le=2**31)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]
Vars = dict[str, Any]
Status = Literal["succeeded", "failed", "timed_out", "errored", "interrupted"]


class BadRecord(ValueError):
    """A record read from disk does not have the shape prodigy writes."""


# ---------------------------------------------------------------- journal records (t = type)


class _Record(msgspec.Struct, tag_field="t", kw_only=True):
    ts: float | None = None


class Start(_Record, tag="start"):
    i: Index
    a: Attempt = 1
    pid: Pid | None = None
    pg: Pid | None = None
    st: Seconds | None = None
    w: str | None = None

    def __post_init__(self) -> None:
        if self.pid is not None and self.st is None:
            raise ValueError("a start record with a pid needs its start time `st`")


class Proc(_Record, tag="proc"):
    pid: Pid
    st: Seconds
    i: Index | None = None
    ph: Literal["setup", "reduce"] | None = None
    k: Index | None = None
    pg: Pid | None = None
    w: str | None = None

    def __post_init__(self) -> None:
        if (self.i is None) == (self.ph is None) or (self.ph is not None and self.k is None):
            raise ValueError("a proc record names either an item `i` or a phase step `ph` and `k`")


class Done(_Record, tag="done"):
    i: Index
    a: Attempt = 1
    s: Status | None = None
    x: int | None = None
    d: Seconds | None = None
    out: str | None = None
    se: str | None = None
    err: str | None = None
    log: str | None = None
    w: str | None = None
    final: Literal["dlq", "skip"] | None = None
    k: Any = None  # why an interrupted attempt was not the item's fault (transient, fatal)
    ag: Any = None  # what the attempt's agent calls cost (state/spend.py reads any shape)


class SetupStep(_Record, tag="setup_step"):
    index: Index
    vars: Vars | None = None
    ag: Any = None


class SetupDone(_Record, tag="setup_done"):
    captures: Vars | None = None


class ItemsFrozen(_Record, tag="items_frozen"):
    count: Count


class Run(_Record, tag="run"):
    cid: str | None = None


class Resume(_Record, tag="resume"):
    cid: str | None = None
    force: bool = False
    max_retries: int | None = None


class DlqRetry(_Record, tag="dlq_retry"):
    items: list[Index]
    budget: Attempt = 1


class DlqPurge(_Record, tag="dlq_purge"):
    items: list[Index]


class MapDone(_Record, tag="map_done"):
    pass


class MapReopened(_Record, tag="map_reopened"):
    reason: str | None = None


class ReduceStep(_Record, tag="reduce_step"):
    index: Index
    vars: Vars | None = None
    ag: Any = None


class ReduceDone(_Record, tag="reduce_done"):
    pass


class JobStatus(_Record, tag="job_status"):
    status: str
    error: str | None = None


class ItemPart(_Record, tag="item_part"):
    """Progress inside template step k of an item's attempt (its agent's conversation: resume inside the agent)."""

    i: Index
    k: Index
    a: Attempt = 1
    v: Vars | None = None


class ItemStep(_Record, tag="item_step"):
    i: Index
    k: Index
    a: Attempt = 1
    vars: Vars | None = None


class Spend(_Record, tag="spend"):
    ph: Literal["setup", "reduce"]
    k: Index
    ag: Vars



class StepPart(_Record, tag="step_part"):
    ph: Literal["setup", "reduce"]
    k: Index
    v: Vars | None = None


JOURNAL_TYPES = (Start, Proc, Done, SetupStep, SetupDone, ItemsFrozen, Run, Resume, DlqRetry, DlqPurge, MapDone,
                 MapReopened, ReduceStep, ReduceDone, JobStatus, ItemPart, ItemStep, Spend, StepPart)
KNOWN_TYPES = frozenset(t.__struct_config__.tag for t in JOURNAL_TYPES)
JournalRecord = (Start | Proc | Done | SetupStep | SetupDone | ItemsFrozen | Run | Resume | DlqRetry | DlqPurge
                 | MapDone | MapReopened | ReduceStep | ReduceDone | JobStatus | ItemPart | ItemStep | Spend
                 | StepPart)

# The compact form of the most common record, a first attempt's start on this machine whose process leads its
# own group: ["s", i, pid, st] instead of {"t":"start","i":i,"pid":pid,"st":st} (32 bytes, not 53: a
# 1,000,000-item job's journal is 20 MB smaller). Every reader gets it as that dict (or, from the typed
# readers, as the tuple itself); `encode_journal` writes it wherever a record has exactly that shape.
StartRow = tuple[Literal["s"], Index, Pid, Seconds]
_START_KEYS = frozenset({"t", "i", "pid", "st"})

_typed = msgspec.json.Decoder(JournalRecord)
_typed_or_row = msgspec.json.Decoder(JournalRecord | StartRow)
_row = msgspec.json.Decoder(StartRow)
_plain = msgspec.json.Decoder()


def encode_journal(record: dict[str, Any]) -> bytes:
    """A journal line's bytes (without the newline): a plain start record as its row, anything else as JSON."""
    if record.keys() == _START_KEYS and record["t"] == "start" and type(record["i"]) is int \
            and type(record["pid"]) is int and isinstance(record["st"], (int, float)):
        return msgspec.json.encode(("s", record["i"], record["pid"], float(record["st"])))
    return encode(record)


def _start(row: tuple[str, int, int, float] | list[Any]) -> dict[str, Any]:
    return {"t": "start", "i": row[1], "pid": row[2], "st": row[3]}


def as_record(value: Any) -> dict[str, Any] | None:
    """A journal line already parsed as plain JSON -> its record: a start row's start record, an object as it
    is, None for anything else. (Unchecked: for tools that rewrite or measure journals line by line.)"""
    if isinstance(value, list) and len(value) == 4 and value[0] == "s":
        return _start(value)
    return value if isinstance(value, dict) else None


def decode_journal_line(raw: bytes) -> dict[str, Any]:
    """One journal line -> the record as a dict (what json.loads gives), or BadRecord saying what is wrong.

    A record of a type this prodigy does not know (written by a newer one) is returned unchecked: the fold
    ignores it."""
    if raw.lstrip(b" \t\r\n")[:1] == b"[":  # JSON's white space, as the decoders allow it
        try:
            return _start(_row.decode(raw))
        except msgspec.ValidationError as exc:
            raise BadRecord(f"not a start row: {exc}") from None
        except msgspec.DecodeError:
            return _lenient(raw)  # raises: an array is never a record unless it is a start row
    try:
        _typed.decode(raw)
        return _plain.decode(raw)
    except msgspec.ValidationError as exc:
        try:
            record = _plain.decode(raw)
        except msgspec.DecodeError:
            return _lenient(raw)
        if not isinstance(record, dict):
            raise BadRecord("not a JSON object") from None
        if not isinstance(record.get("t"), str) or record["t"] not in KNOWN_TYPES:
            return record
        raise BadRecord(str(exc)) from None
    except msgspec.DecodeError:
        return _lenient(raw)


def typed_journal_line(raw: bytes) -> Any:
    """One journal line -> its typed record (a Struct above, or a start row's tuple; the same checks as
    `decode_journal_line`), None for a record of a type this prodigy does not know, or BadRecord. For readers
    that aggregate a whole journal (events stats): they read attributes, and never pay for the dict."""
    try:
        typed = _typed_or_row.decode(raw)
        if _utf8(raw):
            return typed
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    record = decode_journal_line(raw)  # BadRecord, or a record that is fine once read leniently
    if record.get("t") not in KNOWN_TYPES:
        return None
    return msgspec.convert(_finite(record), type=_typed.type)


_block = msgspec.json.Decoder(list[JournalRecord | StartRow])
_TWO_ON_ONE_LINE = re.compile(rb"[}\]][ \t\r]*,[ \t\r]*[{\[]")


def decode_journal_block(lines: bytes) -> list[Any]:
    """Whole journal lines (each ending in a newline) -> their typed records in one msgspec call, exactly what
    `typed_journal_line` gives line by line, three times faster; BadRecord when the block holds anything else
    (a damaged line, a record of an unknown type: the caller then reads that block line by line).

    The lines become one JSON array (a comma before each newline). That is the same as reading them one by one
    only if every element is exactly one line: no line may hold two records (a `},{` or `],[` (or mixed)
    outside the records' strings; the search also matches inside them, which only sends such a block line by
    line), and there are as many elements as lines (an element can only span lines by taking up more than
    one). Start rows come back as their tuples."""
    if _two_on_one_line(lines):
        raise BadRecord("a line may hold more than one record")
    try:
        found = _block.decode(b"[" + lines[:-1].replace(b"\n", b",\n") + b"]")
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise BadRecord("a line of the block is not a known record") from None
    if len(found) != lines.count(b"\n"):
        raise BadRecord("a record spans lines")
    if not _utf8(lines):
        raise BadRecord("a line is not UTF-8")
    return found


def _utf8(raw: bytes) -> bool:
    """The typed decoder skips the fields it does not know without checking their text; the dict decoder of
    `decode_journal_line` refuses a record whose text is not UTF-8 anywhere, so these readers do too."""
    if raw.isascii():
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _two_on_one_line(lines: bytes) -> bool:
    return _TWO_ON_ONE_LINE.search(lines) is not None


def _lenient(raw: bytes) -> dict[str, Any]:
    # Python's json writes NaN and Infinity for such floats (a captured value may hold one); msgspec reads
    # only strict JSON, so such a line is parsed by json and checked against the same types.
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRecord("not valid JSON") from None
    if not isinstance(record, dict):
        raise BadRecord("not a JSON object")
    if record.get("t") in KNOWN_TYPES:
        try:
            msgspec.convert(_finite(record), type=_typed.type)
        except msgspec.ValidationError as exc:
            raise BadRecord(str(exc)) from None
    return record


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return 0.0
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def encode(record: Any) -> bytes:
    """JSON for a state file or journal line. A lone surrogate (from item data) is written as its escape,
    which reads back as the same string."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str).encode(
        "utf-8", "backslashreplace")


# ---------------------------------------------------------------- the job snapshot (checkpoint.json)

ItemStatus = Literal["pending", "running", "succeeded", "dlq", "skipped", "purged"]
ProcList = list[int | float | str]


class CompactBlock(msgspec.Struct):
    """The plain successes as arrays (state/item_table.py); its bytes are checked where they are decoded
    (item_table.decode_compact: a block that does not decode is a ValueError, and the snapshot is rebuilt)."""

    n: Count
    z: str
    count: Count | None = None


class SnapshotState(msgspec.Struct):
    job_id: str
    phase: Literal["setup", "map", "reduce", "done"]
    status: str
    setup_steps: dict[str, Vars] = {}
    setup_complete: bool = False
    captures: Vars = {}
    item_count: Count | None = None
    succeeded: list[int] = []  # the form before `compact`: [index, offset, attempts, ...]
    compact: CompactBlock | None = None
    # ItemState.to_list: 8 values, and a 9th (the attempt's progress, a mapping) while it may be continued
    items: dict[str, list[Any]] = {}
    map_complete: bool = False
    reduce_steps: dict[str, Vars] = {}
    reduce_complete: bool = False
    error: str | None = None
    resumes: int = 0
    step_proc: list[int | float | str] | None = None


class Snapshot(msgspec.Struct):
    offset: Offset
    state: SnapshotState
    tail: str | None = None


def snapshot(data: Any) -> dict[str, Any]:
    """Check a decoded checkpoint.json; returns it unchanged, or raises BadRecord."""
    try:
        checked = msgspec.convert(data, type=Snapshot)
    except msgspec.ValidationError:
        try:  # a NaN or infinity (Python's json writes them for such floats) fails a bound: check it as 0
            checked = msgspec.convert(_finite(data), type=Snapshot)
        except msgspec.ValidationError as exc:
            raise BadRecord(str(exc)) from None
    state = checked.state
    if state.compact is not None and state.item_count is not None and state.compact.n > state.item_count:
        raise BadRecord(f"`compact` holds {state.compact.n} items, more than the job's {state.item_count}")
    if len(state.succeeded) % 3:
        raise BadRecord("`succeeded` is not a list of [index, offset, attempts] triples")
    for pos in range(0, len(state.succeeded), 3):
        index, _offset, attempts = state.succeeded[pos: pos + 3]
        if not 0 <= index <= MAX_INDEX or attempts < 0:
            raise BadRecord(f"`succeeded` has a bad entry at position {pos}")
    for key in (*state.setup_steps, *state.reduce_steps, *state.items):
        if not key.isdigit() or int(key) > MAX_INDEX:
            raise BadRecord(f"{key!r} is not a step or item index")
    for key, item in state.items.items():
        _check_item(item, key)
        if item[4] is not None:
            _check_proc(item[4], f"items[{key}] process")
    if state.step_proc is not None:
        if len(state.step_proc) != 5 or state.step_proc[0] not in ("setup", "reduce"):
            raise BadRecord("`step_proc` is not [phase, index, pid, pgid, start time]")
        _check_proc(state.step_proc[2:], "step_proc")
    return data


ItemList = tuple[ItemStatus, int, Offset | None, list[Offset] | None, ProcList | None, int | None, int, bool]


def _check_item(item: list[Any], key: str) -> None:
    if len(item) not in (8, 9) or (len(item) == 9 and not isinstance(item[8], dict)):
        raise BadRecord(f"items[{key}] is not an item state of 8 values (and its progress)")
    try:
        msgspec.convert(item[:8], type=ItemList)
    except msgspec.ValidationError as exc:
        raise BadRecord(f"items[{key}]: {exc}") from None


def _check_proc(proc: list[Any], where: str) -> None:
    ok = (len(proc) in (3, 4) and all(type(v) is int and 0 <= v <= 2**31 for v in proc[:2])
          and type(proc[2]) in (int, float) and proc[2] >= 0 and all(isinstance(v, str) for v in proc[3:]))
    if not ok:
        raise BadRecord(f"{where} is not [pid, pgid, start time(, worker)]")


# ---------------------------------------------------------------- records read as dataclasses


class WorktreeInfo(msgspec.Struct):
    """A session record's `extra.worktree` (execution/worktree.py SessionWorktree.to_json)."""

    repo_root: str
    path: str
    branch: str
    original_head: str | None = None
    original_branch: str | None = None
    subdir: str = ""
    outcome: str | None = None
    removed_at: str | None = None


class SessionExtra(msgspec.Struct):
    """The known keys of a session record's free-form `extra`; others are kept unchecked."""

    profile: str | None = None
    worktree_disabled: str | None = None
    worktree: WorktreeInfo | None = None


def session_extra(extra: dict[str, Any]) -> None:
    try:
        msgspec.convert(extra, type=SessionExtra)
    except msgspec.ValidationError as exc:
        raise BadRecord(f"its `extra` is of the wrong shape: {exc}") from None


def convert(data: dict[str, Any], cls: type, what: str) -> Any:
    """A dataclass record (session, job.json, standard checkpoint) from its JSON, its field types checked.
    Unknown keys are ignored (a newer prodigy may add some)."""
    known = getattr(cls, "__dataclass_fields__", {})
    values = {k: v for k, v in data.items() if k in known}
    try:
        return msgspec.convert(values, type=cls)
    except msgspec.ValidationError as exc:
        raise BadRecord(f"a field has the wrong type or is missing ({exc})") from None


def check_in_flight(in_flight: dict[str, Any] | None) -> None:
    """A standard checkpoint's running step: {index, pid, pgid, start_time, ...}, as a resume reaps it."""
    if in_flight is None:
        return
    index, pid, pgid, start = (in_flight.get(k) for k in ("index", "pid", "pgid", "start_time"))
    ok = (type(index) is int and index >= 0 and all(v is None or (type(v) is int and 0 <= v <= 2**31)
                                                    for v in (pid, pgid))
          and (start is None or (type(start) in (int, float) and start >= 0)))
    if not ok:
        raise BadRecord("`in_flight` is not {index, pid, pgid, start_time}")
