"""The job-state fold and resume plan as they were before the compact item table (state/item_table.py):
a dict of ItemState per item, and the flat `succeeded` snapshot list. Kept verbatim as the reference that
tests/unit/test_compact_state.py compares the compact loader against. Do not change it to follow the code."""

# ruff: noqa
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prodigy.state.spend import add_spend

# Item statuses in the fold.
PENDING = "pending"
RUNNING = "running"  # started, no terminal record yet (in flight, or orphaned by a crash)
SUCCEEDED = "succeeded"
DLQ = "dlq"  # failed after its retries; retried only by resume --force / dlq retry
SKIPPED = "skipped"  # failed under on_item_failure: skip (accepted, never retried)
PURGED = "purged"  # dropped from the DLQ by `prodigy dlq purge`

TERMINAL = (SUCCEEDED, DLQ, SKIPPED, PURGED)


@dataclass(slots=True)
class ItemState:
    status: str = PENDING
    attempts: int = 0  # the highest attempt number seen
    offset: int | None = None  # journal offset of the last terminal ("done") record
    failures: list[int] | None = None  # offsets of failed attempts' records (None: none yet)
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
    step_parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # "phase:index" -> progress in the step
    warnings: list[str] = field(default_factory=list)
    tally: dict[str, int] = field(default_factory=dict)  # status -> number of tracked items
    # Agent economics, summed from the `ag` of every record that has one (compact keys, see agents/usage.py):
    spend: dict[str, Any] = field(default_factory=dict)  # every agent call of the job: setup, items, reduce
    done_spend: dict[str, Any] = field(default_factory=dict)  # the attempts that completed their items
    costliest: list[Any] | None = None  # [item index, usd] of the most expensive successful attempt

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
    if "ag" in record:
        add_spend(state.spend, record["ag"])
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
        item.attempts = max(item.attempts, int(record.get("a", 1)))
        item.proc = _proc(record)
    elif kind == "proc":
        if "ph" in record:
            state.step_proc = [record["ph"], record["k"], record["pid"], record.get("pg", record["pid"]),
                               record["st"]]
            return
        item = state.item(int(record["i"]))
        item.proc = _proc(record)
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
    elif kind == "step_part":
        state.step_parts[f"{record['ph']}:{record['k']}"] = record.get("v") or {}
    elif kind == "reduce_done":
        state.reduce_complete = True
        state.phase = "done"
    elif kind == "job_status":
        state.status = record.get("status", state.status)
        state.error = record.get("error")
    elif kind == "resume":
        state.resumes += 1


def _proc(record: dict[str, Any]) -> list[Any] | None:
    pid = record.get("pid")
    if pid is None:
        return None  # a start with no process recorded (nothing of it can be left running)
    return [pid, record.get("pg", pid), record["st"], *([record["w"]] if record.get("w") else [])]


def _apply_done(state: JobState, record: dict[str, Any], offset: int) -> None:
    item = state.item(int(record["i"]))
    item.proc = None
    item.attempts = max(item.attempts, int(record.get("a", 1)))
    status = record.get("s", "succeeded")
    if status == "interrupted":
        state.set_status(item, PENDING)  # runs again on resume, as a new attempt; it used no retry
        item.interrupted = True
        return
    item.round_attempts += 1
    item.interrupted = False
    item.offset = offset
    if status == "succeeded":
        state.set_status(item, SUCCEEDED)
        item.retry_budget = None
        if "ag" in record:
            add_spend(state.done_spend, record["ag"])
            usd = record["ag"].get("usd") if isinstance(record["ag"], dict) else None
            if isinstance(usd, (int, float)) and (state.costliest is None or usd > state.costliest[1]):
                state.costliest = [int(record["i"]), usd]
        return
    item.failures = [*(item.failures or ()), offset]
    final = record.get("final")
    if final == "dlq":
        state.set_status(item, DLQ)
    elif final == "skip":
        state.set_status(item, SKIPPED)
    else:
        state.set_status(item, PENDING)  # a retry follows


def dump_state(state: JobState) -> dict[str, Any]:
    """The snapshot form. Items that succeeded on their first round without failures (nearly all of them in
    a big job) are a flat [index, offset, attempts, ...] list: a few bytes each instead of a JSON object."""
    plain: list[int] = []
    others: dict[str, list[Any]] = {}
    for index, item in sorted(state.items.items()):  # in item order: the same fold gives the same bytes
        if (item.status == SUCCEEDED and not item.failures and item.retry_budget is None and not item.interrupted
                and item.round_attempts == item.attempts):
            plain += (index, item.offset if item.offset is not None else -1, item.attempts)
        else:
            others[str(index)] = item.to_list()
    return {
        "job_id": state.job_id, "phase": state.phase, "status": state.status,
        "setup_steps": {str(k): v for k, v in state.setup_steps.items()},
        "setup_complete": state.setup_complete, "captures": state.captures, "item_count": state.item_count,
        "succeeded": plain, "items": others,
        "map_complete": state.map_complete,
        "reduce_steps": {str(k): v for k, v in state.reduce_steps.items()},
        "reduce_complete": state.reduce_complete, "error": state.error, "resumes": state.resumes,
        "step_proc": state.step_proc, "step_parts": state.step_parts,
        **({"spend": state.spend, "done_spend": state.done_spend, "costliest": state.costliest}
           if state.spend else {}),
    }


