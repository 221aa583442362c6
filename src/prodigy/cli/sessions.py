"""`prodigy sessions list|show|clean`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from prodigy.cli import complete
from prodigy.cli.common import json_option
from prodigy.state.sessions import STATUSES

LIST_EPILOG = """\b
Examples:
  prodigy sessions list                      the 20 newest sessions
  prodigy sessions list --page 2             the next 20
  prodigy sessions list --status interrupted --status failed
  prodigy sessions list -n 100 --json        for scripts
  prodigy sessions list --all --json         every session (streamed, one row at a time)
"""

SHOW_EPILOG = """\b
Examples:
  prodigy sessions show session-93c8          a unique prefix is enough
  prodigy sessions show mapreduce-20261127    a job id shows its session
  prodigy sessions show session-93c8 --json
"""

CLEAN_EPILOG = """\b
Examples:
  prodigy sessions clean --dry-run                 what would be removed (completed and
                                                   cancelled sessions idle for 7 days)
  prodigy sessions clean --older-than 1d -y
  prodigy sessions clean --status failed --older-than 30d
\b
Removes each session's record, checkpoints, job folder, events, agent logs and mapping files.
Running and resumable sessions (running, interrupted, failed) are kept unless their
status is chosen with --status; a session whose run is in progress is never removed.
"""

_status_option = click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES),
                              help="Only sessions with this status (repeatable).")


GROUP_EPILOG = """\b
Examples:
  prodigy sessions list
  prodigy sessions show session-93c8
  prodigy sessions clean --dry-run
  prodigy sessions export session-93c8 -o s.tar.gz   then, on another machine:
  prodigy sessions import s.tar.gz
