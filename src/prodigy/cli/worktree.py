"""`prodigy worktree ls|clean`."""

from __future__ import annotations

from typing import Any

import click

from prodigy.cli import complete
from prodigy.cli.common import json_option

GROUP_EPILOG = """\b
Examples:
  prodigy worktree ls
  prodigy worktree merge session-93c8
  prodigy worktree clean --orphaned --dry-run
  prodigy worktree clean session-93c8 -y
"""

CLEAN_EPILOG = """\b
Examples:
  prodigy worktree clean --dry-run            what would be removed
  prodigy worktree clean session-93c8 -y      one session's worktrees and branches
  prodigy worktree clean --orphaned -y        only leftovers: no session record, folder
                                              gone, or agent worktrees of stopped runs
\b
Removes the worktree folders and their prodigy-* branches (unmerged commits on them are
lost: merge first). The worktree of a running or resumable session (running, interrupted,
failed) is kept unless --force is given.
"""


@click.group(epilog=GROUP_EPILOG)
def worktree() -> None:
    """List, merge back and remove the git worktrees and branches prodigy created for its sessions."""


@worktree.command(name="ls", epilog="""\b
Examples:
  prodigy worktree ls                 every prodigy worktree, with its session's status
  prodigy worktree ls --json          for scripts
""")
@json_option
def ls(json_output: bool) -> int:
    """List prodigy's worktrees: session, kind, status, branch, unmerged commits, path."""
    from prodigy.cli.render import console, emit_json, table
    from prodigy.git.admin import list_worktrees

    entries, warnings = list_worktrees()
    if json_output:
        emit_json({"worktrees": [e.to_json() for e in entries], "warnings": warnings})
        return 0
    out = console()
    for warning in warnings:
        console(stderr=True).print(f"Warning: {warning}", markup=False)
    if not entries:
        out.print("No prodigy worktrees.", markup=False)
        return 0
    table(["session", "kind", "status", "branch", "unmerged", "path"],
          [[e.session_id, e.kind, _status(e), e.branch, "-" if e.unmerged is None else e.unmerged,
            e.path if e.exists else f"{e.path} (missing)"] for e in entries], out=out)
    return 0


@worktree.command(epilog=CLEAN_EPILOG)
@click.argument("session_id", required=False, metavar="[SESSION_ID]",
                shell_complete=complete.session_or_job_ids)
@click.option("--orphaned", is_flag=True, help="Only leftovers (see below).")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Also remove worktrees of running or resumable sessions.")
@json_option
def clean(session_id: str | None, orphaned: bool, dry_run: bool, yes: bool, force: bool, json_output: bool) -> int:
    """Remove prodigy's worktrees (all, one session's, or only orphaned ones) and their branches."""
    from prodigy.cli.confirm import confirm
    from prodigy.cli.render import console, emit_json
    from prodigy.git.admin import apply_clean, plan_clean

    plan = plan_clean(session_id, orphaned=orphaned, force=force)
    out = console(stderr=json_output)
    payload: dict[str, Any] = {"dry_run": dry_run, "remove": [e.to_json() for e in plan.remove],
                               "skipped": [{**e.to_json(), "reason": r} for e, r in plan.skipped],
                               "removed": [], "problems": []}
    _show(out, plan, dry_run)
    if dry_run or not plan.remove:
        if json_output:
            emit_json(payload)
        return 0
    if not confirm(f"Remove {len(plan.remove)} worktree(s) and their branches?", yes=yes,
                   refusal="Removing worktrees needs confirmation and there is no terminal to ask on.",
                   hint="Pass -y to remove them, or --dry-run to see what would be removed."):
        out.print("Nothing removed.", markup=False)
        return 1
    result = apply_clean(plan)
    payload["removed"] = [e.path for e in result.removed]
    payload["problems"] = result.problems
    out.print(f"Removed {len(result.removed)} worktree(s).", markup=False)
    for problem in result.problems:
        out.print(f"Problem: {problem}", markup=False)
    if json_output:
        emit_json(payload)
    return 1 if result.problems else 0


def _show(out: Any, plan: Any, dry_run: bool) -> None:
    if not plan.remove:
        out.print("Nothing to remove.", markup=False)
    else:
        out.print(f"{'Would remove' if dry_run else 'Will remove'} {len(plan.remove)} worktree(s):", markup=False)
    for entry in plan.remove:
        losses = [f"{entry.unmerged} unmerged commit(s) on {entry.branch}" if entry.unmerged else "",
                  f"{entry.uncommitted} uncommitted file(s)" if entry.uncommitted else ""]
        lost = f" ({' and '.join(x for x in losses if x)} will be lost)" if any(losses) else ""
        out.print(f"  {entry.kind:<7} {entry.session_id}  {entry.path}{lost}", markup=False)
    for entry, reason in plan.skipped:
        out.print(f"Kept {entry.kind} worktree {entry.path}: {reason}", markup=False)


def _status(entry: Any) -> str:
    return entry.status + (" (running)" if entry.locked else "")


def _add_merge() -> None:
    from prodigy.cli.worktree_merge import merge

    worktree.add_command(merge)


_add_merge()
