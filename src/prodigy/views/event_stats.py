"""`prodigy events stats` in one pass and constant memory: the counts, outcomes, durations and agent costs that
views/events.py's `compute_stats` and `agent_stats` compute from every event and record, accumulated while
the journal streams by (state/journal.py::scan_journal) instead of materialising two million dicts and sorting
them. A 1,000,000-item job's stats took 20 s and 2 GB that way; streamed they take about a second and a few
tens of MB. tests/unit/test_event_stats.py checks the two give the same answer on generated jobs.

What the one pass keeps: a counter per derived event type, each item's last final outcome (a byte per item),
the completed attempts' durations as value -> count (they are rounded to the millisecond, so a job has few
distinct values and the nearest-rank percentiles stay exact), the sum of every `ag`, and the completing
attempt's cost per item (only for jobs whose items have agent costs)."""

from __future__ import annotations

import os
import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.state import records as r
from prodigy.state.journal import scan_journal, split_point
from prodigy.state.spend import add_spend, readable

_NONE, _OK, _FAILED = 0, 1, 2
_BIG_INDEX = 1 << 26  # item indexes above it (a damaged record) are counted in a dict, not the byte array
_KEEP_MINE = bytes([0xFF] + [0] * 255)
PARALLEL_FROM = 32 << 20  # a journal this big is read by two processes, a half each


@dataclass
class StatsAccumulator:
    by_type: Counter[str] = field(default_factory=Counter)
    total: int = 0
    finals: bytearray = field(default_factory=bytearray)  # item index -> its last final outcome
    extra_finals: dict[Any, int] = field(default_factory=dict)  # items named by an id that is not item_<n>
    durations: Counter[float] = field(default_factory=Counter)
    spend: dict[str, Any] = field(default_factory=dict)
    any_spend: bool = False
    item_costs: dict[int, float] = field(default_factory=dict)  # the completing attempt's cost, per item
    resumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    # -- the journal (typed records, a block at a time: the loop is the cost, so it is kept flat)
    def records(self, block: list[Any]) -> None:
        start_type, done_type = r.Start, r.Done
        finals, durations = self.finals, self.durations
        size = len(finals)
        started = completed = 0
        for rec in block:
            kind = type(rec)
            if kind is start_type or kind is tuple:  # a start record, or its compact row
                started += 1
            elif kind is done_type:
                ag, status = rec.ag, rec.s
                if ag is not None:
                    self._spend(ag)
                if status is None or status == "succeeded":
                    completed += 1
                    index = rec.i
                    if index < size:
                        finals[index] = _OK
                    else:
                        self._final(index, _OK)
                        finals, size = self.finals, len(self.finals)
                    if rec.d is not None:
                        durations[rec.d] += 1
                    if ag is not None and status is None:  # as agent_stats: only a record without a status
                        self._cost(index, ag)
                else:
                    self._failed(rec)
            else:
                ag = getattr(rec, "ag", None)
                if ag is not None:
                    self._spend(ag)
        for name, number in (("item_started", started), ("item_completed", completed)):
            if number:
                self.by_type[name] += number
        self.total += started + completed

    def _spend(self, ag: Any) -> None:
        if isinstance(ag, dict):
            add_spend(self.spend, ag)
            self.any_spend = True

    def _cost(self, index: int, ag: Any) -> None:
        usd = ag.get("usd") if isinstance(ag, dict) else None
        if isinstance(usd, (int, float)):  # as agent_stats
            self.item_costs[index] = usd

    def _failed(self, rec: r.Done) -> None:
        if rec.s == "interrupted":
            kind = rec.k if rec.k in ("transient", "fatal") else None
            self._event({"transient": "item_paused", "fatal": "item_stopped"}.get(kind or "", "item_interrupted"))
        elif rec.final is None:
            self._event("item_retry")
        else:
            self._event("item_failed")
            self._final(rec.i, _FAILED)
            if rec.final == "dlq":
                self._event("dlq_item_added")

    def _event(self, name: str) -> None:
        self.by_type[name] += 1
        self.total += 1

    def _final(self, index: Any, outcome: int) -> None:
        if type(index) is not int or not 0 <= index < _BIG_INDEX:  # an id from an events file, or damage
            self.extra_finals[index] = outcome
            return
        if index >= len(self.finals):
            self.finals.extend(bytes(max(index + 1, 2 * len(self.finals)) - len(self.finals)))
        self.finals[index] = outcome

    def merge(self, later: StatsAccumulator) -> None:
        """Add what `later` accumulated over the records after this one's (its outcomes win)."""
        self.by_type.update(later.by_type)
        self.total += later.total
        size = max(len(self.finals), len(later.finals))
        mine, theirs = bytes(self.finals.ljust(size, b"\0")), bytes(later.finals.ljust(size, b"\0"))
        keep = int.from_bytes(theirs.translate(_KEEP_MINE), "little")  # 0xFF where `later` has no outcome
        merged = (int.from_bytes(mine, "little") & keep) | int.from_bytes(theirs, "little")
        self.finals = bytearray(merged.to_bytes(size, "little"))
        self.extra_finals.update(later.extra_finals)
        self.durations.update(later.durations)
        if later.any_spend:
            add_spend(self.spend, later.spend)
            self.any_spend = True
        self.item_costs.update(later.item_costs)

    # -- the events file (dicts; a few per invocation, or an older prodigy's item events)
    def event(self, event: dict[str, Any]) -> None:
        kind, item = event.get("event"), event.get("item_id")
        self.by_type[str(kind)] += 1
        self.total += 1
        if kind in ("item_completed", "item_failed") and item:
            index = _index(item)
            outcome = _OK if kind == "item_completed" else _FAILED
            if index is None:
                self.extra_finals[item] = outcome
            else:
                self._final(index, outcome)
            if kind == "item_completed" and isinstance(event.get("duration"), (int, float)):
                self.durations[float(event["duration"])] += 1
        elif kind == "resume_started":
            key = str(event.get("correlation_id") or len(self.order))
            self.order.append(key)
            self.resumes[key] = {"correlation_id": event.get("correlation_id"), "started_at": event.get("ts")}
        elif kind == "resume_finished":
            key = str(event.get("correlation_id") or (self.order[-1] if self.order else ""))
            if key in self.resumes:
                self.resumes[key].update(finished_at=event.get("ts"), status=event.get("status"),
                                         exit_code=event.get("exit_code"))

    # -- the answer
    def outcomes(self) -> tuple[int, int]:
        succeeded = self.finals.count(_OK) + sum(1 for v in self.extra_finals.values() if v == _OK)
        failed = self.finals.count(_FAILED) + sum(1 for v in self.extra_finals.values() if v == _FAILED)
        return succeeded, failed

    def duration_figures(self) -> dict[str, float | int | None]:
        count = sum(self.durations.values())
        return {"count": count, "p50": counted_percentile(self.durations, 50),
                "p95": counted_percentile(self.durations, 95), "max": max(self.durations) if count else None}

    def agents(self) -> dict[str, Any] | None:
        if not self.any_spend:
            return None
        costs = Counter(self.item_costs.values())
        top = sorted(self.item_costs.items(), key=lambda kv: kv[1], reverse=True)[:5]
        return {"total": readable(self.spend),
                "completed_items": {"count": len(self.item_costs), "p50_cost_usd": counted_percentile(costs, 50),
                                    "p95_cost_usd": counted_percentile(costs, 95),
                                    "max_cost_usd": max(costs) if costs else None,
                                    "most_expensive": [{"item_id": f"item_{k}", "cost_usd": v} for k, v in top]}}


