"""`prodigy exec`: one command as a one-step workflow, recorded and resumable like any other run."""

from __future__ import annotations

import click

from prodigy.cli.common import finish, json_option, path_option, verbose_option, verbosity

EPILOG = """\b
Examples:
  prodigy exec "shell: cargo test"
  prodigy exec "claude: /prodigy-lint src/" --retry 3
  prodigy exec /prodigy-lint                     a bare /command is a claude command
  prodigy exec "make build" --timeout 600 -p ~/src/project
\b
COMMAND is "claude: /cmd", "shell: cmd", or a bare string (claude when it starts with
/, otherwise shell). --retry N gives the command up to N attempts; --timeout ends it after
SECS seconds. Like `prodigy run`, it gets a session (the id is printed first) and, in a
git repository, a worktree whose commits are merged back when it succeeds (as the
original's exec did); if it fails: prodigy resume <session-id>.
"""


@click.command(name="exec", epilog=EPILOG)
@click.argument("command", metavar="COMMAND")
@click.option("--retry", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Attempts of the command before it counts as failed.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECS",
              help="End the command (its whole process group) after SECS seconds.")
@path_option
@verbose_option
@click.option("--no-worktree", is_flag=True, help="Run in the directory itself, not in a git worktree.")
@json_option
@click.pass_context
def exec_(ctx: click.Context, command: str, retry: int, timeout: float | None, path: str | None,
          no_worktree: bool, json_output: bool) -> int:
    """Run one command (shell or claude) as a one-step workflow."""
    from prodigy.cli.render import ConsoleReporter
    from prodigy.execution.oneoff import run_exec
    from prodigy.execution.session import RunOptions, resolve_run_dir
    from prodigy.execution.signals import stop_on_signals
    from prodigy.workflow.generate import parse_command

    parse_command(command)  # a usage error before anything is written
    verbose = verbosity(ctx)
    reporter = ConsoleReporter(verbose=verbose, json_mode=json_output)
    options = RunOptions(run_dir=resolve_run_dir(path), yes=True, verbose=verbose, json_output=json_output,
                         no_worktree=no_worktree)
    with stop_on_signals() as stop:
        summary = run_exec(command, options, stop, reporter, retry=retry, timeout=timeout,
                           on_line=reporter.line_sink())
    return finish(reporter, summary, json_output)
