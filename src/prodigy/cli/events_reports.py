"""`prodigy events search|export|clean` (added to the `events` group)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from prodigy.cli import complete
from prodigy.cli.common import json_option, write_output

SEARCH_EPILOG = """\b
Examples:
  prodigy events search "exit_code.: 2" mapreduce-20261127
  prodigy events search timeout                          every job's events
  prodigy events search "item_(3|7)$" --fields item_id --type item_failed
\b
PATTERN is a regular expression, matched case-insensitively against each event's JSON
(or only the fields named with --fields). Without JOB_ID every job is searched.
"""

EXPORT_EPILOG = """\b
Examples:
  prodigy events export mapreduce-20261127 --format csv --output events.csv
  prodigy events export session-93c8 --format markdown > events.md
  prodigy events export --format json --output all-events.json     every job
\b
The events file merged with the item events derived from the journal, in time order.
"""

CLEAN_EPILOG = """\b
Examples:
  prodigy events clean --older-than 30d --dry-run        every job
  prodigy events clean mapreduce-20261127 --max-events 1000 -y
  prodigy events clean --older-than 7d --archive -y      keep them in events-archive.jsonl
\b
Trims the job event logs (job, phase and resume events). Item events are derived from
the job journal and are not affected, nor is anything a resume uses. A job whose session
is running is skipped.
"""


@click.command(epilog=SEARCH_EPILOG)
@click.argument("pattern", metavar="PATTERN")
@click.argument("job_id", required=False, metavar="[JOB_ID]", shell_complete=complete.job_ids)
@click.option("--fields", "fields", multiple=True, metavar="NAME",
              help="Match only these fields (repeatable, or comma-separated).")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeatable).")
@click.option("--limit", "-n", type=click.IntRange(min=0), metavar="N", help="Only the last N matches.")
@json_option
def search(pattern: str, job_id: str | None, fields: tuple[str, ...], types: tuple[str, ...], limit: int | None,
           json_output: bool) -> int:
    """Find events matching PATTERN in one job's log or in every job's."""
    from prodigy.cli.events import _row
    from prodigy.cli.render import console, emit_json, table
    from prodigy.views.events_reports import job_refs
    from prodigy.views.events_reports import search as search_events

    names = tuple(f.strip() for value in fields for f in value.split(",") if f.strip())
    refs, warnings = job_refs(job_id)
    result = search_events(refs, pattern, fields=names, types=types, limit=limit)
    if json_output:
        emit_json({"pattern": pattern, "events": list(result.matches), "count": len(result.matches),
                   "matched": result.matched, "searched": result.searched, "jobs": result.jobs,
                   "warnings": warnings})
        return 0
    out = console()
    for warning in warnings:
        console(stderr=True).print(f"Warning: {warning}", markup=False)
    if not result.matches:
        out.print(f"No event matches {pattern!r} ({result.searched} event(s) of {result.jobs} job(s) searched).",
                  markup=False)
        return 0
    if result.jobs > 1:
        table(["job", "time", "event", "item", "attempt", "details"],
              [[e.get("job_id", ""), *_row(e)] for e in result.matches], out=out)
    else:
        table(["time", "event", "item", "attempt", "details"], [_row(e) for e in result.matches], out=out)
    more = f" (last {len(result.matches)} shown)" if result.matched > len(result.matches) else ""
    out.print(f"{result.matched} of {result.searched} event(s) in {result.jobs} job(s) match{more}.", markup=False)
    return 0


@click.command(epilog=EXPORT_EPILOG)
@click.argument("job_id", required=False, metavar="[JOB_ID]", shell_complete=complete.job_ids)
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "markdown"]), default="json", show_default=True)
@click.option("--output", "-o", default="-", show_default=True, metavar="FILE", shell_complete=complete.workflow_files, help="Where to write (- for stdout).")
def export(job_id: str | None, fmt: str, output: str) -> int:
    """Export a job's events (or every job's) as JSON, CSV or a Markdown table."""
    from prodigy.cli.render import console
    from prodigy.views.events_reports import export as export_events
    from prodigy.views.events_reports import job_refs

    refs, warnings = job_refs(job_id)
    err = console(stderr=True)
    for warning in warnings:
        err.print(f"Warning: {warning}", markup=False)
    text, count = export_events(refs, fmt)
    write_output(output, text)
    if output != "-":
        err.print(f"Wrote {count} event(s) of {len(refs)} job(s) to {output} ({fmt}).", markup=False)
    return 0


@click.command(epilog=CLEAN_EPILOG)
@click.argument("job_id", required=False, metavar="[JOB_ID]", shell_complete=complete.job_ids)
@click.option("--older-than", metavar="AGE", help="Drop events older than AGE: 12h, 7d, 2w.")
@click.option("--max-events", type=click.IntRange(min=0), metavar="N", help="Keep at most the newest N events.")
@click.option("--archive", is_flag=True, help="Append dropped events to events-archive.jsonl beside the log.")
@click.option("--archive-path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Append dropped events to FILE instead.")
@click.option("--all-jobs", is_flag=True, hidden=True, help="Every job (the default without JOB_ID).")
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def clean(job_id: str | None, older_than: str | None, max_events: int | None, archive: bool,
          archive_path: str | None, all_jobs: bool, dry_run: bool, yes: bool, json_output: bool) -> int:
    """Trim event logs by age or count (one job, or every job)."""
    from prodigy.cli.confirm import confirm
    from prodigy.cli.render import console, emit_json
    from prodigy.errors import UsageError
    from prodigy.views.common import parse_age
    from prodigy.views.events_reports import apply_trim, job_refs, plan_trim

    if older_than is None and max_events is None:
        raise UsageError("Say what to drop: --older-than AGE and/or --max-events N.",
                         hint="Example: prodigy events clean --older-than 30d --dry-run")
    age = parse_age(older_than) if older_than is not None else None
    refs, _warnings = job_refs(job_id)
    plans = plan_trim(refs, older_than=age, max_events=max_events)
    todo = [p for p in plans if p.drop and not p.reason]
    out = console(stderr=json_output)
    payload = {"dry_run": dry_run, "files": [asdict(p) for p in plans], "trimmed": [], "problems": []}
    for plan in plans:
        if plan.drop:
            state = f"kept: {plan.reason}" if plan.reason else f"{'would drop' if dry_run else 'drop'} {plan.drop}"
            out.print(f"{plan.job_id}: {plan.total} event(s), {state}", markup=False)
    if not todo:
        out.print("Nothing to trim.", markup=False)
    if dry_run or not todo:
        if dry_run and todo:
            out.print("Dry run: nothing was changed.", markup=False)
        if json_output:
            emit_json(payload)
        return 0
    dropped = sum(p.drop for p in todo)
    if not confirm(f"Drop {dropped} event(s) from {len(todo)} log(s)?", yes=yes,
                   refusal=f"Refusing to drop {dropped} event(s) without confirmation.", hint="Pass -y to confirm."):
        out.print("Nothing was changed.", markup=False)
        return 1
    results = apply_trim(refs, plans, older_than=age, max_events=max_events,
                         archive=Path(archive_path).expanduser().absolute() if archive_path else None,
                         archive_beside=archive)
    payload["trimmed"] = [p.job_id for p, problem in results if problem is None]
    payload["problems"] = [{"job_id": p.job_id, "problem": problem} for p, problem in results if problem]
    out.print(f"Trimmed {len(payload['trimmed'])} event log(s).", markup=False)
    for item in payload["problems"]:
        out.print(f"Not trimmed {item['job_id']}: {item['problem']}", markup=False)
    if json_output:
        emit_json(payload)
    return 1 if payload["problems"] else 0
