"""`prodigy events search|export|clean`: the event logs of one job or of every job, searched, exported as JSON,
CSV or Markdown, and trimmed. Events are for people: trimming them never changes what a resume runs (the job
journal decides that), and the item events derived from the journal stay readable."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import LockHeldError, NotFoundError, StateError, UsageError
from prodigy.resume.resolve import Target
from prodigy.state import locks, sessions
from prodigy.state.events import rewrite_events
from prodigy.views.common import JobRef, find_job, job_ref, parse_time
from prodigy.views.events import all_events

COLUMNS = ("ts", "event", "job_id", "item_id", "attempt", "correlation_id")
_SKIP = {"session_id", "host", "pid"}


def job_refs(job_id: str | None) -> tuple[list[JobRef], list[str]]:
    """One job (id, session id or prefix), or every MapReduce job with a session record, newest first."""
    if job_id:
        return [find_job(job_id)], []
    from prodigy.legacy.discover import original_session_ids

    records, warnings = sessions.load_all(skip=set(original_session_ids()))  # not the original (Rust) prodigy's
    refs = []
    for record in records:
        if record.kind != "mapreduce" or not record.job_id:
            continue
        try:
            refs.append(job_ref(Target(record, record.job_id, "session record")))
        except (NotFoundError, StateError) as exc:
            warnings.append(f"{record.job_id}: {str(exc).splitlines()[0]}")
    return refs, warnings


def _events(refs: list[JobRef]) -> tuple[list[dict[str, Any]], int]:
    found: list[dict[str, Any]] = []
    unreadable = 0
    for ref in refs:
        events, bad = all_events(ref)
        found += events
        unreadable += bad
    found.sort(key=lambda e: str(e.get("ts") or ""))
    return found, unreadable


@dataclass(frozen=True)
class SearchResult:
    pattern: str
    matches: tuple[dict[str, Any], ...]
    matched: int  # before --limit
    searched: int
    jobs: int
    unreadable: int


def search(refs: list[JobRef], pattern: str, *, fields: tuple[str, ...] = (), types: tuple[str, ...] = (),
           limit: int | None = None) -> SearchResult:
    """Events whose JSON text (or the named fields) matches the regular expression, case-insensitively."""
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise UsageError(f"Invalid search pattern {pattern!r}: {exc}",
                         hint="PATTERN is a regular expression; escape special characters (\\. \\( \\[) "
                              "to match them literally.") from None
    events, unreadable = _events(refs)
    matched = []
    for event in events:
        if types and event.get("event") not in types:
            continue
        text = (" ".join(_text(event.get(f)) for f in fields) if fields else
                json.dumps(event, ensure_ascii=False, default=str))
        if regex.search(text):
            matched.append(event)
    shown = matched if limit is None else matched[-limit:] if limit else []
    return SearchResult(pattern, tuple(shown), len(matched), len(events), len(refs), unreadable)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def details(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in COLUMNS and k not in _SKIP and v is not None}


def export(refs: list[JobRef], fmt: str) -> tuple[str, int]:
    events, _unreadable = _events(refs)
    if fmt == "json":
        return json.dumps({"count": len(events), "events": events}, indent=2, ensure_ascii=False,
                          default=str) + "\n", len(events)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*COLUMNS, "session_id", "details"])
        for event in events:
            writer.writerow([_text(event.get(c)) for c in (*COLUMNS, "session_id")] +
                            [json.dumps(details(event), ensure_ascii=False, default=str)])
        return buffer.getvalue(), len(events)
    lines = ["| time | job | event | item | attempt | details |", "|---|---|---|---|---|---|"]
    for event in events:
        cells = [str(event.get("ts", ""))[:23].replace("T", " "), _text(event.get("job_id")),
                 _text(event.get("event")), _text(event.get("item_id")), _text(event.get("attempt")),
                 " ".join(f"{k}={' '.join(_text(v).split())[:80]}" for k, v in details(event).items())]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n", len(events)


# ---------------------------------------------------------------- clean


@dataclass(frozen=True)
class Trim:
    job_id: str
    session_id: str
    path: str
    total: int  # lines in the file
    drop: int  # lines that would go
    reason: str | None = None  # why the file is left alone


def plan_trim(refs: list[JobRef], *, older_than: float | None, max_events: int | None,
              now: float | None = None) -> list[Trim]:
    now = time.time() if now is None else now
    plans = []
    for ref in refs:
        lines = _lines(ref.events_path)
        if not lines:
            continue
        keep, drop = _split(lines, older_than, max_events, now)
        reason = "in progress (a prodigy process holds its lock)" if locks.is_locked(ref.session.id) else None
        plans.append(Trim(ref.job_id, ref.session.id, str(ref.events_path), len(lines), len(drop), reason))
    return plans


def _lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return [line for line in handle if line.endswith("\n")]
    except FileNotFoundError:
        return []


def _split(lines: list[str], older_than: float | None, max_events: int | None,
           now: float) -> tuple[list[str], list[str]]:
    """Lines to keep and to drop: older than the age, then beyond the newest max_events. A line whose time
    cannot be read is kept."""
    keep, drop = [], []
    for line in lines:
        try:
            moment = parse_time(json.loads(line).get("ts"))
        except (ValueError, AttributeError):
            moment = None
        (drop if older_than is not None and moment is not None and now - moment >= older_than else keep).append(line)
    if max_events is not None and len(keep) > max_events:
        cut = len(keep) - max_events
        drop, keep = drop + keep[:cut], keep[cut:]
    return keep, drop


def apply_trim(refs: list[JobRef], plans: list[Trim], *, older_than: float | None, max_events: int | None,
               archive: Path | None, archive_beside: bool) -> list[tuple[Trim, str | None]]:
    """Rewrite each file under its session's lock (a run appending to it would race the rewrite)."""
    by_job = {ref.job_id: ref for ref in refs}
    results = []
    for plan in plans:
        if plan.reason or not plan.drop:
            continue
        ref = by_job[plan.job_id]
        try:
            with locks.ExecutionLock(ref.session.id, purpose="events clean"):
                keep, drop = _split(_lines(ref.events_path), older_than, max_events, time.time())
                target = archive or (ref.events_path.with_name("events-archive.jsonl") if archive_beside else None)
                rewrite_events(ref.events_path, keep, drop, archive=target)
            results.append((plan, None))
        except LockHeldError:
            results.append((plan, "in progress (a prodigy process holds its lock)"))
        except OSError as exc:  # one job's failure is reported, the others go on
            results.append((plan, f"{exc.strerror}: {exc.filename}"))
    return results
