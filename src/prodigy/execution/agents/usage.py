"""What an agent call cost: the CLI's own figures from its final `result` event (or, for a call that never
got there, what its stream showed so far), summed over calls, and the compact form kept in the journal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

# Journal keys (short: a big job has one of these per item). Documented in docs/architecture.md.
_KEYS = {"cost_usd": "usd", "input_tokens": "in", "output_tokens": "out", "cache_read_tokens": "cr",
         "cache_write_tokens": "cw", "turns": "turns", "model": "model", "duration_ms": "ms",
         "duration_api_ms": "api_ms", "session_id": "sid", "calls": "calls", "partial": "partial"}
_SUMMED = ("cost_usd", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "turns",
           "duration_ms", "duration_api_ms", "calls")


@dataclass(frozen=True)
class AgentUsage:
    cost_usd: float | None = None  # total_cost_usd (a client-side estimate); None when never reported
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    turns: int = 0
    model: str | None = None
    duration_ms: int | None = None
    duration_api_ms: int | None = None
    session_id: str | None = None  # the CLI's conversation id (of the last call, when summed)
    calls: int = 1
    partial: bool = False  # no final result: the figures are what the stream showed before it ended

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def __add__(self, other: AgentUsage) -> AgentUsage:
        summed: dict[str, Any] = {}
        for name in _SUMMED:
            mine, theirs = getattr(self, name), getattr(other, name)
            summed[name] = theirs if mine is None else mine if theirs is None else mine + theirs
        if summed["cost_usd"] is not None:
            summed["cost_usd"] = round(summed["cost_usd"], 6)
        names = [n for m in (self.model, other.model) if m for n in m.split(",")]
        model = ",".join(dict.fromkeys(names))  # each model once, in the order first used
        return replace(self, **summed, model=model or None, session_id=other.session_id or self.session_id,
                       partial=self.partial or other.partial)

    def to_record(self) -> dict[str, Any]:
        """The compact journal form: zero, empty and default values are left out."""
        record: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or value is False or value == 0 and item.name != "cost_usd" or (
                    item.name == "calls" and value == 1):
                continue
            record[_KEYS[item.name]] = value
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> AgentUsage | None:
        if not isinstance(record, Mapping):
            return None
        names = {short: name for name, short in _KEYS.items()}
        values: dict[str, Any] = {}
        for short, value in record.items():
            name = names.get(short)
            if name is not None:
                values[name] = value
        try:
            return cls(**values)
        except TypeError:
            return None


def total(usages: Iterable[AgentUsage | None]) -> AgentUsage | None:
    result: AgentUsage | None = None
    for usage in usages:
        if usage is not None:
            result = usage if result is None else result + usage
    return result


def fmt_cost(usd: float | None) -> str:
    """$4.12, $0.75; $0.0042 for amounts that cents would round away; $? when unknown."""
    if usd is None:
        return "$?"
    if usd == 0:
        return "$0.00"
    return f"${usd:.2f}" if usd >= 0.1 else f"${usd:.4f}"


def fmt_tokens(count: int | float | None) -> str:
    if not count:
        return "0"
    if count < 1000:
        return str(int(count))
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"


def describe_totals(totals: Mapping[str, Any] | None) -> str | None:
    """One line for people: "$4.12 over 18 agent calls, 1.2M tokens in / 40.1k out (cache 900.0k read)"."""
    if not totals or not totals.get("calls"):
        return None
    calls = totals["calls"]
    text = f"{fmt_cost(totals.get('usd'))} over {calls} agent call{'s' if calls != 1 else ''}"
    text += f", {fmt_tokens(totals.get('in'))} tokens in / {fmt_tokens(totals.get('out'))} out"
    cache = [f"{fmt_tokens(totals[k])} {label}" for k, label in (("cr", "read"), ("cw", "written")) if totals.get(k)]
    if cache:
        text += f" (cache {', '.join(cache)})"
    if totals.get("turns"):
        text += f", {totals['turns']} turn{'s' if totals['turns'] != 1 else ''}"
    return text


class UsageLedger:
    """Collects the agent calls made while one unit of work runs (a map item's attempt, a standard step, a
    setup or reduce step), whichever step kind made them; the runner that owns the unit journals the total."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self.usages: list[AgentUsage] = []
        self.notes: list[tuple[str, str]] = []  # ("continued", conversation id) | ("restarted", why)

    def note(self, kind: str, detail: str) -> None:
        with self._lock:
            self.notes.append((kind, detail))

    def add(self, usage: AgentUsage | None) -> None:
        if usage is not None:
            with self._lock:
                self.usages.append(usage)

    def total(self) -> AgentUsage | None:
        with self._lock:
            return total(self.usages)
