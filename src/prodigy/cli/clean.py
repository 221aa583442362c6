"""`prodigy clean all|worktrees|sessions|logs|state|events|dlq`."""

from __future__ import annotations

from typing import Any

import click

from prodigy.cli.common import json_option
from prodigy.views.clean import TARGETS

EPILOG = """\b
Examples:
  prodigy clean all --dry-run                 what would go, and what is kept and why
  prodigy clean sessions --older-than 30d -y
  prodigy clean worktrees -y                  worktrees of finished sessions
  prodigy clean logs --older-than 1d -y       agent logs and crash logs
  prodigy clean dlq -y                        purge the DLQ of finished jobs
  prodigy clean state -f -y                   also the state of resumable sessions
\b
What each target removes, for sessions that are finished (completed or cancelled)
and idle for --older-than:
  sessions   the session record and everything it left (checkpoints, job folder,
             events, mappings, agent logs, generated workflow)
  state      checkpoints and job folders only; the record stays in sessions list
  worktrees  prodigy's git worktrees and their branches (unmerged commits are lost:
             the list says which), and leftovers with no session
  logs       agent logs, and crash logs older than --older-than
  events     job event logs (item events stay readable: they come from the journal)
  dlq        purges the dead-letter queue of finished jobs (a journal record)
  all        worktrees + sessions + crash logs + leftovers of removed sessions
A resumable session (interrupted, failed, or running with no live process) and a
completed job with items in its DLQ are kept unless -f is given; a session that a
prodigy process is executing is never touched. It asks before removing (-y skips).
"""


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


@click.command(epilog=EPILOG)
@click.argument("target", type=click.Choice(TARGETS), metavar="TARGET")
@click.option("--older-than", default="7d", show_default=True, metavar="AGE",
              help="Only what has been idle at least this long: 30m, 12h, 7d, 2w; 0 for any age.")
@click.option("--dry-run", is_flag=True, help="List what would be removed and what is kept; remove nothing.")
@click.option("-f", "--force", is_flag=True,
              help="Also the state of resumable sessions and non-empty DLQs (never a running session).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def clean(target: str, older_than: str, dry_run: bool, force: bool, yes: bool, json_output: bool) -> int:
    """Remove what finished sessions left under PRODIGY_HOME: TARGET is all, worktrees, sessions, logs,
    state, events or dlq."""
    from prodigy.cli.confirm import confirm
    from prodigy.cli.render import console, emit_json
    from prodigy.views.clean import apply_clean, plan_clean, summary_json
    from prodigy.views.common import parse_age

    plan = plan_clean(target, older_than=parse_age(older_than), force=force)
    out = console(stderr=json_output)
    if json_output and (dry_run or not plan.remove):
        emit_json(summary_json(plan, None, dry_run))
        return 0
    _show(out, plan, dry_run, older_than)
    if dry_run or not plan.remove:
        return 0
    if not confirm(f"Remove these {len(plan.remove)} item(s)?", yes=yes,
                   refusal=f"Refusing to remove {len(plan.remove)} item(s) without confirmation.",
                   hint="Pass -y to confirm, or --dry-run to see what would go."):
        out.print("Nothing was removed.", markup=False)
        return 1
    result = apply_clean(plan)
    if json_output:
        emit_json(summary_json(plan, result, False))
    else:
        freed = sum(r.size for r in result.removed)
        out.print(f"Removed {len(result.removed)} item(s), {_mb(freed)}.", markup=False)
        for item, why in result.skipped:
            out.print(f"Kept {item.what} {item.session_id or ', '.join(item.paths)}: {why}", markup=False)
    return 1 if result.skipped else 0


def _show(out: Any, plan: Any, dry_run: bool, older_than: str) -> None:
    if not plan.remove:
        out.print(f"Nothing to clean for {plan.target}: nothing finished and idle for {older_than} or more.",
                  markup=False)
    else:
        verb = "Would remove" if dry_run else "Will remove"
        out.print(f"{verb} {len(plan.remove)} item(s), {_mb(plan.size)}:", markup=False)
        for item in plan.remove:
            who = item.session_id or ""
            status = f" ({item.status})" if item.status else ""
            detail = f": {item.detail}" if item.detail else ""
            out.print(f"  {item.what:<9} {who}{status}{detail}", markup=False)
            for path in item.paths if dry_run else ():
                out.print(f"            {path}", markup=False)
    by_reason: dict[str, list[Any]] = {}
    for kept in plan.kept:
        by_reason.setdefault(kept.reason, []).append(kept)
    for reason, group in by_reason.items():
        if len(group) > 3:  # the same reason for many: one line
            out.print(f"Kept {len(group)} {group[0].what}: {reason}", markup=False)
            continue
        for kept in group:
            out.print(f"Kept {kept.what} {kept.session_id or ''}: {reason}", markup=False)
    if dry_run:
        out.print("Dry run: nothing was removed.", markup=False)
