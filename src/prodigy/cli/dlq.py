"""`prodigy dlq list|show|retry|purge`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from prodigy.cli import complete
from prodigy.cli.common import executor_extra, executor_options, json_option, verbosity

GROUP_EPILOG = """\b
Examples:
  prodigy dlq list                                every job with failed items
  prodigy dlq show mapreduce-20261127 item_3      one item's failure history
  prodigy dlq retry mapreduce-20261127 --max-retries 3
  prodigy dlq purge mapreduce-20261127 -y
  prodigy dlq export failed.csv --format csv
  prodigy dlq stats
"""

LIST_EPILOG = """\b
Examples:
  prodigy dlq list                                every job with items in its DLQ
  prodigy dlq list mapreduce-20261127             one job (a unique prefix is enough)
  prodigy dlq list session-93c8 --json            a session id names its job
"""

SHOW_EPILOG = """\b
Examples:
  prodigy dlq show mapreduce-20261127             every DLQ item, every failed attempt
  prodigy dlq show mapreduce-20261127 item_3 7    some items (any status)
  prodigy dlq show mapreduce-20261127 --json
"""

RETRY_EPILOG = """\b
Examples:
  prodigy dlq retry mapreduce-20261127
  prodigy dlq retry mapreduce-20261127 --filter "priority == 'high'" --dry-run
  prodigy dlq retry mapreduce-20261127 --max-retries 3 --max-parallel 2
\b
This is `prodigy resume-job <job_id> --force` restricted to the chosen DLQ items: the same
lock, journal and events. Items of the job that never ran or were interrupted run too.
--filter uses the map filter language on each item's data.
"""

PURGE_EPILOG = """\b
Examples:
  prodigy dlq purge mapreduce-20261127            drop every DLQ item (asks first)
  prodigy dlq purge mapreduce-20261127 item_3 -y
