"""`prodigy run`."""

from __future__ import annotations

import click

from prodigy.cli.common import (
    executor_extra,
    executor_options,
    finish,
    json_option,
    path_option,
    verbose_option,
    verbosity,
)

EPILOG = """\b
Examples:
  prodigy run examples/hello.yml
  prodigy run workflows/fix-all.yml -p ~/src/project -y
  prodigy run deploy.yml --profile production
  prodigy run fan-out.yml --executor dask --local-workers 4
  prodigy run fan-out.yml --executor dask --scheduler tcp://10.0.0.5:8786
\b
The session id is printed first. If the run fails or is interrupted (Ctrl-C), it prints
the command that resumes it: prodigy resume <session-id>.
"""


@click.command(epilog=EPILOG)
@click.argument("workflow", metavar="WORKFLOW")
@path_option
@verbose_option
@click.option("-y", "--yes", is_flag=True, help="Answer yes to every prompt.")
@click.option("--no-worktree", is_flag=True,
              help="Run the steps in the directory itself, not in a git worktree of the session.")
@click.option("--profile", metavar="NAME", help="Use the env values of this profile from the workflow's profiles:.")
@executor_options
@json_option
@click.pass_context
def run(ctx: click.Context, workflow: str, path: str | None, yes: bool, no_worktree: bool, profile: str | None,
        executor: str, scheduler: str | None, local_workers: int | None, json_output: bool) -> int:
    """Run WORKFLOW, a YAML or JSON workflow file (standard or MapReduce)."""
    from prodigy.cli.render import ConsoleReporter
    from prodigy.cli.worktree_render import merge_prompt
    from prodigy.execution.session import RunOptions, resolve_run_dir, run_workflow_file
    from prodigy.execution.signals import stop_on_signals

    extra = executor_extra(executor, scheduler, local_workers)
    verbose = verbosity(ctx)
    reporter = ConsoleReporter(verbose=verbose, json_mode=json_output)
    options = RunOptions(run_dir=resolve_run_dir(path), profile=profile, yes=yes, verbose=verbose,
                         json_output=json_output, no_worktree=no_worktree, extra=extra,
                         confirm=merge_prompt(reporter, yes=yes, json_output=json_output))
    with stop_on_signals() as stop:
        summary = run_workflow_file(workflow, options, stop, reporter, on_line=reporter.line_sink())
    return finish(reporter, summary, json_output)
