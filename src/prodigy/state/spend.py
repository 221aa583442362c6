"""Agent economics in the state: the compact `ag` records (execution/agents/usage.py writes them) summed into
running totals, by the journal fold and the standard checkpoint alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUMMED_KEYS = ("usd", "in", "out", "cr", "cw", "turns", "ms", "api_ms")


def add_spend(into: dict[str, Any], record: Mapping[str, Any] | None) -> None:
    """Fold one compact record into a running total of compact records."""
    if not isinstance(record, Mapping):
        return
    for key in SUMMED_KEYS:
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            into[key] = round(into.get(key, 0) + value, 6) if key == "usd" else into.get(key, 0) + value
    calls = record.get("calls", 1)
    into["calls"] = into.get("calls", 0) + (calls if isinstance(calls, int) and not isinstance(calls, bool) else 1)


READABLE = {"usd": "cost_usd", "in": "input_tokens", "out": "output_tokens", "cr": "cache_read_tokens",
            "cw": "cache_write_tokens", "turns": "turns", "ms": "duration_ms", "api_ms": "duration_api_ms",
            "calls": "calls", "model": "model", "sid": "session_id", "partial": "partial"}


def readable(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The compact form with its keys spelled out, for --json and views (None when there is nothing)."""
    if not isinstance(record, Mapping) or not record:
        return None
    out = {READABLE[k]: v for k, v in record.items() if k in READABLE}
    if "calls" not in out and any(k in out for k in ("cost_usd", "turns", "input_tokens")):
        out["calls"] = 1
    return out


def totals(records: list[Mapping[str, Any] | None]) -> dict[str, Any]:
    into: dict[str, Any] = {}
    for record in records:
        add_spend(into, record)
    return into


def difference(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """What was added to a running total since `before` (this invocation's share of a job's totals)."""
    out: dict[str, Any] = {}
    calls = after.get("calls", 0) - before.get("calls", 0)
    if not calls:
        return out
    for key in (*SUMMED_KEYS, "calls"):
        value = after.get(key, 0) - before.get(key, 0)
        if value or (key == "usd" and key in after):
            out[key] = round(value, 6) if key == "usd" else value
    return out


def job_spend(state: Any) -> dict[str, Any] | None:
    """A job's agent economics from its fold: totals over every call, and over the completed items (their
    average and the most expensive one). None when no agent ran."""
    if not state.spend:
        return None
    done = state.done_spend
    succeeded = state.count("succeeded")
    per_item = None
    if done.get("calls"):
        usd = done.get("usd")
        per_item = {"items": succeeded, "cost_usd": usd,
                    "average_cost_usd": round(usd / succeeded, 6) if succeeded and usd is not None else None,
                    "most_expensive": ({"item_id": f"item_{state.costliest[0]}", "cost_usd": state.costliest[1]}
                                       if state.costliest else None)}
    return {"total": readable(state.spend), "completed_items": per_item}
