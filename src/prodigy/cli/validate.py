"""`prodigy validate`."""

from __future__ import annotations

import click

from prodigy.cli import complete
from prodigy.cli.common import param_options, read_params

EPILOG = """\b
Examples:
  prodigy validate workflow.yml
  prodigy validate workflows/*.yml
  prodigy validate fix.yml -p ~/src/project       check paths against that run directory
  prodigy validate deploy.yml --param environment=prod    a composed workflow's values
\b
Every problem is reported at once, with its file, line and key (for a composed workflow:
the file the part at fault comes from). Exit code 2 when any file has an error; warnings
alone exit 0. Without --param, a required parameter with no value is a warning. Inside a
git repository, files the workflow names that are not committed are warned about: a run
uses a git worktree of the last commit, which does not have them.
"""


@click.command(epilog=EPILOG)
@click.argument("workflows", nargs=-1, required=True, metavar="WORKFLOW...",
                shell_complete=complete.workflow_files)
@click.option("-p", "--path", "run_path", metavar="DIR",
              help="The directory a run would use (default: the current directory); paths are checked there.")
@param_options
def validate(workflows: tuple[str, ...], run_path: str | None, params: tuple[str, ...],
             param_file: str | None) -> int:
    """Check workflow files without running anything."""
    from prodigy.cli.render import console, escape
    from prodigy.errors import ExitCode, WorkflowFileError
    from prodigy.execution.session import resolve_run_dir
    from prodigy.git.missing import uncommitted
    from prodigy.workflow.load import check_workflow
    from prodigy.workflow.named_paths import named_paths

    out = console()
    given = read_params(params, param_file) if params or param_file else None
    failed = False
    for path in workflows:
        try:
            result = check_workflow(path, params=given, strict=bool(given and given.given),
                                    search_dirs=(resolve_run_dir(run_path),))
        except WorkflowFileError as exc:
            failed = True
            out.print(f"[red]✖[/red] {escape(exc.message)}")
            if exc.hint:
                out.print(f"  {escape(exc.hint)}")
            continue
        for problem in result.problems:
            mark = "[red]error[/red]" if problem.severity == "error" else "[yellow]warning[/yellow]"
            out.print(f"{mark} {escape(str(problem))}")
        if result.errors:
            failed = True
            out.print(f"[red]✖[/red] {escape(path)}: {len(result.errors)} error(s)")
        else:
            wf = result.workflow
            for warning in path_warnings(uncommitted(resolve_run_dir(run_path), named_paths(wf))):
                out.print(f"[yellow]warning[/yellow] {escape(warning)}")
            what = (f"MapReduce workflow '{wf.name}'" if wf.is_mapreduce
                    else f"standard workflow '{wf.name}' with {len(wf.steps)} step{'' if len(wf.steps) == 1 else 's'}")
            out.print(f"[green]✔[/green] {escape(path)}: valid {escape(what)}{escape(_composed(wf))}")
    return int(ExitCode.USAGE if failed else ExitCode.OK)


def path_warnings(found: list[tuple[str, str]]) -> list[str]:
    """One line per kind: the files a run's worktree of the last commit would not have."""
    lines = []
    for state, what in (("untracked", "not committed"), ("staged", "staged but not committed"),
                        ("ignored", "ignored by git")):
        names = [name for name, s in found if s == state]
        if names:
            lines.append(f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} {what}: a run in this git "
                         "repository uses a worktree of the last commit, which will not have "
                         f"{'it' if len(names) == 1 else 'them'} unless a step creates "
                         f"{'it' if len(names) == 1 else 'them'}. Commit, or run with --no-worktree.")
    return lines


def _composed(workflow: object) -> str:
    doc = getattr(workflow, "composition", None)
    if not doc:
        return ""
    parts = [f"composed from {len(doc.get('sources') or {})} file(s)"]
    if doc.get("parameters"):
        parts.append("parameters " + ", ".join(f"{k}={v!r}" for k, v in doc["parameters"].items()))
    if doc.get("workflows"):
        parts.append("sub-workflows " + ", ".join(w["name"] for w in doc["workflows"]))
    return " (" + "; ".join(parts) + ")"
