"""A MapReduce job's state as a fold of its journal (invariant 2), and the compact snapshot format.

Journal records (one JSON object per line; `t` is the type):

    run / resume      {cid, sto?}                  an invocation began (its correlation id; sto: what to add to
                                                   its start records' st to get wall-clock time)
    setup_step        {index, vars}                a setup step completed, with the variables it captured
    setup_done        {captures}
    items_frozen      {count}                      the work list was frozen (items.jsonl)
    start             {i, a?, pid, pg?, st, w?, ts?} an attempt's first command is about to run (a omitted for
                                                   attempt 1; pg omitted when equal to pid; w: a remote worker)
    proc              {i, pid, pg?, st, w?}        a later command of the same attempt (or {ph, k, ...} for
                                                   a setup/reduce step)
    done              {i, a?, s?, d, x?, err?, out?, se?, log?, w?, ag?, final?, ts}
                                                   an attempt ended: s = failed | timed_out | errored |
                                                   interrupted, omitted for a success (x too when it is 0); a
                                                   omitted for attempt
                                                   1; final = dlq | skip when no retry follows; ag = what its
                                                   agent calls cost (agents/usage.py: usd, in, out, cr, cw,
                                                   turns, model, ms, api_ms, sid, calls?, partial?); k = the
                                                   kind of an interruption that was no one's fault (transient,
                                                   fatal, cluster) and r its reason for a cluster (worker_died,
                                                   worker_left, worker_unfit, cancelled, reconnected)
    item_part         {i, a, k, v}                 progress inside template step k of attempt a (its agent's
                                                   conversation: execution/agents/conversation.py)
    item_step         {i, a, k, vars}              template step k of attempt a completed (steps before the
                                                   template's last claude step only), with its variables
    spend             {ph, k, ag}                  a setup/reduce step's attempt that did not complete, and
                                                   what its agent calls cost (setup_step/reduce_step carry the
                                                   `ag` of the attempt that did)
    dlq_retry         {items, budget}              --force: these DLQ items get `budget` more attempts
    dlq_purge         {items}
    map_done / map_reopened / reduce_step {index, vars} / reduce_done / job_status {status, error}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prodigy.state.item_table import (  # noqa: F401 - the statuses and ItemState are imported from here
    DLQ,
    PENDING,
    PURGED,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    ItemState,
    ItemTable,
)
from prodigy.state.spend import add_spend

TERMINAL = (SUCCEEDED, DLQ, SKIPPED, PURGED)


@dataclass
class JobState:
    job_id: str
    phase: str = "setup"  # setup | map | reduce | done
    status: str = "running"  # running | interrupted | failed | completed
    setup_steps: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> captured variables
    setup_complete: bool = False
    captures: dict[str, Any] = field(default_factory=dict)  # variables exported by setup to map/reduce
    item_count: int | None = None  # set when the work list is frozen
    items: ItemTable = field(default_factory=ItemTable)  # only items that ever started (item_table.py)
    map_complete: bool = False
    reduce_steps: dict[int, dict[str, Any]] = field(default_factory=dict)
    reduce_complete: bool = False
    error: str | None = None
    resumes: int = 0
    step_proc: list[Any] | None = None  # [phase, index, pid, pgid, start_time] of a running setup/reduce step
    step_parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # "phase:index" -> progress in the step
    warnings: list[str] = field(default_factory=list)
    # Agent economics, summed from the `ag` of every record that has one (compact keys, see agents/usage.py):
    spend: dict[str, Any] = field(default_factory=dict)  # every agent call of the job: setup, items, reduce
    done_spend: dict[str, Any] = field(default_factory=dict)  # the attempts that completed their items
    costliest: list[Any] | None = None  # [item index, usd] of the most expensive successful attempt

    def __post_init__(self) -> None:
        if not isinstance(self.items, ItemTable):
            self.items = ItemTable(self.items)  # built from a dict of ItemState (tests, tools)
        if self.item_count is not None:
            self.items.limit = self.item_count

    @property
    def tally(self) -> dict[str, int]:
        """Status -> number of items that ever started (O(1) counts on jobs of any size)."""
        return self.items.tally

    def item(self, index: int) -> ItemState:
        """The live state of an item, to change it (a plain success is moved out of the compact arrays)."""
        state = self.items.materialise(index)
        return state if state is not None else self.items.add(index)

    def set_status(self, item: ItemState, status: str) -> None:
        """Every status change goes through here so counts stay O(1) on jobs of any size."""
        if item.status != status:
            self.tally[item.status] = self.tally.get(item.status, 0) - 1
            self.tally[status] = self.tally.get(status, 0) + 1
            item.status = status

    def status_of(self, index: int) -> str:
        return self.items.status_of(index)

    def count(self, *statuses: str) -> int:
        """Items in these statuses; PENDING includes items that never started."""
        total = sum(self.tally.get(status, 0) for status in statuses)
        if PENDING in statuses and self.item_count is not None:
            total += max(self.item_count - len(self.items), 0)
        return total

    def indexes(self, *statuses: str) -> list[int]:
        """Items in these statuses, in item order; PENDING includes items that never started."""
        wanted = set(statuses)
        tracked = self.items.tracked()
        count = self.item_count if PENDING in wanted else None  # with PENDING: the work list's items only
        found = [i for i, s in tracked.items() if s.status in wanted and (count is None or i < count)]
        if SUCCEEDED in wanted:
            found += (i for i in self.items.compact_indexes() if count is None or i < count)
        if count is not None:
            found += (i for i in self.items.not_compact_below(count) if i not in tracked)
        return sorted(found)


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
        state.step_parts.pop(f"setup:{record['index']}", None)  # done: its progress is not needed any more
    elif kind == "setup_done":
        state.setup_complete = True
        state.captures.update(record.get("captures") or {})
        state.phase = "map"
    elif kind == "items_frozen":
        state.item_count = int(record["count"])
        state.items.limit = state.item_count
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
    elif kind in ("item_part", "item_step"):
        _apply_progress(state, record)
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
        state.step_parts = {k: v for k, v in state.step_parts.items() if not k.startswith("reduce:")}
        state.phase = "map"
    elif kind == "reduce_step":
        state.reduce_steps[int(record["index"])] = record.get("vars") or {}
        state.step_proc = None
        state.step_parts.pop(f"reduce:{record['index']}", None)
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


def _apply_progress(state: JobState, record: dict[str, Any]) -> None:
    """item_part {i, a, k, v}: progress inside template step k; item_step {i, a, k, vars}: step k completed."""
    item = state.item(int(record["i"]))
    attempt = int(record.get("a", 1))
    progress = item.progress
    if progress is None or progress.get("a") != attempt:
        progress = item.progress = {"a": attempt, "steps": {}, "parts": {}}
    if record["t"] == "item_step":
        progress["steps"][str(record["k"])] = record.get("vars") or {}
    else:
        progress["parts"][str(record["k"])] = record.get("v") or {}


def _apply_done(state: JobState, record: dict[str, Any], offset: int) -> None:
    item = state.item(int(record["i"]))
    item.proc = None
    item.attempts = max(item.attempts, int(record.get("a", 1)))
    status = record.get("s", "succeeded")
    if status == "interrupted":
        state.set_status(item, PENDING)  # runs again on resume, as a new attempt; it used no retry
        item.interrupted = True
        if record.get("r") == "worker_died":  # not a failure, but the DLQ history names the worker that died
            item.failures = [*(item.failures or ()), offset]
        return  # its progress stays: the next attempt may continue it
    item.progress = None
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
        state.items.settle(int(record["i"]))  # a plain success joins the compact arrays
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
    """The snapshot form. Items that succeeded plainly (nearly all of them in a big job) are the compact block
    of item_table.py, about 3 bytes an item; the others an [status, attempts, offset, ...] list each."""
    others = {str(index): item.to_list() for index, item in sorted(state.items.dumped_live().items())}
    compact = state.items.dump_compact()
    return {
        "job_id": state.job_id, "phase": state.phase, "status": state.status,
        "setup_steps": {str(k): v for k, v in state.setup_steps.items()},
        "setup_complete": state.setup_complete, "captures": state.captures, "item_count": state.item_count,
        **({"compact": compact} if compact else {}), "items": others,
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
    items = state.items
    items.limit = state.item_count or 0
    for key, value in data.get("items", {}).items():
        items[int(key)] = ItemState.from_list(value)
    if data.get("compact"):
        items.load_compact(data["compact"])
    items.load_plain(data.get("succeeded") or [])  # the form before the compact block
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


