"""`prodigy batch`: one command over many files, as a generated MapReduce run through the normal map machinery."""

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
  prodigy batch '*.py' --command "claude: /add-types ${item}"
  prodigy batch 'src/**/*.rs' --command "shell: rustfmt ${item}" --parallel 8
  prodigy batch '*.md' --command "wc -w ${item}" --retry 2 --timeout 60 -p docs-repo/
\b
Each matching file is one work item; ${item} is its path, relative to the run directory.
A PATTERN without '/' matches file names in every folder (like find -name); one with '/'
is a glob from the run directory (** for any depth). Quote it so your shell does not
expand it. The list is frozen when the map phase starts, so a resume processes exactly
the same files: prodigy resume <session-id>; failed files land in the DLQ
(prodigy dlq list). In a git repository the items run in worktrees, which only contain
committed files: commit them first, or use --no-worktree.
"""


@click.command(epilog=EPILOG)
@click.argument("pattern", metavar="PATTERN")
@click.option("--command", "-c", "command", required=True, metavar="CMD",
              help='What to run per file: "claude: /cmd ${item}", "shell: cmd ${item}", or a bare string.')
@click.option("--parallel", type=click.IntRange(min=0), default=5, show_default=True, metavar="N",
              help="Files processed at once (0 means 5).")
@click.option("--retry", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Attempts per file before it goes to the dead-letter queue.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECS",
              help="End a file's command after SECS seconds (the item fails).")
@path_option
@verbose_option
@click.option("-y", "--yes", is_flag=True, help="Merge the results back without asking.")
@click.option("--no-worktree", is_flag=True, help="Run in the directory itself, not in git worktrees.")
@executor_options
@json_option
@click.pass_context
def batch(ctx: click.Context, pattern: str, command: str, parallel: int, retry: int, timeout: float | None,
          path: str | None, yes: bool, no_worktree: bool, executor: str, scheduler: str | None,
          local_workers: int | None, json_output: bool) -> int:
    """Run a command once per file matching PATTERN, in parallel (a generated MapReduce workflow)."""
    from prodigy.cli.render import ConsoleReporter
    from prodigy.cli.worktree_render import merge_prompt
    from prodigy.errors import UsageError
    from prodigy.execution.oneoff import plan_batch, run_batch
    from prodigy.execution.session import RunOptions, resolve_run_dir
    from prodigy.execution.signals import stop_on_signals

    run_dir = resolve_run_dir(path)
    if not run_dir.is_dir():
        raise UsageError(f"Run directory does not exist: {run_dir}")
    plan_batch(pattern, command, run_dir, parallel=parallel, retry=retry, timeout=timeout)  # errors first
    extra = executor_extra(executor, scheduler, local_workers)
    verbose = verbosity(ctx)
    reporter = ConsoleReporter(verbose=verbose, json_mode=json_output)
    options = RunOptions(run_dir=run_dir, yes=yes, verbose=verbose, json_output=json_output,
                         no_worktree=no_worktree, extra=extra,
                         confirm=merge_prompt(reporter, yes=yes, json_output=json_output))
    with stop_on_signals() as stop:
        summary = run_batch(pattern, command, options, stop, reporter, parallel=parallel, retry=retry,
                            timeout=timeout, on_line=reporter.line_sink())
    return finish(reporter, summary, json_output)
