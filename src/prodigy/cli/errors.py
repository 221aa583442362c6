"""The one error handler: ProdigyError -> its message and exit code; a bug -> a crash log, never a traceback."""

from __future__ import annotations

import os
import sys
import traceback
from datetime import datetime

import click

from prodigy.errors import ExitCode, ProdigyError


def run_cli(command: click.Group, argv: list[str] | None) -> int:
    try:
        result = command.main(args=argv, prog_name="prodigy", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return int(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.USAGE)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except ProdigyError as exc:
        report_error(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        _silence_broken_pipe()
        return int(ExitCode.OK)
    except OSError as exc:
        if not _under_prodigy_home(exc):
            return crash(exc)
        click.echo(f"Error: cannot use prodigy's state folder: {exc.strerror}: {exc.filename}", err=True)
        click.echo("Check that PRODIGY_HOME (default ~/.prodigy) is a writable directory.", err=True)
        return int(ExitCode.STATE_ERROR)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: log it, do not show a traceback
        return crash(exc)
    return int(result or 0)


def _under_prodigy_home(exc: OSError) -> bool:
    from prodigy import paths

    name = exc.filename
    return isinstance(name, (str, os.PathLike)) and os.fspath(name).startswith(os.fspath(paths.home()))


def report_error(exc: ProdigyError) -> None:
    click.echo(f"Error: {exc.message}", err=True)
    if exc.hint:
        click.echo(exc.hint, err=True)
    problems = getattr(exc, "problems", None)
    if problems and len(problems) > 1:
        for problem in problems[1:]:
            click.echo(f"  {problem}", err=True)


def crash(exc: BaseException) -> int:
    details = f"argv: {sys.argv}\n\n" + "".join(traceback.format_exception(exc))
    if os.environ.get("PRODIGY_DEBUG"):
        traceback.print_exc()
    try:
        from prodigy import paths
        from prodigy.state.atomic import write_bytes

        log = paths.crash_logs_dir() / f"crash-{datetime.now().strftime('%Y%m%d_%H%M%S')}-{os.getpid()}.log"
        write_bytes(log, details.encode("utf-8", "replace"))  # whole or not at all, 0600
        where = f"Details were written to {log}"
    except (OSError, ProdigyError):
        # No crash log (the disk may be full): the traceback goes to stderr so that it is not lost.
        click.echo(details, err=True)
        where = "The crash log could not be written; the details are above."
    click.echo(f"Internal error: {type(exc).__name__}: {exc}", err=True)
    click.echo(f"{where}\nThis is a bug in prodigy; please report it with that file.", err=True)
    return int(ExitCode.INTERNAL)


def _silence_broken_pipe() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
