"""`prodigy run`."""

from __future__ import annotations

from typing import Any

import click

from prodigy.cli import complete
from prodigy.cli.common import (
    cost_extra,
    executor_extra,
    executor_options,
    finish,
    json_option,
    max_cost_option,
    param_options,
    path_option,
    read_params,
    verbose_option,
    verbosity,
)

EPILOG = """\b
Examples:
  prodigy run examples/hello.yml
  prodigy run workflows/fix-all.yml -p ~/src/project -y
  prodigy run deploy.yml --profile production
  prodigy run implement.yml --args 41 --args 42      one session per value ($ARG)
  prodigy run implement.yml --map 'specs/*.md'       one session per file ($ARG, ${FILE})
  prodigy run improve.yml -n 5                       up to 5 iterations, until one makes no commit
  prodigy run workflow.yml --dry-run                 print the steps; run nothing
  prodigy run deploy.yml --param environment=prod --param replicas=3
  prodigy run deploy.yml --param-file params.json    composed workflows: see docs/composition.md
  prodigy run fan-out.yml --executor dask --local-workers 4
  prodigy run fan-out.yml --executor dask --scheduler tcp://10.0.0.5:8786
  prodigy run fan-out.yml --executor dask --scheduler tls://10.0.0.5:8786 --repo-transfer git
\b
The session id is printed first. If the run fails or is interrupted (Ctrl-C), it prints
the command that resumes it: prodigy resume <session-id>. With --args, --map or -n each
run is its own session, resumable on its own; the end of the output lists them all.
"""


@click.command(epilog=EPILOG)
@click.argument("workflow", metavar="WORKFLOW", shell_complete=complete.workflow_files)
@path_option
@verbose_option
@click.option("-y", "--yes", is_flag=True, help="Answer yes to every prompt.")
@click.option("--no-worktree", is_flag=True,
              help="Run the steps in the directory itself, not in a git worktree of the session.")
@click.option("--profile", metavar="NAME", help="Use the env values of this profile from the workflow's profiles:.")
@click.option("--args", "args", multiple=True, metavar="VALUE",
              help="Run once per value with $ARG (and ${ARG_1}, $PRODIGY_ARG) set to it (repeatable). In a "
                   "MapReduce workflow: one run with ARG_1..N.")
@click.option("--map", "maps", multiple=True, metavar="PATTERN", shell_complete=complete.workflow_files,
              help="Run once per file matching the glob (repeatable): $ARG is the file name up to its first '-' "
                   "(65-foo.md: 65), ${FILE} the file name, ${FILE_PATH} its path.")
@click.option("-n", "--max-iterations", "iterations", type=click.IntRange(min=1), default=1, metavar="N",
              help="Repeat a standard workflow up to N times (each its own session), stopping early when an "
                   "iteration makes no commits. ${ITERATION} is 1..N.")
@click.option("--fail-fast", is_flag=True, help="With --args/--map: stop at the first run that does not complete.")
@param_options
@click.option("--dry-run", is_flag=True,
              help="Print every step as it would run, variables filled in where known; execute nothing and "
                   "create no session or worktree.")
