"""`prodigy migrate`: convert the original (Rust) prodigy's sessions and jobs into this prodigy's records."""

from __future__ import annotations

import click

from prodigy.cli.common import json_option, path_option

MIGRATE_EPILOG = """\b
Examples:
  prodigy migrate --dry-run          what would be converted, and what each would recover
  prodigy migrate                    convert every original session not converted yet
  prodigy migrate session-93c8f475-17d2-4163-bf2e-c24095dd5254 --workflow ops/fix.yml
  prodigy migrate mapreduce-20251112_190130 --json
  prodigy migrate --redo session-93c8f475-17d2-4163-bf2e-c24095dd5254
\b
Reads what the original prodigy left in PRODIGY_HOME (default ~/.prodigy): session
records, workflow checkpoints, MapReduce events (rotated and gzipped ones too), DLQ items
and job state files, and writes this prodigy's records beside them. The original's files
are never changed. `prodigy resume <original id>` converts on the way; migrate converts
them all at once. Completed and cancelled sessions are listed, not converted. --redo
converts again from the untouched originals (refused once the converted session has run).
"""


@click.command(epilog=MIGRATE_EPILOG)
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--dry-run", is_flag=True, help="Report what would be converted; write nothing.")
@click.option("--redo", is_flag=True, help="Convert again originals that were converted before (if their "
              "converted session has not run since).")
@click.option("--workflow", "workflow_override", metavar="PATH",
              help="The workflow file, for originals that did not record it (MapReduce sessions) or whose file moved.")
@path_option
@json_option
def migrate(ids: tuple[str, ...], dry_run: bool, redo: bool, workflow_override: str | None, path: str | None,
            json_output: bool) -> int:
    """Convert the original (Rust) prodigy's sessions and jobs into this prodigy's records."""
    from prodigy.cli.legacy_render import conversion_lines
    from prodigy.cli.render import console, emit_json
    from prodigy.execution.session import resolve_run_dir
    from prodigy.legacy.migrate import migrate as run

    result = run(list(ids), dry_run=dry_run, redo=redo, path=resolve_run_dir(path) if path else None,
                 workflow=workflow_override)
    summary = {action: result.count(action) for action in ("converted", "would_convert", "already_converted",
                                                           "nothing_to_resume", "cancelled", "failed")}
    if json_output:
        emit_json({"dry_run": dry_run, "redo": redo, "originals": [r.to_json() for r in result.reports],
                   "counts": summary, "exit_code": result.exit_code})
        return result.exit_code
    out = console()
    if not result.reports:
        out.print("No sessions or jobs of the original prodigy found in this PRODIGY_HOME.", markup=False)
        return 0
    for report in result.reports:
        for line in conversion_lines(report):
            out.print(line, markup=False, highlight=False)
    parts = [f"{n} {label}" for label, n in (
        ("converted", summary["converted"]), ("would be converted", summary["would_convert"]),
        ("already converted", summary["already_converted"]),
        ("completed (nothing to resume)", summary["nothing_to_resume"]), ("cancelled", summary["cancelled"]),
        ("could not be converted", summary["failed"])) if n]
    out.print(f"{len(result.reports)} original(s): " + ", ".join(parts) + ("." if not dry_run else
                                                                         " (dry run: nothing was written)."),
              markup=False, highlight=False)
    if summary["converted"] or summary["already_converted"]:
        out.print("Resume one with: prodigy resume <original or converted id>", markup=False)
    return result.exit_code
