"""`prodigy events`: a job's observability log (events/{repo}/{job_id}/events.jsonl) filtered, followed and
summarised. Events are for people; counts of record come from the journal, which these views never replace."""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import NotFoundError
from prodigy.state import locks, sessions
from prodigy.state.events import read_events
from prodigy.state.item_events import ItemEventDeriver
from prodigy.state.journal import read_journal
from prodigy.state.spend import readable, totals
from prodigy.views.common import JobRef, parse_time

STARTS = ("job_started", "resume_started")
ENDS = ("job_finished", "resume_finished")
ACTIVE, ENDED, UNKNOWN = "active", "ended", "unknown"


def normalize_item(text: str | None) -> str | None:
    if text is None:
        return None
    return f"item_{text}" if text.isdigit() else text


@dataclass(frozen=True)
class EventListing:
    job_id: str
    session_id: str
    path: str
    events: tuple[dict[str, Any], ...]
    matched: int  # before --limit
    total: int  # events in the file
    unreadable: int  # lines skipped


def all_events(ref: JobRef, records: list[dict[str, Any]] | None = None) -> tuple[list[dict[str, Any]], int]:
    """The job's events file merged with the item events derived from its journal, in time order."""
    events, unreadable = read_events(ref.events_path)
    if records is None:
        records = read_journal(ref.folder / "journal.jsonl").records
    deriver = ItemEventDeriver(session_id=ref.session.id, job_id=ref.job_id)
    events = events + list(deriver.events(records))
    events.sort(key=lambda e: str(e.get("ts") or ""))  # ISO timestamps in UTC sort as text; sort is stable
    return events, unreadable


def list_events(ref: JobRef, *, types: tuple[str, ...] = (), item: str | None = None,
                since: float | None = None, limit: int | None = None, now: float | None = None) -> EventListing:
    events, unreadable = all_events(ref)
    wanted_item = normalize_item(item)
    cutoff = None if since is None else (time.time() if now is None else now) - since
    matched = [e for e in events if _matches(e, types, wanted_item, cutoff)]
    shown = matched if limit is None else matched[-limit:] if limit else []
    return EventListing(job_id=ref.job_id, session_id=ref.session.id, path=str(ref.events_path),
                        events=tuple(shown), matched=len(matched), total=len(events), unreadable=unreadable)


def _matches(event: dict[str, Any], types: tuple[str, ...], item: str | None, cutoff: float | None) -> bool:
    if types and event.get("event") not in types:
        return False
    if item is not None and event.get("item_id") != item:
        return False
    if cutoff is not None:
        moment = parse_time(event.get("ts"))
        if moment is None or moment < cutoff:
            return False
    return True


# ---------------------------------------------------------------- stats


@dataclass(frozen=True)
class ResumeAttempt:
    correlation_id: str | None
    started_at: str | None
    finished_at: str | None
    status: str | None  # the resume_finished status; None when it never finished (crash, or still running)
    exit_code: int | None


@dataclass(frozen=True)
class EventStats:
    job_id: str
    session_id: str
    path: str
    total: int
    unreadable: int
    by_type: dict[str, int]
    items_succeeded: int
    items_failed: int
    success_rate: float | None  # percent of items with a final outcome that succeeded
    retries: int
    durations: dict[str, float | int | None]  # count, p50, p95, max (seconds, from item_completed)
    resumes: tuple[ResumeAttempt, ...]
    agents: dict[str, Any] | None = None  # job totals over every agent call, and per completed item

    @property
    def resume_outcomes(self) -> dict[str, int]:
        return dict(Counter(r.status or "unfinished" for r in self.resumes))


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every answer is a duration that happened)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def event_stats(ref: JobRef) -> EventStats:
    """compute_stats over all_events, and agent_stats over the journal, in one streaming pass
    (views/event_stats.py): constant memory whatever the size of the job."""
    from prodigy.views.event_stats import StatsAccumulator, scan_stats

    acc = StatsAccumulator()
    events, unreadable = read_events(ref.events_path)
    for event in events:
        acc.event(event)
    warnings: list[str] = []
    scan_stats(acc, ref.folder / "journal.jsonl", warnings)
    succeeded, failed = acc.outcomes()
    return EventStats(
        job_id=ref.job_id, session_id=ref.session.id, path=str(ref.events_path), total=acc.total,
        unreadable=unreadable, by_type=dict(sorted(acc.by_type.items())), items_succeeded=succeeded,
        items_failed=failed, success_rate=round(100.0 * succeeded / (succeeded + failed), 1) if succeeded + failed
        else None, retries=acc.by_type.get("item_retry", 0), durations=acc.duration_figures(),
        resumes=tuple(ResumeAttempt(correlation_id=x.get("correlation_id"), started_at=x.get("started_at"),
                                    finished_at=x.get("finished_at"), status=x.get("status"),
                                    exit_code=x.get("exit_code")) for x in (acc.resumes[k] for k in acc.order)),
        agents=acc.agents(),
    )