def load_state_data(data: dict[str, Any]) -> JobState:
    state = JobState(job_id=data["job_id"])
    state.phase, state.status = data["phase"], data["status"]
    state.setup_steps = {int(k): v for k, v in data.get("setup_steps", {}).items()}
    state.setup_complete = bool(data.get("setup_complete"))
    state.captures = dict(data.get("captures") or {})
    state.item_count = data.get("item_count")
    items = {int(k): ItemState.from_list(v) for k, v in data.get("items", {}).items()}
    plain = data.get("succeeded") or []
    for pos in range(0, len(plain), 3):
        index, offset, attempts = plain[pos:pos + 3]
        items[index] = ItemState(SUCCEEDED, attempts, None if offset < 0 else offset, round_attempts=attempts)
    state.items = items
    state.__post_init__()
    state.map_complete = bool(data.get("map_complete"))
    state.reduce_steps = {int(k): v for k, v in data.get("reduce_steps", {}).items()}
    state.reduce_complete = bool(data.get("reduce_complete"))
    state.error = data.get("error")
    state.resumes = int(data.get("resumes", 0))
    state.step_proc = data.get("step_proc")
    state.spend = dict(data.get("spend") or {})
    state.done_spend = dict(data.get("done_spend") or {})
    state.costliest = data.get("costliest")
    state.step_parts = dict(data.get("step_parts") or {})
    return state




# ---------------------------------------------------------------- resume/plan.py, as it was

@dataclass(frozen=True)
class ResumePlan:
    phase: str  # setup | map | reduce | done
    total_items: int | None
    done: int  # items with a terminal success record: skipped
    in_flight: tuple[int, ...]  # started, never finished (crash) or cut short (interrupt): run again
    dlq: tuple[int, ...]  # failed permanently: run again only with --force
    pending: tuple[int, ...]  # never started, or waiting for a retry
    retry_dlq: bool  # --force: the DLQ items run again this time
    max_retries: int
    setup_next: int | None  # first setup step without a completion record
    reduce_next: int | None
    nothing_to_do: bool
    done_cost_usd: float | None = None  # what the agents of the done (skipped) items cost, as recorded

    @property
    def dispatch_order(self) -> list[int]:
        """In-flight first (they were the oldest work), then pending, then DLQ retries, each in item order."""
        order = list(self.in_flight) + list(self.pending)
        if self.retry_dlq:
            order += list(self.dlq)
        return order


def retry_command(job_id: str) -> str:
    """The one command every hint gives for retrying a job's dead-letter queue."""
    return f"prodigy resume-job {job_id} --force"


def plan_resume(state: JobState, *, setup_total: int, reduce_total: int, force: bool,
                max_retries: int, dlq_only: set[int] | None = None) -> ResumePlan:
    """dlq_only limits which DLQ items --force retries (`prodigy dlq retry --filter`)."""
    in_flight = tuple(i for i, s in sorted(state.items.items())
                      if s.status == RUNNING or (s.status == PENDING and s.interrupted))
    in_flight_set = set(in_flight)
    dlq = tuple(i for i in state.indexes(DLQ) if dlq_only is None or i in dlq_only)
    if state.item_count is None:
        pending: tuple[int, ...] = ()
    else:
        pending = tuple(i for i in state.indexes(PENDING) if i not in in_flight_set)
    retry_dlq = force and bool(dlq) and max_retries > 0
    setup_next = None if state.setup_complete else _first_missing(state.setup_steps, setup_total)
    reduce_next = None if state.reduce_complete else _first_missing(state.reduce_steps, reduce_total)
    phase = _phase(state)
    if retry_dlq and phase in ("reduce", "done"):
        phase = "map"  # the DLQ retry reopens the map phase; reduce then runs again over the new results
    finished = state.reduce_complete and state.map_complete and state.setup_complete
    return ResumePlan(
        phase=phase, total_items=state.item_count, done=state.count(SUCCEEDED), in_flight=in_flight, dlq=dlq,
        pending=pending, retry_dlq=retry_dlq, max_retries=max_retries, setup_next=setup_next,
        reduce_next=reduce_next, nothing_to_do=finished and not retry_dlq,
        done_cost_usd=state.done_spend.get("usd") if state.done_spend else None,
    )


def _phase(state: JobState) -> str:
    if not state.setup_complete:
        return "setup"
    if not state.map_complete:
        return "map"
    if not state.reduce_complete:
        return "reduce"
    return "done"


def _first_missing(done: dict[int, object], total: int) -> int:
    for index in range(total):
        if index not in done:
            return index
    return total
