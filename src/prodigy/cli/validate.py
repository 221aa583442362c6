"""`prodigy validate`."""

from __future__ import annotations

import click

EPILOG = """\b
Examples:
  prodigy validate workflow.yml
  prodigy validate workflows/*.yml
\b
Every problem is reported at once, with its file, line and key. Exit code 2 when any
file has an error; warnings alone exit 0.
"""


@click.command(epilog=EPILOG)
@click.argument("workflows", nargs=-1, required=True, metavar="WORKFLOW...")
def validate(workflows: tuple[str, ...]) -> int:
    """Check workflow files without running anything."""
    from prodigy.cli.render import console, escape
    from prodigy.errors import ExitCode, WorkflowFileError
    from prodigy.workflow.load import check_workflow

    out = console()
    failed = False
    for path in workflows:
        try:
            result = check_workflow(path)
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
            what = (f"MapReduce workflow '{wf.name}'" if wf.is_mapreduce
                    else f"standard workflow '{wf.name}' with {len(wf.steps)} steps")
            out.print(f"[green]✔[/green] {escape(path)}: valid {escape(what)}")
    return int(ExitCode.USAGE if failed else ExitCode.OK)