def agent_stats(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Totals over every agent call in the journal (setup, items, reduce; failed attempts too), and the cost
    of each item's completing attempt: p50, p95, max, the most expensive items."""
    every = [r["ag"] for r in records if isinstance(r.get("ag"), dict)]
    if not every:
        return None
    per_item = {f"item_{r.get('i')}": r["ag"].get("usd") for r in records
                if r.get("t") == "done" and "s" not in r and isinstance(r.get("ag"), dict)
                and isinstance(r["ag"].get("usd"), (int, float))}
    costs = list(per_item.values())
    top = sorted(per_item.items(), key=lambda kv: kv[1], reverse=True)[:5]
    return {"total": readable(totals(every)),
            "completed_items": {"count": len(costs), "p50_cost_usd": percentile(costs, 50),
                                "p95_cost_usd": percentile(costs, 95), "max_cost_usd": max(costs) if costs else None,
                                "most_expensive": [{"item_id": k, "cost_usd": v} for k, v in top]}}


def compute_stats(events: list[dict[str, Any]], *, job_id: str, session_id: str, path: str,
                  unreadable: int = 0) -> EventStats:
    by_type = Counter(str(e.get("event")) for e in events)
    final: dict[str, bool] = {}  # item -> its last final outcome succeeded?
    durations: list[float] = []
    resumes: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for event in events:
        kind, item = event.get("event"), event.get("item_id")
        if kind == "item_completed" and item:
            final[item] = True
            if isinstance(event.get("duration"), (int, float)):
                durations.append(float(event["duration"]))
        elif kind == "item_failed" and item:
            final[item] = False
        elif kind == "resume_started":
            key = str(event.get("correlation_id") or len(order))
            order.append(key)
            resumes[key] = {"correlation_id": event.get("correlation_id"), "started_at": event.get("ts")}
        elif kind == "resume_finished":
            key = str(event.get("correlation_id") or (order[-1] if order else ""))
            if key in resumes:
                resumes[key].update(finished_at=event.get("ts"), status=event.get("status"),
                                    exit_code=event.get("exit_code"))
    succeeded = sum(1 for ok in final.values() if ok)
    failed = len(final) - succeeded
    return EventStats(
        job_id=job_id, session_id=session_id, path=path, total=len(events), unreadable=unreadable,
        by_type=dict(sorted(by_type.items())), items_succeeded=succeeded, items_failed=failed,
        success_rate=round(100.0 * succeeded / len(final), 1) if final else None,
        retries=by_type.get("item_retry", 0),
        durations={"count": len(durations), "p50": percentile(durations, 50), "p95": percentile(durations, 95),
                   "max": max(durations) if durations else None},
        resumes=tuple(ResumeAttempt(correlation_id=r.get("correlation_id"), started_at=r.get("started_at"),
                                    finished_at=r.get("finished_at"), status=r.get("status"),
                                    exit_code=r.get("exit_code")) for r in (resumes[k] for k in order)),
    )


# ---------------------------------------------------------------- follow


def job_activity(session_id: str) -> str:
    """active: a process executes the session; ended: none does and the session is not running;
    unknown: none does but the record still says running (starting up, or the run crashed)."""
    holder = locks.read_holder(session_id)
    if holder and _holder_alive(holder):
        return ACTIVE
    if locks.is_locked(session_id):  # only probed when no live holder is recorded
        return ACTIVE
    try:
        status = sessions.load(session_id).status
    except NotFoundError:
        return ENDED
    return UNKNOWN if status == "running" else ENDED


def _holder_alive(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname():
        return True  # another machine's process: trust the record
    try:
        pid = int(holder.get("pid") or 0)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def follow(path: Path, activity: Callable[[], str], *, poll: float = 0.2, grace: float = 2.0,
           sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic,
           journal: tuple[Path, ItemEventDeriver] | None = None) -> Iterator[dict[str, Any]]:
    """Yield every event in the file, then new ones as they are written, until the job ends: a
    job_finished/resume_finished event is read (one already in the file when following starts counts only
    if nobody is executing the job), or nobody executes it (for `grace` seconds when its record still says
    running). Activity is checked before each read, so the events a run wrote before ending are all read."""
    offset = 0
    partial = b""
    backlog_lifecycle: str | None = None  # the last start/finish event already in the file at the start
    fresh_lifecycle: str | None = None  # the last one written while following
    first_pass = True
    idle_since: float | None = None
    journal_offset = 0
    while True:
        state = activity()
        derived: list[dict[str, Any]] = []
        chunk = _read_from(path, offset)  # the events file first: it names the invocation the journal continues
        if journal is not None:
            read = read_journal(journal[0], journal_offset)  # complete records only; a torn tail waits
            journal_offset = read.end_offset
            derived = list(journal[1].events(read.records))
        offset += len(chunk)
        lines = (partial + chunk).split(b"\n")
        partial = lines.pop()  # an incomplete last line waits for the rest of it
        batch = [event for event in map(_parse, lines) if event is not None] + derived
        batch.sort(key=lambda e: str(e.get("ts") or ""))
        for event in batch:
            if event.get("event") in STARTS + ENDS:
                if first_pass:
                    backlog_lifecycle = event["event"]
                else:
                    fresh_lifecycle = event["event"]
            yield event
        if fresh_lifecycle in ENDS or state == ENDED:
            return
        if first_pass and backlog_lifecycle in ENDS and state != ACTIVE:
            return
        if state == UNKNOWN:
            idle_since = clock() if idle_since is None else idle_since
            if clock() - idle_since >= grace:
                return
        else:
            idle_since = None
        first_pass = False
        sleep(poll)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


def _parse(raw: bytes) -> dict[str, Any] | None:
    if not raw.strip():
        return None
    try:
        event = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