"""


@click.group(epilog=GROUP_EPILOG)
def sessions() -> None:
    """List, show, clean, export and import sessions (runs of workflows)."""


@sessions.command(name="list", epilog=LIST_EPILOG)
@_status_option
@click.option("--limit", "-n", type=click.IntRange(min=1), metavar="N",
              help="Sessions per page (default 20).")
@click.option("--page", "-p", type=click.IntRange(min=1), default=1, show_default=True, metavar="P",
              help="Which page of --limit sessions, newest first.")
@click.option("--all", "show_all", is_flag=True, help="Every session (no pages).")
@json_option
def list_(statuses: tuple[str, ...], limit: int | None, page: int, show_all: bool, json_output: bool) -> int:
    """List sessions, newest first, a page at a time."""
    from prodigy.cli.render import console
    from prodigy.views.session_list import DEFAULT_LIMIT, select

    if show_all and (limit is not None or page != 1):
        raise click.UsageError("--all lists every session: leave out --limit and --page.")
    size = None if show_all else (limit or DEFAULT_LIMIT)
    listing = select(statuses, limit=size, page=page)
    if json_output:
        _stream_json(listing, size, page)
        return 0
    rows = list(listing.rows())
    out = console()
    _warn(listing.warnings)
    if not rows:
        what = f"with status {', '.join(statuses)} " if statuses else ""
        if listing.total and size is not None:
            pages = -(-listing.total // size)
            out.print(f"Page {page} is past the last: {listing.total} session(s) {what}make {pages} page(s) of "
                      f"{size}.", markup=False)
        else:
            out.print(f"No sessions {what}yet: start one with prodigy run <workflow>", markup=False)
        return 0
    _table(rows, out)
    if size is not None and listing.total > len(rows):
        first = (page - 1) * size + 1
        more = (f"--page {page + 1} for the next {min(size, listing.total - first + 1 - len(rows))}, "
                if first + len(rows) - 1 < listing.total else "")
        out.print(f"(sessions {first}-{first + len(rows) - 1} of {listing.total}, newest first; {more}"
                  f"--all for every one)", markup=False)
    return 0


def _table(rows: list[Any], out: Any) -> None:
    from prodigy.cli.render import fmt_age, table

    origin = any(row.origin for row in rows)  # the original (Rust) prodigy's sessions are marked
    table(["id", "kind", "workflow", "status", "progress", "age", *(["origin"] if origin else [])],
          [[row.id, row.kind, row.workflow, row.status, _progress(row.progress), fmt_age(row.age_seconds),
            *([row.origin or ""] if origin else [])] for row in rows], out=out)
    if any(row.origin == "original" for row in rows):
        out.print("origin 'original': written by the original (Rust) prodigy; `prodigy resume <id>` converts and "
                  "resumes one, `prodigy migrate` converts them all.", markup=False)


def _stream_json(listing: Any, size: int | None, page: int) -> None:
    """The --json object written as its rows are read: {"sessions": [...], "count", "total", "page", "limit",
    "pages", "warnings"}; with --all a listing of 100,000 sessions holds one row in memory at a time."""
    import json
    import sys

    write = sys.stdout.write
    write('{\n  "sessions": [')
    count = 0
    for row in listing.rows():
        text = json.dumps(asdict(row), indent=2, default=str).replace("\n", "\n    ")
        write(("," if count else "") + "\n    " + text)
        count += 1
    write("\n  ]" if count else "]")
    tail = {"count": count, "total": listing.total, "page": page if size is not None else None, "limit": size,
            "pages": -(-listing.total // size) if size else None, "warnings": listing.warnings}
    for key, value in tail.items():
        write(f',\n  "{key}": ' + json.dumps(value, indent=2, default=str).replace("\n", "\n  "))
    write("\n}\n")
    sys.stdout.flush()


def _progress(progress: dict[str, int]) -> str:
    if not progress:
        return "-"
    text = f"{progress.get('done', 0)}/{progress.get('total', '?')}"
    if progress.get("dlq"):
        text += f" ({progress['dlq']} dlq)"
    return text


def _warn(warnings: Any) -> None:
    from prodigy.cli.render import console

    err = console(stderr=True)
    for warning in warnings:
        err.print(f"Warning: {warning}", markup=False)


@sessions.command(epilog=SHOW_EPILOG)
@click.argument("session_id", metavar="ID", shell_complete=complete.session_or_job_ids)
@json_option
def show(session_id: str, json_output: bool) -> int:
    """Everything about one session (and, for MapReduce, its job)."""
    from prodigy.cli.render import emit_json
    from prodigy.resume.resolve import resolve
    from prodigy.views.sessions import show_session

    detail = show_session(resolve(session_id))
    if json_output:
        emit_json(asdict(detail))
        return 0
    _render_detail(detail)
    return 0


def _render_detail(detail: Any) -> None:
    from prodigy.cli.render import console, fields, fmt_age

    out = console()
    rec = detail.record
    state = rec["status"] + (" (in progress)" if detail.live else "") + (
        f" ({rec['status_note']})" if rec.get("status_note") else "")
    holder = detail.lock_holder
    fields([
        ("Session", rec["id"]), ("Kind", rec["kind"]), ("Workflow", f"{rec['workflow_name']} ({rec['workflow_path']})"),
        ("Input", ((rec.get("extra") or {}).get("inputs") or {}).get("label")),
        ("Status", state), ("Phase", rec.get("phase")), ("Progress", _progress(rec.get("progress") or {})),
        ("Run dir", rec.get("run_dir")), ("Created", f"{rec['created_at']} ({fmt_age(detail.age_seconds)} ago)"),
        ("Updated", rec.get("updated_at")), ("Finished", rec.get("finished_at")),
        ("Resumes", rec.get("resumes") or None), ("Exit code", rec.get("exit_code")), ("Error", rec.get("error")),
        ("Held by", f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started_at')}"
         if holder else None),
    ], out=out)
    job = detail.job
    if job is not None:
        c = job.counts
        out.print("Job:", markup=False)
        fields([
            ("Id", job.job_id), ("Phase", job.phase), ("Status", job.status),
            ("Items", f"{c['total']} total, {c['successful']} succeeded, {c['failed']} failed, "
                      f"{c['pending']} not run"),
            ("DLQ", f"{c['dlq']} item(s)" + (f" (prodigy dlq list {job.job_id})" if c["dlq"] else "")),
            ("Setup steps", _phase_steps(job.setup_steps_done, job.phase, "setup")),
            ("Reduce steps", _phase_steps(job.reduce_steps_done, job.phase, "reduce")),
            ("Agents", _agents_text(job.agents)), ("Per item", _per_item_text(job.agents)),
            ("Job folder", job.folder), ("Events", job.events_path), ("Error", job.error),
        ], out=out, indent=2)
        for warning in job.warnings:
            out.print(f"  Warning: {warning}", markup=False)
    std = detail.standard
    if std is not None:
        fields([("Steps", f"{std.steps_done}/{std.total_steps} done"),
                ("Agents", _agents_text(std.agents)),
                ("Next step", std.next_step), ("Checkpoint", std.checkpoint_path),
                ("Failure", (std.failure or {}).get("error") if std.failure else None),
                ("In flight", f"step {std.in_flight.get('index', 0) + 1}" if std.in_flight else None)], out=out)
    for problem in detail.problems:
        out.print(f"Problem: {problem}", markup=False)
    if detail.next_command:
        out.print(f"Next: {detail.next_command}", markup=False)


@sessions.command(epilog=CLEAN_EPILOG)
@click.option("--older-than", default="7d", show_default=True, metavar="AGE",
              help="Only sessions idle (last updated) at least this long: 30m, 12h, 7d, 2w; 0 for any age.")
@_status_option
@click.option("--dry-run", is_flag=True, help="List exactly what would be removed; remove nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def clean(older_than: str, statuses: tuple[str, ...], dry_run: bool, yes: bool, json_output: bool) -> int:
    """Remove finished sessions and everything they left under PRODIGY_HOME."""
    from prodigy.cli.confirm import confirm
    from prodigy.cli.render import console, emit_json, fmt_age, table
    from prodigy.views.common import parse_age
    from prodigy.views.sessions import apply_clean, plan_clean

    plan = plan_clean(parse_age(older_than), statuses)
    out = console(stderr=json_output)
    payload: dict[str, Any] = {
        "dry_run": dry_run, "older_than_seconds": plan.older_than, "statuses": list(plan.statuses),
        "sessions": [asdict(c) for c in plan.candidates], "kept": plan.kept, "removed": [], "skipped": [],
    }
    if not plan.candidates:
        if json_output:
            emit_json(payload)
            return 0
        out.print(f"Nothing to clean: no {'/'.join(plan.statuses)} session idle for {older_than} or more.",
                  markup=False)
        _kept(out, plan.kept)
        return 0
    if not json_output or not dry_run:
        verb = "Would remove" if dry_run else "Will remove"
        out.print(f"{verb} {len(plan.candidates)} session(s):", markup=False)
        table(["id", "kind", "status", "workflow", "idle"],
              [[c.id, c.kind, c.status, c.workflow, fmt_age(c.age_seconds)] for c in plan.candidates], out=out)
        if dry_run:
            out.print("Files and folders:", markup=False)
            for candidate in plan.candidates:
                for path in candidate.paths:
                    out.print(f"  {path}", markup=False)
        _kept(out, plan.kept)
    if dry_run:
        if json_output:
            emit_json(payload)
        else:
            out.print("Dry run: nothing was removed.", markup=False)
        return 0
    if not confirm(f"Remove these {len(plan.candidates)} session(s)?", yes=yes,
                   refusal=f"Refusing to remove {len(plan.candidates)} session(s) without confirmation.",
                   hint="Pass -y to confirm, or --dry-run to see what would go."):
        out.print("Nothing was removed.", markup=False)
        return 1
    result = apply_clean(plan)
    payload["removed"] = list(result.removed)
    payload["skipped"] = [{"id": sid, "reason": why} for sid, why in result.skipped]
    if json_output:
        emit_json(payload)
    else:
        out.print(f"Removed {len(result.removed)} session(s).", markup=False)
        for sid, why in result.skipped:
            out.print(f"Kept {sid}: {why}", markup=False)
    return 0


def _kept(out: Any, kept: dict[str, int]) -> None:
    for reason, number in sorted(kept.items()):
        out.print(f"Kept {number} session(s): {reason}", markup=False)


def _phase_steps(done: int, phase: str, which: str) -> str:
    """'2 done, setup complete': how many of the phase's steps have a completion record, and whether it ended."""
    order = ["setup", "map", "reduce", "done"]
    finished = phase in order and order.index(phase) > order.index(which)
    return f"{done} done, {which} {'complete' if finished else 'not complete'}"


def _agents_text(agents: dict[str, Any] | None) -> str | None:
    """ "$4.12 over 18 agent calls, 1.2M tokens in / 40.1k out (cache 900.0k read), 54 turns" """
    if not agents or not agents.get("total"):
        return None
    from prodigy.execution.agents.usage import describe_totals
    from prodigy.state.spend import READABLE

    short = {v: k for k, v in READABLE.items()}
    return describe_totals({short[k]: v for k, v in agents["total"].items() if k in short})


def _per_item_text(agents: dict[str, Any] | None) -> str | None:
    per_item = (agents or {}).get("completed_items")
    if not per_item:
        return None
    from prodigy.execution.agents.usage import fmt_cost

    text = f"{per_item['items']} completed item(s): {fmt_cost(per_item.get('cost_usd'))}"
    if per_item.get("average_cost_usd") is not None:
        text += f", {fmt_cost(per_item['average_cost_usd'])} on average"
    top = per_item.get("most_expensive")
    if top:
        text += f", most {top['item_id']} ({fmt_cost(top['cost_usd'])})"
    return text


def _add_portable() -> None:
    from prodigy.cli.portable import export, import_

    sessions.add_command(export)
    sessions.add_command(import_)


_add_portable()
