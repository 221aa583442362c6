"""`prodigy resume` and `prodigy resume-job`."""

from __future__ import annotations

import click

from prodigy.cli import complete
from prodigy.cli.common import (
    cost_extra,
    executor_extra,
    executor_options,
    finish,
    json_option,
    max_cost_option,
    path_option,
    verbose_option,
    verbosity,
)

RESUME_EPILOG = """\b
Examples:
  prodigy resume session-93c8f475-17d2-4163-bf2e-c24095dd5254
  prodigy resume session-93c8                      a unique prefix is enough
  prodigy resume mapreduce-20261127_120501_session-93c8...   a job id works too
  prodigy resume session-93c8 --force --max-retries 3        also retry items in the DLQ
  prodigy resume session-93c8 --workflow moved/workflow.yml
  prodigy resume session-93c8 -p .        its checkout is gone: continue in this clone
\b
Standard sessions continue at the first step that did not complete (a failed step runs
again); MapReduce sessions continue their job in the phase where it stopped. Work that
completed is never run again. Without an id, the resumable sessions are listed.
"""

RESUME_JOB_EPILOG = """\b
Examples:
  prodigy resume-job mapreduce-20261127_120501_session-93c8f475-17d2-4163-bf2e-c24095dd5254
  prodigy resume-job mapreduce-20261127 --force --max-retries 3
  prodigy resume-job mapreduce-20261127 --json        one JSON object for CI scripts
  prodigy resume-job mapreduce-20261127 --executor dask --scheduler tcp://10.0.0.5:8786
\b
Items that completed are skipped; items that were running when the job stopped run
again; items in the dead-letter queue run again only with --force (up to --max-retries
more attempts each).
"""


def _resume_options(func):
    func = click.option("--workflow", "workflow_override", metavar="PATH",
                        help="Use this workflow file instead of the recorded path (if it moved).")(func)
    func = click.option("--max-retries", type=click.IntRange(min=0), default=2, show_default=True,
                        help="With --force: extra attempts for each DLQ item.")(func)
    func = click.option("-y", "--yes", is_flag=True,
                        help="Merge the session branch into your branch at the end without asking.")(func)
    func = click.option("--force", is_flag=True,
                        help="Also retry items in the dead-letter queue (MapReduce).")(func)
    func = click.option("--no-refresh", is_flag=True,
                        help="Keep the session worktree's old base: do not bring in new commits of the branch "
                             "the session started from.")(func)
    return verbose_option(json_option(path_option(executor_options(max_cost_option(func)))))


@click.command(epilog=RESUME_EPILOG)
@click.argument("target", required=False, metavar="[SESSION_ID|JOB_ID]",
                shell_complete=complete.session_or_job_ids)
@_resume_options
@click.pass_context
def resume(ctx: click.Context, target: str | None, path: str | None, force: bool, no_refresh: bool, yes: bool,
           max_retries: int, workflow_override: str | None, executor: str, scheduler: str | None,
           local_workers: int | None, json_output: bool) -> int:
    """Resume an interrupted or failed session (standard or MapReduce) or a MapReduce job."""
    from prodigy.resume.resolve import resolve

    extra = executor_extra(executor, scheduler, local_workers)
    if target is None:
        return _list_resumable()
    return _resume(ctx, (target, resolve), path, force, max_retries, workflow_override, json_output, yes, extra,
                   refresh=not no_refresh)


@click.command(name="resume-job", epilog=RESUME_JOB_EPILOG)
@click.argument("job_id", metavar="JOB_ID", shell_complete=complete.job_ids)
@_resume_options
@click.pass_context
def resume_job(ctx: click.Context, job_id: str, path: str | None, force: bool, no_refresh: bool, yes: bool,
               max_retries: int, workflow_override: str | None, executor: str, scheduler: str | None,
               local_workers: int | None, json_output: bool) -> int:
    """Resume a MapReduce job from the phase where it stopped."""
    from prodigy.resume.resolve import resolve_job

    extra = executor_extra(executor, scheduler, local_workers)
    return _resume(ctx, (job_id, resolve_job), path, force, max_retries, workflow_override, json_output, yes, extra,
                   refresh=not no_refresh)


