"""`prodigy dlq export` and `prodigy dlq stats` (added to the `dlq` group)."""

from __future__ import annotations

from dataclasses import asdict

import click

from prodigy.cli import complete
from prodigy.cli.common import json_option, write_output

EXPORT_EPILOG = """\b
Examples:
  prodigy dlq export failed.json                       every job's DLQ items, as JSON
  prodigy dlq export failed.csv --format csv --job-id mapreduce-20261127
  prodigy dlq export - --job-id session-93c8 | jq '.items[].item_id'
\b
JSON has every failed attempt (error, exit code, stderr tail, log path) and the item's
data; CSV has one row per item with its last failure and the data as JSON. OUTPUT "-"
writes to stdout. The file is written whole or not at all.
"""

STATS_EPILOG = """\b
Examples:
  prodigy dlq stats                                    every job with a DLQ
  prodigy dlq stats mapreduce-20261127 --json
"""


@click.command(epilog=EXPORT_EPILOG)
@click.argument("output", metavar="OUTPUT", shell_complete=complete.workflow_files)
@click.option("--job-id", "job_id", metavar="ID", shell_complete=complete.job_ids, help="Only this job (a job id, its session id, or a unique prefix).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
def export(output: str, job_id: str | None, fmt: str) -> int:
    """Write DLQ items to OUTPUT as JSON or CSV."""
    from prodigy.cli.render import console
    from prodigy.views.dlq_reports import dlq_jobs, render, rows

    jobs, warnings = dlq_jobs(job_id)
    found = rows(jobs)
    err = console(stderr=True)
    for warning in warnings:
        err.print(f"Warning: {warning}", markup=False)
    write_output(output, render(found, fmt))
    if output != "-":
        jobs_text = f"job {jobs[0].job_id}" if job_id else f"{len(jobs)} job(s)"
        err.print(f"Wrote {len(found)} DLQ item(s) of {jobs_text} to {output} ({fmt}).", markup=False)
    return 0


@click.command(epilog=STATS_EPILOG)
@click.argument("job_id", required=False, metavar="[JOB_ID]", shell_complete=complete.job_ids)
@click.option("--workflow-id", "workflow_id", metavar="ID", hidden=True, help="The original's name for JOB_ID.")
@json_option
def stats(job_id: str | None, workflow_id: str | None, json_output: bool) -> int:
    """DLQ counts per job: items, failed attempts, exit codes, the most common errors."""
    from prodigy.cli.render import console, emit_json, fields, table
    from prodigy.views.dlq_reports import stats as dlq_stats

    result = dlq_stats(job_id or workflow_id)
    if json_output:
        emit_json({"total": result.total, "jobs": [asdict(j) for j in result.jobs],
                   "warnings": list(result.warnings)})
        return 0
    out = console()
    for warning in result.warnings:
        console(stderr=True).print(f"Warning: {warning}", markup=False)
    if not result.jobs or not result.total:
        out.print("No items in any dead-letter queue." if not (job_id or workflow_id) else
                  "The dead-letter queue of this job is empty.", markup=False)
        return 0
    out.print(f"{result.total} DLQ item(s) in {len(result.jobs)} job(s)", markup=False)
    for job in result.jobs:
        out.print(f"\nJob {job.job_id} ({job.workflow})", markup=False)
        fields([("Items", job.dlq), ("Failed attempts", job.attempts), ("Purged", job.purged or None),
                ("Exit codes", ", ".join(f"{code}: {n}" for code, n in job.by_exit_code.items())),
                ("First failure", job.oldest), ("Last failure", job.newest)], out=out, indent=2)
        table(["count", "error"], [[n, text] for text, n in job.top_errors], out=out)
    return 0
