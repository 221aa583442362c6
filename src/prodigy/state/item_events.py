"""Item events are a view of the job journal, not a second record of it (invariant 2).

events.jsonl holds what only happens once per invocation (job, phase and resume events). Per-item events
(item_started, item_completed, item_retry, item_failed, dlq_item_added, item_interrupted, item_paused,
item_stopped) are derived here
from the journal's start/done records, so a 100,000-item job does not write its history twice."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

ITEM_EVENT_TYPES = ("item_started", "item_completed", "item_retry", "item_failed", "dlq_item_added",
                    "item_interrupted", "item_paused", "item_stopped")


def iso(ts: Any) -> str | None:
    if not isinstance(ts, (int, float)):
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


class ItemEventDeriver:
    """Turns journal records into item events, in journal order. Stateful across calls (for `follow`):
    it remembers the correlation id of the invocation that wrote the records."""

    def __init__(self, *, session_id: str, job_id: str) -> None:
        self.session_id = session_id
        self.job_id = job_id
        self.correlation_id: str | None = None
        self.start_offset = 0.0  # the run's `sto`: a start record's st + sto is when it started

    def events(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            kind = record.get("t")
            if kind in ("run", "resume"):
                self.correlation_id = record.get("cid")
                self.start_offset = number(record.get("sto"))
            elif kind == "start":
                yield self._event("item_started", record, started_at(record, self.start_offset),
                                  worker=record.get("w"))
            elif kind == "done":
                yield from self._done(record)

    def _event(self, name: str, record: dict[str, Any], ts: Any, **fields: Any) -> dict[str, Any]:
        event = {"ts": iso(ts), "event": name, "correlation_id": self.correlation_id,
                 "session_id": self.session_id, "job_id": self.job_id, "item_id": f"item_{record.get('i')}",
                 "attempt": record.get("a", 1), "source": "journal"}
        event.update({k: v for k, v in fields.items() if v is not None})
        return event

    def _done(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        ts = record.get("ts")
        status = record.get("s", "succeeded")
        exit_code = record.get("x", 0 if status == "succeeded" else None)
        common = {"duration": record.get("d"), "exit_code": exit_code, "log_path": record.get("log"),
                  "worker": record.get("w"), **_agent_fields(record.get("ag"))}
        if status == "succeeded":
            yield self._event("item_completed", record, ts, **common)
        elif status == "interrupted" and record.get("k") in ("transient", "fatal"):
            # an agent failure that was not the item's: back in the queue (transient) or left pending (fatal)
            name = "item_paused" if record["k"] == "transient" else "item_stopped"
            yield self._event(name, record, ts, error=record.get("err"), kind=record["k"], **common)
        elif status == "interrupted":
            yield self._event("item_interrupted", record, ts, **common)
        elif record.get("final") is None:
            yield self._event("item_retry", record, ts, error=record.get("err"), **common)
        else:
            yield self._event("item_failed", record, ts, error=record.get("err"), **common)
            if record.get("final") == "dlq":
                yield self._event("dlq_item_added", record, ts, error=record.get("err"),
                                  log_path=record.get("log"))


def started_at(record: dict[str, Any], offset: float) -> Any:
    """When a start record's attempt started: its `ts` (a remote worker's), else its process's start time
    corrected by the run's `sto` (journal start records carry no `ts` of their own)."""
    if "ts" in record:
        return record["ts"]
    st = record.get("st")
    return st + offset if isinstance(st, (int, float)) and not isinstance(st, bool) else st


def number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _agent_fields(ag: Any) -> dict[str, Any]:
    """An attempt's agent economics on its item event (cost_usd, input_tokens, ... as in --json)."""
    from prodigy.state.spend import readable

    fields = readable(ag) or {}
    return {("agent_session_id" if k == "session_id" else k): v for k, v in fields.items() if k != "calls"}