@executor_options
@max_cost_option
@json_option
@click.pass_context
def run(ctx: click.Context, workflow: str, path: str | None, yes: bool, no_worktree: bool, profile: str | None,
        args: tuple[str, ...], maps: tuple[str, ...], iterations: int, fail_fast: bool, params: tuple[str, ...],
        param_file: str | None, dry_run: bool, executor: str, scheduler: str | None, local_workers: int | None,
        json_output: bool) -> int:
    """Run WORKFLOW, a YAML or JSON workflow file (standard or MapReduce)."""
    from prodigy.errors import UsageError
    from prodigy.execution.session import RunOptions, resolve_run_dir, run_workflow
    from prodigy.workflow.load import load_workflow

    run_dir = resolve_run_dir(path)
    if not run_dir.is_dir():
        raise UsageError(f"Run directory does not exist: {run_dir}")
    loaded = load_workflow(workflow, params=read_params(params, param_file), search_dirs=(run_dir,))
    many = bool(args or maps or iterations > 1)
    if dry_run or many:
        return _run_many(ctx, loaded, run_dir, profile=profile, args=args, maps=maps, iterations=iterations,
                         fail_fast=fail_fast, dry_run=dry_run, json_output=json_output, yes=yes,
                         no_worktree=no_worktree, executor=(executor, scheduler, local_workers))
    from prodigy.cli.render import ConsoleReporter
    from prodigy.cli.worktree_render import merge_prompt
    from prodigy.execution.signals import stop_on_signals

    extra = {**executor_extra(executor, scheduler, local_workers), **cost_extra(ctx)}
    verbose = verbosity(ctx)
    reporter = ConsoleReporter(verbose=verbose, json_mode=json_output)
    options = RunOptions(run_dir=run_dir, profile=profile, yes=yes, verbose=verbose,
                         json_output=json_output, no_worktree=no_worktree, extra=extra,
                         confirm=merge_prompt(reporter, yes=yes, json_output=json_output))
    with stop_on_signals() as stop:
        summary = run_workflow(loaded, options, stop, reporter, on_line=reporter.line_sink())
    return finish(reporter, summary, json_output)


def _run_many(ctx: click.Context, loaded: Any, run_dir: Any, *, profile: str | None,
              args: tuple[str, ...], maps: tuple[str, ...], iterations: int, fail_fast: bool, dry_run: bool,
              json_output: bool, yes: bool, no_worktree: bool, executor: tuple[Any, Any, Any]) -> int:
    """--args / --map / -n / --dry-run: the inputs are planned (and checked) before any session exists."""
    from prodigy.cli.runs_render import MultiRunReporter, render_dry_runs, render_multi
    from prodigy.cli.worktree_render import merge_prompt
    from prodigy.errors import UsageError
    from prodigy.execution import environment
    from prodigy.execution.runs import plan_inputs, run_many
    from prodigy.execution.session import RunOptions
    from prodigy.execution.signals import stop_on_signals

    environment.check_profile(loaded, profile)
    inputs = plan_inputs(loaded, args=args, maps=maps, run_dir=run_dir, iterations=iterations)
    verbose = verbosity(ctx)
    reporter = MultiRunReporter(verbose=verbose, json_mode=json_output)
    if dry_run:
        from prodigy.execution.subworkflows import plan as children
        from prodigy.workflow.dryrun import dry_run as plan_dry_run

        runs = []
        for i in inputs:
            label = i.label if i else None
            if not loaded.subworkflows:
                runs.append(plan_dry_run(loaded, inputs=i.variables if i else None, profile=profile, label=label))
                continue
            for sub in children(loaded):  # each sub-workflow, then the own steps, as they would run in order
                runs.append(plan_dry_run(sub.workflow, inputs={**(i.variables if i else {}),
                                                                 **{k: v for k, v in sub.inputs if "${" not in v}},
                                         label=f"{label + ': ' if label else ''}sub-workflow {sub.name}"))
        return render_dry_runs(reporter, loaded, runs, iterations, json_output)
    extra = {**executor_extra(*executor), **cost_extra(ctx)}
    if not loaded.is_mapreduce and extra.get("executor", {}).get("kind", "local") != "local":
        raise UsageError("--executor applies to the map phase of MapReduce workflows; "
                         f"{loaded.path.name} is a standard workflow (its steps run here, in order).")
    options = RunOptions(run_dir=run_dir, profile=profile, yes=yes, verbose=verbose, json_output=json_output,
                         no_worktree=no_worktree, extra=extra,
                         confirm=merge_prompt(reporter, yes=yes, json_output=json_output))
    with stop_on_signals() as stop:
        multi = run_many(loaded, inputs, options, stop, reporter, iterations=iterations, fail_fast=fail_fast,
                         on_line=reporter.line_sink())
    return render_multi(reporter, multi, json_output)