\b
Purged items leave the DLQ view and are not retried by resume --force; the journal keeps
their history (a dlq_purge record), so `prodigy dlq show <job> <item>` still shows it.
"""


@click.group(epilog=GROUP_EPILOG)
def dlq() -> None:
    """Inspect, retry and purge failed MapReduce items (the dead-letter queue)."""


def _item_json(item: Any) -> dict[str, Any]:
    data = asdict(item)
    data.pop("index")
    return data


def _job_json(job: Any, *, history: bool = False) -> dict[str, Any]:
    items = []
    for item in job.items:
        data = _item_json(item)
        if not history:
            data.pop("failures")
            data.pop("data")
            data.pop("spend")
        items.append(data)
    return {"job_id": job.job_id, "session_id": job.session_id, "workflow": job.workflow,
            "dlq_count": job.dlq_count, "purged": list(job.purged),
            "items": items, "warnings": list(job.warnings)}


@dlq.command(name="list", epilog=LIST_EPILOG)
@click.argument("job_id", required=False, metavar="[JOB_ID]", shell_complete=complete.job_ids)
@json_option
def list_(job_id: str | None, json_output: bool) -> int:
    """Failed items: item id, attempts, last error, exit code, log path."""
    from prodigy.cli.render import console, emit_json
    from prodigy.views.common import find_job
    from prodigy.views.dlq import all_dlqs, job_dlq

    if job_id:
        jobs, warnings = (job_dlq(find_job(job_id)),), ()
    else:
        jobs, warnings = all_dlqs()
    if json_output:
        emit_json({"jobs": [_job_json(job) for job in jobs], "warnings": list(warnings)})
        return 0
    out = console()
    for warning in warnings:
        console(stderr=True).print(f"Warning: {warning}", markup=False)
    if not jobs:
        out.print("No items in any dead-letter queue. Items land there when they fail after their "
                  "retries; see runs with: prodigy sessions list", markup=False)
        return 0
    for number, job in enumerate(jobs):
        if number:
            out.print()
        _render_job(out, job)
    return 0


def _render_job(out: Any, job: Any) -> None:
    from prodigy.cli.render import table

    if not job.items:
        out.print(f"The dead-letter queue of job {job.job_id} is empty.", markup=False)
    else:
        out.print(f"Job {job.job_id} ({job.workflow}): {len(job.items)} item(s) in the dead-letter queue",
                  markup=False)
        table(["item", "attempts", "exit", "last error", "log"],
              [[i.item_id, i.attempts, i.exit_code, _one_line(i.last_error), i.log_path or "-"]
               for i in job.items], out=out)
    if job.purged:
        out.print(f"Purged from the DLQ: {len(job.purged)} item(s) ({', '.join(job.purged[:10])}"
                  f"{' ...' if len(job.purged) > 10 else ''})", markup=False)
    for warning in job.warnings:
        out.print(f"Warning: {warning}", markup=False)
    if job.items:
        from prodigy.resume.plan import retry_command

        out.print(f"Details: prodigy dlq show {job.job_id}   Retry: {retry_command(job.job_id)}",
                  markup=False)


def _one_line(text: str | None, width: int = 80) -> str:
    if not text:
        return "-"
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


@dlq.command(epilog=SHOW_EPILOG)
@click.argument("job_id", metavar="JOB_ID", shell_complete=complete.job_ids)
@click.argument("item_ids", nargs=-1, metavar="[ITEM_ID...]")
@json_option
def show(job_id: str, item_ids: tuple[str, ...], json_output: bool) -> int:
    """The full failure history of DLQ items (or of the named items), with their data."""
    from prodigy.cli.render import console, emit_json
    from prodigy.views.common import find_job
    from prodigy.views.dlq import job_dlq

    job = job_dlq(find_job(job_id), item_ids=item_ids, history=True)
    if json_output:
        emit_json(_job_json(job, history=True))
        return 0
    out = console()
    if not job.items:
        out.print(f"The dead-letter queue of job {job.job_id} is empty.", markup=False)
        return 0
    for number, item in enumerate(job.items):
        if number:
            out.print()
        _render_history(out, item)
    for warning in job.warnings:
        out.print(f"Warning: {warning}", markup=False)
    return 0


def _render_history(out: Any, item: Any) -> None:
    import json

    from prodigy.cli.render import fields, fmt_duration, tail

    spent = ""
    if item.spend and item.spend.get("cost_usd") is not None:
        from prodigy.execution.agents.usage import fmt_cost

        spent = f", {fmt_cost(item.spend['cost_usd'])} spent on agents"
    lost = sum(1 for failure in item.failures if failure.status == "interrupted")  # a cluster worker died
    failed = len(item.failures) - lost
    other = item.attempts - failed - lost - (1 if item.status == "succeeded" else 0)
    cut = f", {other} cut short by an interruption or a crash (not failures; not listed)" if other > 0 else ""
    died = f", {lost} lost with its worker (not failures)" if lost else ""
    out.print(f"{item.item_id}: {item.status}, {item.attempts} attempt(s): {failed} failed{died}{cut}{spent}",
              markup=False)
    if item.data is not None:
        out.print(f"  Data: {json.dumps(item.data, ensure_ascii=False)}", markup=False)
    for failure in item.failures:
        took = fmt_duration(failure.duration) if isinstance(failure.duration, (int, float)) else "?"
        out.print(f"  Attempt {failure.attempt}: {failure.status} at {failure.time} after {took}", markup=False)
        fields([("Error", failure.error), ("Exit code", failure.exit_code), ("Agent", _agent_text(failure.agent)),
                ("Log", failure.log_path), ("Worker", failure.worker)], out=out, indent=4)
        if failure.stderr_tail and failure.stderr_tail.strip():
            out.print("    stderr (last lines):", markup=False)
            for line in tail(failure.stderr_tail, 15).splitlines():
                out.print(f"      {line}", markup=False)


@dlq.command(epilog=RETRY_EPILOG)
@click.argument("job_id", metavar="JOB_ID", shell_complete=complete.job_ids)
@click.option("--max-parallel", type=click.IntRange(min=1), metavar="N",
              help="Run at most N items at once (default: the workflow's max_parallel).")
@click.option("--max-retries", type=click.IntRange(min=1), default=2, show_default=True, metavar="N",
              help="Attempts each DLQ item gets in this retry.")
@click.option("--filter", "filter_text", metavar="EXPR",
              help="Retry only DLQ items whose data matches (map filter syntax, e.g. \"size > 10\").")
@click.option("--dry-run", is_flag=True, help="List the items that would be retried; run nothing.")
@executor_options
@json_option
@click.pass_context
def retry(ctx: click.Context, job_id: str, max_parallel: int | None, max_retries: int, filter_text: str | None,
          dry_run: bool, executor: str, scheduler: str | None, local_workers: int | None, json_output: bool) -> int:
    """Run DLQ items again (through resume-job --force)."""
    from prodigy.cli.render import console, emit_json, table
    from prodigy.errors import NothingToResumeError
    from prodigy.resume.resolve import resolve
    from prodigy.views.common import job_ref
    from prodigy.views.dlq import job_dlq, select_for_retry

    executor_choice = executor_extra(executor, scheduler, local_workers)
    target = resolve(job_id)
    ref = job_ref(target)
    chosen = select_for_retry(ref, filter_text)
    if not chosen.indexes:
        if not chosen.dlq_total:
            raise NothingToResumeError(f"The dead-letter queue of job {ref.job_id} is empty: nothing to retry.")
        raise NothingToResumeError(f"No DLQ item of job {ref.job_id} matches --filter {filter_text!r} "
                                   f"({chosen.dlq_total} item(s) in the DLQ): nothing to retry.")
    if dry_run:
        if json_output:
            emit_json({"job_id": ref.job_id, "session_id": ref.session.id, "dry_run": True,
                       "filter": filter_text, "dlq_count": chosen.dlq_total, "items": list(chosen.item_ids)})
            return 0
        job = job_dlq(ref, item_ids=chosen.item_ids)
        out = console()
        out.print(f"Would retry {len(chosen.indexes)} of {chosen.dlq_total} DLQ item(s) of job {ref.job_id} "
                  f"(up to {max_retries} attempt(s) each):", markup=False)
        table(["item", "attempts", "last error"], [[i.item_id, i.attempts, _one_line(i.last_error)]
                                                   for i in job.items], out=out)
        out.print("Dry run: nothing was run.", markup=False)
        return 0
    extra = {"force": True, "max_retries": max_retries, "dlq_only": list(chosen.indexes), **executor_choice}
    if max_parallel:
        extra["max_parallel"] = max_parallel
    return _run_retry(ctx, target, extra, json_output)


def _run_retry(ctx: click.Context, target: Any, extra: dict[str, Any], json_output: bool) -> int:
    from prodigy.cli.common import finish
    from prodigy.cli.render import ConsoleReporter
    from prodigy.execution.session import RunOptions, resolve_run_dir
    from prodigy.execution.signals import stop_on_signals
    from prodigy.resume.job import resume_job

    verbose = verbosity(ctx)
    reporter = ConsoleReporter(verbose=verbose, json_mode=json_output)
    options = RunOptions(run_dir=resolve_run_dir(target.session.run_dir), verbose=verbose,
                         json_output=json_output, profile=target.session.extra.get("profile"), extra=extra)
    with stop_on_signals() as stop:
        summary = resume_job(target, options, stop, reporter, on_line=reporter.line_sink())
    return finish(reporter, summary, json_output)


@dlq.command(epilog=PURGE_EPILOG)
@click.argument("job_id", metavar="JOB_ID", shell_complete=complete.job_ids)
@click.argument("item_ids", nargs=-1, metavar="[ITEM_ID...]")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def purge(job_id: str, item_ids: tuple[str, ...], yes: bool, json_output: bool) -> int:
    """Drop items from the DLQ view (all of them, or the named ones); recorded in the job journal."""
    from prodigy.cli.confirm import confirm
    from prodigy.cli.render import console, emit_json
    from prodigy.views.common import find_job
    from prodigy.views.dlq import dlq_item_ids
    from prodigy.views.dlq import purge as purge_items

    ref = find_job(job_id)
    out = console(stderr=json_output)
    wanted = dlq_item_ids(ref, item_ids)
    if not wanted:
        if json_output:
            emit_json({"job_id": ref.job_id, "session_id": ref.session.id, "purged": []})
        else:
            out.print(f"The dead-letter queue of job {ref.job_id} is empty: nothing to purge.", markup=False)
        return 0
    if not yes:
        out.print(f"Items: {', '.join(wanted)}", markup=False)
    if not confirm(f"Purge {len(wanted)} item(s) from the DLQ of {ref.job_id}?", yes=yes,
                   refusal=f"Refusing to purge {len(wanted)} DLQ item(s) without confirmation.",
                   hint="Pass -y to confirm."):
        out.print("Nothing was purged.", markup=False)
        return 1
    purged = purge_items(ref, tuple(wanted))
    if json_output:
        emit_json({"job_id": ref.job_id, "session_id": ref.session.id, "purged": list(purged)})
    else:
        out.print(f"Purged {len(purged)} item(s) from the dead-letter queue of {ref.job_id}: "
                  f"{', '.join(purged)}", markup=False)
    return 0


def _agent_text(agent: dict[str, Any] | None) -> str | None:
    """ "$0.0123, 3 turns, 1.2k tokens in / 40 out, claude-opus-5-5, session 1c2f..." """
    if not agent:
        return None
    from prodigy.execution.agents.usage import fmt_cost, fmt_tokens

    parts = [fmt_cost(agent.get("cost_usd"))]
    if agent.get("turns"):
        parts.append(f"{agent['turns']} turn(s)")
    parts.append(f"{fmt_tokens(agent.get('input_tokens'))} tokens in / {fmt_tokens(agent.get('output_tokens'))} out")
    if agent.get("model"):
        parts.append(str(agent["model"]))
    if agent.get("session_id"):
        parts.append(f"conversation {agent['session_id']}")
    if agent.get("partial"):
        parts.append("cut short: no final result")
    return ", ".join(parts)


def _add_reports() -> None:
    from prodigy.cli.dlq_reports import export, stats

    dlq.add_command(export)
    dlq.add_command(stats)


_add_reports()
