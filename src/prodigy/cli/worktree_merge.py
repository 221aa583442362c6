"""`prodigy worktree merge [NAME] [--all]` (added to the `worktree` group)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from prodigy.cli import complete
from prodigy.cli.common import json_option, verbose_option, verbosity

EPILOG = """\b
Examples:
  prodigy worktree merge session-93c8            merge one session's branch back
  prodigy worktree merge prodigy-session-93c8... the branch name works too
  prodigy worktree merge --all --dry-run         which completed sessions have commits to merge
  prodigy worktree merge --all -y
\b
The same merge as the end of a completed run: the session branch goes into the branch
the run started from (the workflow's merge: steps when it has them, else git merge),
then the worktree and branch are removed. A conflict aborts the merge and leaves your
branch as it was. A session that did not complete is merged only with --force. Exit 1
when a merge failed or conflicted.
"""


@click.command(name="merge", epilog=EPILOG)
@click.argument("name", required=False, metavar="[NAME]", shell_complete=complete.session_or_job_ids)
@click.option("--all", "all_", is_flag=True, help="Every completed session with commits to merge.")
@click.option("--force", is_flag=True, help="Also a session that did not complete (failed, interrupted).")
@click.option("--dry-run", is_flag=True, help="Say what would be merged; merge nothing.")
@click.option("-y", "--yes", is_flag=True, help="With --all: do not ask for confirmation.")
@verbose_option
@json_option
@click.pass_context
def merge(ctx: click.Context, name: str | None, all_: bool, force: bool, dry_run: bool, yes: bool,
          json_output: bool) -> int:
    """Merge a session's worktree branch back into the branch it started from."""
    from prodigy.cli.confirm import confirm
    from prodigy.cli.render import ConsoleReporter, emit_json
    from prodigy.cli.worktree_render import render_worktree
    from prodigy.errors import UsageError
    from prodigy.execution import merge_later
    from prodigy.execution.session import RunOptions
    from prodigy.execution.signals import stop_on_signals

    if name and all_:
        raise UsageError("Give a NAME or --all, not both.")
    found = merge_later.find(name, all_=all_, force=force)
    todo = [c for c in found if c.reason is None]
    reporter = ConsoleReporter(verbose=verbosity(ctx), json_mode=json_output)
    payload: dict = {"dry_run": dry_run, "candidates": [dataclasses.asdict(c) for c in found], "merged": [],
                     "not_merged": []}
    if name and not todo:
        from prodigy.errors import LockHeldError

        reason = found[0].reason or "nothing to merge"
        error = LockHeldError if "running" in reason else UsageError
        raise error(f"Not merging {found[0].session_id}: {reason}.", hint="See the worktrees with: prodigy worktree ls")
    for candidate in found:
        if candidate.reason:
            reporter.print(f"Not merging {candidate.session_id}: {candidate.reason}.")
    if dry_run or not todo:
        for candidate in todo:
            reporter.print(f"Would merge {candidate.branch} ({candidate.commits} commit(s)) of {candidate.session_id}.")
        if not todo:
            reporter.print("Nothing to merge.")
        if json_output:
            emit_json(payload)
        return 0
    if all_ and not confirm(f"Merge {len(todo)} session branch(es)?", yes=yes,
                            refusal=f"Refusing to merge {len(todo)} branch(es) without confirmation.",
                            hint="Pass -y, or --dry-run to see them."):
        reporter.print("Nothing was merged.")
        return 1
    failed = False
    options = RunOptions(run_dir=Path.cwd(), verbose=verbosity(ctx), json_output=json_output)
    with stop_on_signals() as stop:
        for candidate in todo:
            outcome = merge_later.merge(candidate.session_id, options, stop, reporter, force=force,
                                        on_line=reporter.line_sink())
            if outcome.report is None:
                reporter.print(f"Not merging {candidate.session_id}: {outcome.skipped}.")
                payload["not_merged"].append({"session_id": candidate.session_id, "reason": outcome.skipped})
                continue
            report = outcome.report
            ok = report.outcome in ("merged", "fast_forward", "nothing_to_merge")
            failed = failed or not ok
            (payload["merged"] if ok else payload["not_merged"]).append(
                {"session_id": candidate.session_id, "worktree": report.to_json()})
            if not json_output:
                reporter.print(f"Session {candidate.session_id}:")
                render_worktree(reporter, report)
    if json_output:
        emit_json(payload)
    return 1 if failed else 0
