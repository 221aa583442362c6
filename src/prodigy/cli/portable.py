"""`prodigy sessions export` and `prodigy sessions import`: carry a session to another machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from prodigy.cli.common import json_option

EXPORT_EPILOG = """\b
Examples:
  prodigy sessions export session-93c8 -o session.tar.gz
  prodigy sessions export mapreduce-20261127 -o /cache/run.tar.gz --no-logs
  prodigy sessions export session-93c8 -o s.tar.gz --json     for scripts
\b
The archive holds the session's records, its job journal, snapshot and frozen work
list, its events and agent logs, and a git bundle of the session branch (every
commit its steps and agents made, and the worktree's uncommitted changes). It can be
taken while the session runs (a consistent snapshot) or after it was interrupted or
killed. Secrets are never in it: a resume takes them from its own environment.
Continue elsewhere with: prodigy sessions import FILE (see docs/ci.md).
"""

IMPORT_EPILOG = """\b
Examples:
  prodigy sessions import session.tar.gz                 into the clone you are in
  prodigy sessions import /cache/run.tar.gz -p ~/src/repo
  prodigy sessions import run.tar.gz --replace --json    overwrite an earlier import
\b
Run it in a clone of the repository the session ran in (any path; any
PRODIGY_HOME). The archive's checksums, its format version and the session's base
commit are checked first; then the session branch and worktree are recreated, the
recorded paths point at this clone, and the resume command is printed. A session
that is already here is refused unless --replace. A refused or failed import
changes nothing.
"""


@click.command(name="export", epilog=EXPORT_EPILOG)
@click.argument("session_id", metavar="ID")
@click.option("-o", "--output", "output", metavar="FILE", type=click.Path(dir_okay=False),
              help="The archive to write (default: ./<session-id>.tar.gz); replaced if it exists.")
@click.option("--no-logs", is_flag=True, help="Leave the agents' logs out (a smaller archive).")
@json_option
def export(session_id: str, output: str | None, no_logs: bool, json_output: bool) -> int:
    """Write one portable archive of a session, to finish it on another machine."""
    from prodigy.portable.export import export_session
    from prodigy.resume.resolve import resolve

    target = resolve(session_id)
    out = Path(output or f"{target.session.id}.tar.gz").expanduser().absolute()
    result = export_session(target.session.id, out, logs=not no_logs)
    if json_output:
        from prodigy.cli.render import emit_json

        emit_json(result.to_json())
        return 0
    state = result.status + (", still running" if result.live else
                             " but its process is gone: killed" if result.status == "running" else "")
    _print(f"Exported {result.session_id} ({result.kind}, {state}) to {result.archive}: {_size(result.size)}, "
           f"{result.files} file(s)")
    if result.branch:
        extra = f", and {result.uncommitted} uncommitted file(s)" if result.uncommitted else ""
        _print(f"  git: {result.branch}, {result.commits} commit(s) since the session started{extra}")
    for note in result.notes:
        _print(f"  Note: {note}")
    for item in result.excluded:
        _print(f"  Not included: {item}")
    _print(f"Continue on another machine, in a clone of the repository:\n"
           f"  prodigy sessions import {Path(result.archive).name} && prodigy resume {result.session_id}")
    return 0


@click.command(name="import", epilog=IMPORT_EPILOG)
@click.argument("archive", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("-p", "--path", "path", metavar="DIR",
              help="The clone to continue in (default: the current directory).")
@click.option("--replace", is_flag=True,
              help="Overwrite the session if this home or repository already has it.")
@json_option
def import_(archive: str, path: str | None, replace: bool, json_output: bool) -> int:
    """Bring an exported session into this clone and PRODIGY_HOME, ready to resume."""
    from prodigy.execution.session import resolve_run_dir
    from prodigy.portable.importer import import_archive

    result = import_archive(Path(archive).expanduser().absolute(), resolve_run_dir(path), replace=replace)
    if json_output:
        from prodigy.cli.render import emit_json

        emit_json(result.to_json())
        return 0
    verb = "Replaced" if result.replaced else "Imported"
    _print(f"{verb} {result.session_id} ({result.kind}, {result.status})")
    rows: list[tuple[str, Any]] = [("Run dir", result.run_dir), ("Workflow", result.workflow_path),
                                   ("Worktree", result.worktree), ("Branch", result.branch and
                                   f"{result.branch} ({result.commits} commit(s) since the session started)")]
    for label, value in rows:
        if value:
            _print(f"  {label}: {value}")
    for note in result.notes:
        _print(f"  Note: {note}")
    if result.resume_command:
        _print(f"Resume with: {result.resume_command}")
    else:
        _print(f"Nothing to resume: the session is {result.status}.")
    return 0


def _print(text: str) -> None:
    from prodigy.cli.render import console

    console().print(text, markup=False, highlight=False)


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"
