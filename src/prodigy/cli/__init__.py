"""The command line. Subcommands are imported lazily so `prodigy --help` and id lookups start fast."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from prodigy import __version__

# name -> (module, attribute, one-line help shown in `prodigy --help` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("prodigy.cli.run", "run", "Run a workflow file (standard or MapReduce)."),
    "resume": ("prodigy.cli.resume", "resume", "Resume an interrupted or failed session or job."),
    "resume-job": ("prodigy.cli.resume", "resume_job", "Resume a MapReduce job by its job id."),
    "exec": ("prodigy.cli.exec_cmd", "exec_", "Run one command as a one-step workflow (recorded, resumable)."),
    "batch": ("prodigy.cli.batch", "batch", "Run a command once per matching file, in parallel (MapReduce)."),
    "validate": ("prodigy.cli.validate", "validate", "Check a workflow file without running it."),
    "sessions": ("prodigy.cli.sessions", "sessions", "List, show, clean, export and import sessions."),
    "dlq": ("prodigy.cli.dlq", "dlq", "Inspect and retry failed MapReduce items (dead-letter queue)."),
    "events": ("prodigy.cli.events", "events", "Read a job's event log."),
    "progress": ("prodigy.cli.watch", "progress", "Watch a MapReduce job live (terminal, JSON or --web page)."),
    "dashboard": ("prodigy.cli.dashboard", "dashboard", "Serve a live web page of all sessions."),
    "checkpoints": ("prodigy.cli.checkpoints", "checkpoints", "Inspect and repair saved state."),
    "worktree": ("prodigy.cli.worktree", "worktree", "List, merge and remove the git worktrees of sessions."),
    "template": ("prodigy.cli.template", "template", "Register, list, show, search and validate workflow templates."),
    "logs": ("prodigy.cli.logs", "logs", "Show the agent (claude) logs of a session, readable."),
    "clean": ("prodigy.cli.clean", "clean", "Remove what finished sessions left (worktrees, state, logs ...)."),
    "migrate": ("prodigy.cli.migrate", "migrate", "Convert the original (Rust) prodigy's sessions into ours."),
}

EPILOG = """\b
Examples:
  prodigy run workflow.yml               run a workflow in the current directory
  prodigy run mapreduce.yml -y -p repo/  run in repo/, answering yes to prompts
  prodigy resume session-1a2b            resume by (a prefix of) a session id
  prodigy resume-job mapreduce-2026 --force --max-retries 3
  prodigy sessions list                  what has run, newest first
\b
Exit codes: 0 ok, 1 workflow failed, 2 usage/input error, 3 items in the DLQ,
4 already in progress, 5 nothing to resume, 6 unreadable state, 70 internal error,
75 stopped: agents cannot run, API outage or cost cap (resumable), 130 interrupted
(resumable). See docs/exit-codes.md.
"""


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr, _help = COMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        return getattr(module, attr)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:  # `prodigy resum`: the commands are lazy, so click cannot suggest one
            import difflib

            close = difflib.get_close_matches(args[0] if args else "", list(COMMANDS), n=1, cutoff=0.6)
            if close and "Did you mean" not in exc.message:
                exc.message += f" Did you mean '{close[0]}'?"
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (mod, _a, help_text) in COMMANDS.items() if _available(mod)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _available(module_name: str) -> bool:
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="prodigy")
@click.option("-v", "--verbose", count=True, help="Stream each command's output, prefixed with its step or item.")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """prodigy runs YAML workflows of shell and AI-agent (claude) commands, including MapReduce
    fan-out over many work items. An interrupted or failed run can always be resumed, and completed
    work is never done again."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


def main(argv: list[str] | None = None) -> None:
    from prodigy.cli import streams
    from prodigy.cli.errors import run_cli

    streams.install()  # a closed pipe or an ASCII terminal never stops a run (cli/streams.py)
    sys.exit(run_cli(cli, argv))
