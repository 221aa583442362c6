"""`prodigy checkpoints list|show|validate`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from prodigy.cli import complete
from prodigy.cli.common import json_option

GROUP_EPILOG = """\b
Examples:
  prodigy checkpoints list
  prodigy checkpoints show mapreduce-20261127
  prodigy checkpoints validate mapreduce-20261127 --repair
"""

LIST_EPILOG = """\b
Examples:
  prodigy checkpoints list                        every session's saved state
  prodigy checkpoints list session-93c8           one session (or job)
  prodigy checkpoints list --json
\b
Standard sessions keep a checkpoint per session; MapReduce jobs keep a journal and a
snapshot of it (checkpoint.json) in the job folder.
"""

SHOW_EPILOG = """\b
Examples:
  prodigy checkpoints show session-93c8           a standard session's checkpoint
  prodigy checkpoints show mapreduce-20261127     a job's snapshot summary
  prodigy checkpoints show mapreduce-20261127 --json
"""

VALIDATE_EPILOG = """\b
Examples:
  prodigy checkpoints validate mapreduce-20261127
  prodigy checkpoints validate mapreduce-20261127 --repair
\b
Checks the journal (torn or garbled lines), the snapshot (missing, unreadable, beyond the
end of the journal, or disagreeing with a full fold of the journal) and the frozen work
list (missing, or not one line per item). --repair rebuilds the snapshot from the journal
(cutting a torn last record, as the next resume would). Exit 0 when valid, 6 when
problems remain.
"""


@click.group(epilog=GROUP_EPILOG)
def checkpoints() -> None:
    """Inspect, validate and repair saved state (checkpoints and job snapshots)."""


@checkpoints.command(name="list", epilog=LIST_EPILOG)
@click.argument("target_id", required=False, metavar="[SESSION_ID|JOB_ID]",
                shell_complete=complete.session_or_job_ids)
@json_option
def list_(target_id: str | None, json_output: bool) -> int:
    """List checkpoints, newest session first."""
    from prodigy.cli.render import console, emit_json, table
    from prodigy.resume.resolve import resolve
    from prodigy.views.checkpoints import list_checkpoints

    entries, warnings = list_checkpoints(resolve(target_id) if target_id else None)
    if json_output:
        emit_json({"checkpoints": [asdict(e) for e in entries], "warnings": list(warnings)})
        return 0
    out = console()
    for warning in warnings:
        console(stderr=True).print(f"Warning: {warning}", markup=False)
    if not entries:
        out.print("No checkpoints yet: they are written while a workflow runs (prodigy run <workflow>).",
                  markup=False)
        return 0
    table(["session", "job", "kind", "status", "size", "modified", "path"],
          [[e.session_id, e.job_id or "-", e.kind, e.status, _size(e.size_bytes) if e.exists else "missing",
            (e.modified_at or "-")[:19].replace("T", " "), e.path] for e in entries], out=out)
    return 0


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


@checkpoints.command(epilog=SHOW_EPILOG)
@click.argument("target_id", metavar="SESSION_ID|JOB_ID", shell_complete=complete.session_or_job_ids)
@json_option
def show(target_id: str, json_output: bool) -> int:
    """Summarise a standard checkpoint or a job snapshot."""
    from prodigy.cli.render import console, emit_json, fields
    from prodigy.resume.resolve import resolve
    from prodigy.views.checkpoints import show_checkpoint

    detail = show_checkpoint(resolve(target_id))
    if json_output:
        emit_json(detail)
        return 0
    out = console()
    fields([("Session", detail["session_id"]), ("Job", detail["job_id"]), ("Kind", detail["kind"]),
            ("Path", detail["path"]), ("Size", _size(detail["size_bytes"]) if detail["exists"] else "missing"),
            ("Modified", detail["modified_at"])], out=out)
    if detail["kind"] == "job":
        fields([("Journal", f"{detail['journal_path']} ({_size(detail['journal_size_bytes'])})"),
                ("Covers", f"journal bytes 0..{detail['offset']}" if detail["offset"] is not None else None),
                ("Records after it", detail.get("records_after_snapshot"))], out=out)
    _render_state(out, detail)
    if detail["error"]:
        out.print(f"Note: {detail['error']}", markup=False)
    return 0


def _render_state(out: Any, detail: dict[str, Any]) -> None:
    from prodigy.cli.render import fields

    state = detail["state"]
    if not state:
        return
    if detail["kind"] == "job":
        c = state["items"]
        fields([("Phase", state["phase"]), ("Status", state["status"]),
                ("Items", f"{c['total']} total, {c['successful']} succeeded, {c['failed']} failed "
                          f"({c['dlq']} in the DLQ), {c['pending']} not run"),
                ("Setup steps done", state["setup_steps_done"]), ("Reduce steps done", state["reduce_steps_done"]),
                ("Resumes", state["resumes"]), ("Error", state["error"])], out=out)
        return
    done = state["completed_steps"]
    fields([("Status", state["status"]), ("Steps", f"{len(done)}/{state['total_steps']} done"),
            ("Next step", state["next_step"]),
            ("In flight", f"step {state['in_flight'].get('index', 0) + 1}" if state["in_flight"] else None),
            ("Failure", (state["failure"] or {}).get("error") if state["failure"] else None),
            ("Variables", ", ".join(state["variables"]) or None), ("Updated", state["updated_at"])], out=out)


@checkpoints.command(epilog=VALIDATE_EPILOG)
@click.argument("target_id", metavar="SESSION_ID|JOB_ID", shell_complete=complete.session_or_job_ids)
@click.option("--repair", is_flag=True, help="Rebuild the job snapshot from a full fold of the journal.")
@json_option
def validate(target_id: str, repair: bool, json_output: bool) -> int:
    """Check a job's (or session's) saved state and say exactly what is wrong."""
    from prodigy.cli.render import console, emit_json
    from prodigy.errors import ExitCode
    from prodigy.resume.resolve import resolve
    from prodigy.views import checkpoints as views

    target = resolve(target_id)
    actions: tuple[str, ...] = ()
    before = None
    if repair:
        outcome = views.repair(target)
        actions, result = outcome.actions, outcome.after
        before = outcome.before
    else:
        result = views.validate(target)
    code = int(ExitCode.OK if result.valid else ExitCode.STATE_ERROR)
    if json_output:
        emit_json({"session_id": result.session_id, "job_id": result.job_id, "kind": result.kind,
                   "valid": result.valid, "problems": [asdict(p) for p in result.problems],
                   "found_before_repair": None if before is None else [asdict(p) for p in before.problems],
                   "repaired": list(actions), "checked": list(result.checked), "notes": list(result.notes)})
        return code
    out = console()
    name = result.job_id or result.session_id
    if before is not None and before.problems:
        out.print(f"Found {len(before.problems)} problem(s) in {name}:", markup=False)
        for problem in before.problems:
            out.print(f"  ✖ [{problem.code}] {problem.message}", markup=False)
    for action in actions:
        out.print(f"Repaired: {action}", markup=False)
    for note in result.notes:
        out.print(f"Note: {note}", markup=False)
    if result.valid:
        checked = ", ".join(Path(path).name for path in result.checked)
        out.print(f"✔ {name}: state is valid (checked {checked})", markup=False)
        return code
    out.print(f"✖ {name}: {len(result.problems)} problem(s){' remain' if repair else ''}:", markup=False)
    for problem in result.problems:
        fix = " (--repair fixes this)" if problem.repairable and not repair else ""
        out.print(f"  [{problem.code}] {problem.message}{fix}", markup=False)
    return code