def counted_percentile(counts: Counter[float], pct: float) -> float | None:
    """Nearest-rank percentile of values given as value -> how many times (views/events.percentile's answer)."""
    import math

    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, math.ceil(pct / 100 * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return None  # not reached


def _index(item: Any) -> int | None:
    text = str(item)
    return int(text[5:]) if text.startswith("item_") and text[5:].isdigit() else None


def scan_stats(acc: StatsAccumulator, path: Path, warnings: list[str]) -> None:
    """Accumulate the whole journal into `acc`. A big journal on a machine with more than one CPU is read by
    two processes: a forked child takes the second half and sends back its accumulator, which is merged in
    after the first; if the child fails for any reason this process reads that half itself."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    middle = None
    if size >= PARALLEL_FROM and hasattr(os, "fork") and len(os.sched_getaffinity(0)) > 1:
        middle = split_point(path, size // 2)
    child = _fork_half(path, middle) if middle is not None and middle < size else None
    for block in scan_journal(path, warnings, stop=middle if child else None):
        acc.records(block)
    if child is None:
        return
    later = _child_result(*child)
    if later is None:
        later = (StatsAccumulator(), [])
        for block in scan_journal(path, later[1], start=middle):  # type: ignore[arg-type]
            later[0].records(block)
    acc.merge(later[0])
    warnings += later[1]


def _fork_half(path: Path, middle: int) -> tuple[int, int] | None:
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the child: read the second half, send the result, and leave without any cleanup
        code = 1
        try:
            os.close(read_fd)
            part, warnings = StatsAccumulator(), []
            for block in scan_journal(path, warnings, start=middle):
                part.records(block)
            with os.fdopen(write_fd, "wb") as out:
                out.write(pickle.dumps((part, warnings), protocol=pickle.HIGHEST_PROTOCOL))
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _child_result(pid: int, read_fd: int) -> tuple[StatsAccumulator, list[str]] | None:
    with os.fdopen(read_fd, "rb") as handle:
        data = handle.read()
    _pid, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    try:
        part, warnings = pickle.loads(data)
    except Exception:  # noqa: BLE001 - a child that died half way through writing: read that half here
        return None
    return part, warnings