def _check_retries(ctx: click.Context, force: bool, max_retries: int) -> None:
    """--max-retries only means something with --force: say so instead of ignoring it."""
    from prodigy.errors import UsageError

    typed = ctx.get_parameter_source("max_retries") is click.core.ParameterSource.COMMANDLINE
    if force and max_retries == 0:
        raise UsageError("--force --max-retries 0 would retry nothing: each item in the dead-letter queue would "
                         "get 0 more attempts.", hint="Give --max-retries 1 or more (the default is 2).")
    if typed and not force:
        raise UsageError(f"--max-retries {max_retries} sets how many more attempts the items in the dead-letter "
                         "queue get with --force; without --force they do not run.",
                         hint="Add --force to retry them, or leave out --max-retries.")


def _resume(ctx: click.Context, typed, path, force, max_retries, workflow_override, json_output,
            yes: bool = False, extra: dict | None = None, *, refresh: bool = True) -> int:
    _check_retries(ctx, force, max_retries)
    from prodigy.cli.legacy_render import render_conversion
    from prodigy.cli.render import ConsoleReporter
    from prodigy.cli.worktree_render import merge_prompt
    from prodigy.execution.session import RunOptions, resolve_run_dir
    from prodigy.execution.signals import stop_on_signals
    from prodigy.legacy.resolve import prepare_resume
    from prodigy.resume.run import resume_target

    verbose = verbosity(ctx)
    reporter = ConsoleReporter(verbose=verbose, json_mode=json_output)
    text, resolver = typed
    # A session or job of the original (Rust) prodigy is converted into our records first (once).
    prepared = prepare_resume(text, path=resolve_run_dir(path) if path else None, workflow=workflow_override)
    if prepared is not None:
        render_conversion(reporter, prepared.report, prepared.notes)
    target = prepared.target if prepared is not None else resolver(text)
    run_dir = resolve_run_dir(path) if path else resolve_run_dir(target.session.run_dir)
    options = RunOptions(run_dir=run_dir, verbose=verbose, json_output=json_output,
                         profile=target.session.extra.get("profile"),
                         extra={"force": force, "max_retries": max_retries, **(extra or {}), **cost_extra(ctx)},
                         yes=yes,
                         refresh=refresh,
                         confirm=merge_prompt(reporter, yes=yes, json_output=json_output))
    with stop_on_signals() as stop:
        summary = resume_target(target, options, stop, reporter, workflow_override=workflow_override,
                                on_line=reporter.line_sink())
    return finish(reporter, summary, json_output)


def _list_resumable() -> int:
    from prodigy.cli.render import console, escape
    from prodigy.errors import ExitCode
    from prodigy.legacy.listing import original_rows
    from prodigy.state import sessions

    originals, _legacy_warnings, legacy_ids = original_rows()  # the original (Rust) prodigy's sessions
    records, _warnings = sessions.load_all(skip=legacy_ids)
    resumable = [(r.id, r.kind, r.status, r.progress, r.workflow_name, "") for r in records if r.resumable]
    resumable += [(o.id, o.kind, o.status, o.progress, o.workflow, "  (original prodigy)") for o in originals
                  if o.resumable]
    out = console(stderr=True)
    out.print("Error: no session id given.")
    if not resumable:
        out.print("There are no resumable sessions. Start one with: prodigy run <workflow>")
    else:
        out.print("Resumable sessions (newest first):")
        for session_id, kind, status, progress, workflow, origin in resumable[:20]:
            done = f"{progress.get('done', 0)}/{progress.get('total', '?')}" if progress else "-"
            out.print(f"  {session_id}  {kind:<9} {status:<11} {done:>9}  {escape(workflow)}{origin}")
        out.print("Resume one with: prodigy resume <session-id>")
    return int(ExitCode.USAGE)
