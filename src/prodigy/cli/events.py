"""`prodigy events ls|follow|stats` (search, export and clean are in events_reports.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from prodigy.cli import complete
from prodigy.cli.common import json_option

GROUP_EPILOG = """\b
Examples:
  prodigy events ls mapreduce-20261127 --type item_failed
  prodigy events follow mapreduce-20261127
  prodigy events stats mapreduce-20261127
  prodigy events search item_failed
  prodigy events export mapreduce-20261127 --format csv -o events.csv
  prodigy events clean --older-than 30d --dry-run
"""

LS_EPILOG = """\b
Examples:
  prodigy events ls mapreduce-20261127                    every event of the job
  prodigy events ls mapreduce-20261127 --type item_failed --type item_retry
  prodigy events ls session-93c8 --item item_7            a session id names its job
  prodigy events ls mapreduce-20261127 --since 10m --limit 50 --json
"""

FOLLOW_EPILOG = """\b
Examples:
  prodigy events follow mapreduce-20261127
  prodigy events follow session-93c8 | grep item_failed
\b
Prints the events already written, then new ones as the job writes them (like tail -f),
and ends by itself when the job ends. Events are written about once a second.
"""

STATS_EPILOG = """\b
Examples:
  prodigy events stats mapreduce-20261127
  prodigy events stats mapreduce-20261127 --json
\b
Counts by event type, the items' success rate, item durations (p50/p95/max, from
item_completed events), what the agents cost (every call, and per completed item:
p50/p95/max) and every resume attempt with its outcome.
"""

_COMMON_KEYS = {"ts", "event", "correlation_id", "session_id", "job_id", "host", "pid", "item_id", "attempt"}


@click.group(epilog=GROUP_EPILOG)
def events() -> None:
    """Read a MapReduce job's event log."""


@events.command(name="ls", epilog=LS_EPILOG)
@click.argument("job_id", metavar="JOB_ID", shell_complete=complete.job_ids)
@click.option("--type", "types", multiple=True, metavar="TYPE",
              help="Only events of this type, e.g. item_failed (repeatable).")
@click.option("--item", metavar="ID", help="Only events of this item (item_7 or 7).")
@click.option("--since", metavar="AGE", help="Only events from the last AGE: 30s, 10m, 2h, 1d.")
@click.option("--limit", "-n", type=click.IntRange(min=0), metavar="N", help="Only the last N matching events.")
@json_option
def ls(job_id: str, types: tuple[str, ...], item: str | None, since: str | None, limit: int | None,
       json_output: bool) -> int:
    """List a job's events, oldest first."""
    from prodigy.cli.render import console, emit_json, table
    from prodigy.views.common import find_job, parse_age
    from prodigy.views.events import list_events

    ref = find_job(job_id)
    seconds = parse_age(since, option="--since") if since else None
    listing = list_events(ref, types=types, item=item, since=seconds, limit=limit)
    if json_output:
        emit_json({"job_id": listing.job_id, "session_id": listing.session_id, "events_path": listing.path,
                   "events": list(listing.events), "count": len(listing.events), "matched": listing.matched,
                   "total": listing.total, "unreadable_lines": listing.unreadable})
        return 0
    out = console()
    if not listing.total:
        out.print(f"No events yet for job {listing.job_id} (looked in {listing.path}). Events appear once "
                  f"the job runs; watch them with: prodigy events follow {listing.job_id}", markup=False)
        return 0
    if not listing.events:
        out.print(f"No event of job {listing.job_id} matches ({listing.total} in total); drop --type, --item "
                  "or --since to see more.", markup=False)
        return 0
    table(["time", "event", "item", "attempt", "details"], [_row(e) for e in listing.events], out=out)
    if listing.matched > len(listing.events):
        out.print(f"(last {len(listing.events)} of {listing.matched} matching events)", markup=False)
    if listing.unreadable:
        out.print(f"Skipped {listing.unreadable} unreadable line(s) in {listing.path}", markup=False)
    return 0


def _time(event: dict[str, Any]) -> str:
    return str(event.get("ts", ""))[:23].replace("T", " ")


def _details(event: dict[str, Any]) -> str:
    parts = []
    for key, value in event.items():
        if key in _COMMON_KEYS or value is None:
            continue
        text = " ".join(str(value).split())
        parts.append(f"{key}={text[:120]}")
    return " ".join(parts)


def _row(event: dict[str, Any]) -> list[Any]:
    return [_time(event), event.get("event", "?"), event.get("item_id", ""), event.get("attempt", ""),
            _details(event)]


@events.command(epilog=FOLLOW_EPILOG)
@click.argument("job_id", metavar="JOB_ID", shell_complete=complete.job_ids)
def follow(job_id: str) -> int:
    """Print a job's events as they are written, until the job ends."""
    from prodigy.cli.render import console
    from prodigy.state.item_events import ItemEventDeriver
    from prodigy.views.common import find_job
    from prodigy.views.events import follow as follow_events
    from prodigy.views.events import job_activity

    ref = find_job(job_id)
    out = console()
    seen = 0
    deriver = ItemEventDeriver(session_id=ref.session.id, job_id=ref.job_id)
    for event in follow_events(ref.events_path, lambda: job_activity(ref.session.id),
                               journal=(ref.journal_path, deriver)):
        seen += 1
        row = _row(event)
        out.print("  ".join(str(cell) for cell in row if cell != "").rstrip(), markup=False, highlight=False)
    if not seen:
        hint = f" Resume it with: prodigy resume {ref.session.id}" if ref.session.resumable else ""
        out.print(f"No events for job {ref.job_id}, and it is not running.{hint}", markup=False)
    return 0


@events.command(epilog=STATS_EPILOG)
@click.argument("job_id", metavar="JOB_ID", shell_complete=complete.job_ids)
@json_option
def stats(job_id: str, json_output: bool) -> int:
    """Summarise a job's events: counts, success rate, durations, resumes."""
    from prodigy.cli.render import emit_json
    from prodigy.views.common import find_job
    from prodigy.views.events import event_stats

    result = event_stats(find_job(job_id))
    if json_output:
        emit_json({
            "job_id": result.job_id, "session_id": result.session_id, "events_path": result.path,
            "total_events": result.total, "unreadable_lines": result.unreadable, "by_type": result.by_type,
            "items": {"succeeded": result.items_succeeded, "failed": result.items_failed,
                      "success_rate": result.success_rate, "retries": result.retries},
            "item_duration_seconds": result.durations,
            "resumes": {"attempts": len(result.resumes), "outcomes": result.resume_outcomes,
                        "list": [asdict(r) for r in result.resumes]},
            "agents": result.agents,
        })
        return 0
    _render_stats(result)
    return 0


def _render_stats(result: Any) -> None:
    from prodigy.cli.render import console, fields, fmt_duration, table

    out = console()
    if not result.total:
        out.print(f"No events yet for job {result.job_id} ({result.path}).", markup=False)
        return
    out.print(f"Job {result.job_id}: {result.total} event(s) in {result.path}", markup=False)
    table(["event", "count"], [[name, number] for name, number in result.by_type.items()], out=out)
    rate = "-" if result.success_rate is None else f"{result.success_rate:g}%"
    d = result.durations
    timing = ("-" if not d["count"] else f"p50 {fmt_duration(d['p50'])}, p95 {fmt_duration(d['p95'])}, "
              f"max {fmt_duration(d['max'])} over {d['count']} item(s)")
    outcomes = ", ".join(f"{status} {n}" for status, n in sorted(result.resume_outcomes.items()))
    fields([("Items", f"{result.items_succeeded} succeeded, {result.items_failed} failed; success rate {rate}; "
                      f"{result.retries} retried attempt(s)"),
            ("Item duration", timing),
            ("Agents", _agents_total(result.agents)), ("Item cost", _item_cost(result.agents)),
            ("Resumes", f"{len(result.resumes)}" + (f" ({outcomes})" if outcomes else "")),
            ("Unreadable lines", result.unreadable or None)], out=out)
    for attempt in result.resumes:
        ended = (f"{attempt.status} (exit {attempt.exit_code}) at {attempt.finished_at}" if attempt.status
                 else "never finished (crashed, or still running)")
        out.print(f"  resume {attempt.correlation_id} started {attempt.started_at}: {ended}", markup=False)


def _agents_total(agents: dict[str, Any] | None) -> str | None:
    from prodigy.cli.sessions import _agents_text

    return _agents_text(agents)


def _item_cost(agents: dict[str, Any] | None) -> str | None:
    per = (agents or {}).get("completed_items")
    if not per or not per.get("count"):
        return None
    from prodigy.execution.agents.usage import fmt_cost

    top = ", ".join(f"{t['item_id']} {fmt_cost(t['cost_usd'])}" for t in per.get("most_expensive", [])[:3])
    return (f"p50 {fmt_cost(per['p50_cost_usd'])}, p95 {fmt_cost(per['p95_cost_usd'])}, max "
            f"{fmt_cost(per['max_cost_usd'])} over {per['count']} item(s)" + (f"; most: {top}" if top else ""))


def _add_reports() -> None:
    from prodigy.cli.events_reports import clean, export, search

    for command in (search, export, clean):
        events.add_command(command)


_add_reports()
