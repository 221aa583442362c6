"""Options and rendering shared by several commands."""

from __future__ import annotations

from typing import Any

import click

from prodigy.cli.render import ConsoleReporter, emit_json, escape, fmt_duration, tail


def path_option(func: Any) -> Any:
    return click.option("-p", "--path", "path", metavar="DIR",
                        help="Directory to run in (default: the current directory).")(func)


def json_option(func: Any) -> Any:
    return click.option("--json", "json_output", is_flag=True,
                        help="Print one JSON object with the result (for scripts); progress goes to stderr.")(func)


def param_options(func: Any) -> Any:
    """--param KEY=VALUE (repeatable; the value is parsed as JSON when it parses) and --param-file FILE."""
    from prodigy.cli import complete

    func = click.option("--param-file", "param_file", metavar="FILE", shell_complete=complete.workflow_files,
                        help="Parameter values from a JSON or YAML file (--param wins over it).")(func)
    return click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                        help="A parameter value of a composed workflow (repeatable; JSON when it parses: 3, true, "
                             "[1,2]).")(func)


def read_params(params: tuple[str, ...], param_file: str | None) -> Any:
    from prodigy.workflow.compose_params import param_input

    return param_input(params, param_file)


def executor_options(func: Any) -> Any:
    """--executor, --scheduler, --local-workers, --repo-transfer: where the map phase's items run. --repo-transfer
    is kept in the click context (executor_extra reads it), so the commands' signatures need not change."""
    func = click.option("--repo-transfer", type=click.Choice(["shared", "git"]), default=None, expose_value=False,
                        callback=_keep_repo_transfer, is_eager=False,
                        help="With --executor dask: how workers reach the repository. shared (the default): the "
                             "same paths as here (one machine or a shared filesystem); git: the session's commits "
                             "go to each worker as a git bundle and the items' commits come back the same way.")(func)
    func = click.option("--local-workers", type=click.IntRange(min=1), metavar="N",
                        help="With --executor dask: start a Dask LocalCluster of N worker processes for this run."
                        )(func)
    func = click.option("--scheduler", metavar="ADDRESS",
                        help="With --executor dask: the Dask scheduler, e.g. tcp://HOST:8786 "
                             "(default: $PRODIGY_DASK_SCHEDULER).")(func)
    return click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
                        help="Run map items in the local pool or on a Dask cluster (needs: pip install "
                             "'prodigy[dask]'; see docs/dask.md).")(func)


def _keep_repo_transfer(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta["prodigy.repo_transfer"] = value


def executor_extra(executor: str, scheduler: str | None, local_workers: int | None) -> dict[str, Any]:
    """RunOptions.extra entries for the executor options (a usage error, exit 2, when they do not fit)."""
    from prodigy.execution.mapreduce.executor_choice import executor_choice

    current = click.get_current_context(silent=True)
    transfer = current.meta.get("prodigy.repo_transfer") if current is not None else None
    return {"executor": executor_choice(executor, scheduler, local_workers, transfer)}


def _add_verbosity(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        root = ctx.find_root()
        root.ensure_object(dict)
        root.obj["verbose"] = root.obj.get("verbose", 0) + value


def verbose_option(func: Any) -> Any:
    """-v after the command name works too: `prodigy run wf.yml -v` = `prodigy -v run wf.yml`."""
    return click.option("-v", "--verbose", count=True, expose_value=False, callback=_add_verbosity,
                        is_eager=True, help="Stream each command's output, prefixed with its step or item.")(func)


def _set_max_cost(ctx: click.Context, _param: click.Parameter, value: float | None) -> None:
    if value is not None:
        root = ctx.find_root()
        root.ensure_object(dict)
        root.obj["max_cost"] = value


def max_cost_option(func: Any) -> Any:
    """--max-cost USD: the job's agent cost cap for this run (overrides the workflow's max_cost_usd)."""
    return click.option("--max-cost", type=click.FloatRange(min=0, min_open=True), metavar="USD",
                        expose_value=False, callback=_set_max_cost,
                        help="Stop dispatching agents (resumably, exit 75) once the recorded agent cost of the "
                             "job reaches USD (overrides the workflow's max_cost_usd).")(func)


def cost_extra(ctx: click.Context) -> dict[str, Any]:
    """RunOptions.extra entries for --max-cost."""
    value = (ctx.find_root().obj or {}).get("max_cost")
    return {"max_cost": value} if value is not None else {}


def verbosity(ctx: click.Context) -> int:
    return int((ctx.find_root().obj or {}).get("verbose", 0))


def render_standard_summary(reporter: ConsoleReporter, summary: Any) -> None:
    result = summary.result
    out = reporter
    header = "Resumed session" if summary.resumed else "Session"
    counts = _step_counts(result)
    from prodigy.cli.mapreduce_render import agents_line
    from prodigy.execution.agents.conversation import summarize

    agents = agents_line(summary.agents)
    resumed_agents = summarize(result.conversations)
    at = f"at step {result.failed_index + 1}/{result.total_steps}" if result.status != "completed" else ""
    if result.status == "completed":
        out.print(f"[green]✔ {header} completed[/green]")
    elif result.status == "interrupted":
        out.print(f"[yellow]■ {header} interrupted[/yellow] {at}")
    elif result.status == "stopped":
        from prodigy.execution.agents.policy import stop_summary

        out.print(f"[yellow]■ {header} stopped[/yellow] {at}: {escape(stop_summary(result.stop))}")
        if result.stop.hint:
            out.print(f"  What to do: {escape(result.stop.hint)}")
        if result.failure is not None and result.failure.log_path:
            out.print(f"  Agent log: {escape(result.failure.log_path)}")
    else:
        failure = result.failure
        out.print(f"[red]✖ {header} failed[/red] {at}: {escape(failure.error or failure.status)}")
        if failure.stderr.strip() and not reporter.stderr_shown:  # printed under the step already: once is enough
            out.print("  stderr (last lines):")
            out.print(f"[dim]{escape(tail(failure.stderr, 20))}[/dim]")
        if failure.log_path:
            out.print(f"  Agent log: {escape(failure.log_path)}")
    out.print(f"  {counts}")
    if resumed_agents:
        out.print(f"  Conversations: {escape(resumed_agents)}")
    if agents:
        out.print(f"  Agents: {escape(agents)}")


def _step_counts(result: Any) -> str:
    """'2 of 4 step(s) completed in this run, 1 interrupted, 0 done before it; 2.3s': the step that stopped the
    run is counted apart from the ones that completed (and the line fits 80 columns)."""
    ended = result.status != "completed" and result.failure is not None and not result.failure.ok
    completed = result.steps_run - (1 if ended else 0)
    stopper = {"interrupted": "interrupted", "failed": "failed", "stopped": "stopped"}.get(result.status, "")
    apart = f", 1 {stopper}" if ended and stopper else ""
    verb = " completed" if result.status != "completed" else ""
    return (f"{completed} of {result.total_steps} step(s){verb} in this run{apart}, {result.steps_already_done} "
            f"done before it; {fmt_duration(result.duration)}")


def conversations_json(notes: list[tuple[str, str]]) -> dict[str, Any]:
    restarted: dict[str, int] = {}
    for kind, reason in notes:
        if kind == "restarted":
            restarted[reason] = restarted.get(reason, 0) + 1
    return {"continued": sum(1 for kind, _ in notes if kind == "continued"), "restarted": restarted}


def standard_summary_json(summary: Any) -> dict[str, Any]:
    result = summary.result
    failure = result.failure
    return {
        "session_id": summary.session_id,
        "kind": "workflow",
        "status": result.status,
        "exit_code": summary.exit_code,
        "resumed": summary.resumed,
        "workflow": summary.workflow_path,
        "steps": {"total": result.total_steps, "run": result.steps_run,
                  "already_done": result.steps_already_done},
        "failed_step": None if result.failed_index is None else result.failed_index + 1,
        "error": failure.error if failure else None,
        "exit_code_of_step": failure.exit_code if failure else None,
        "duration_seconds": round(result.duration, 3),
        "stop": result.stop.to_json() if result.stop else None,
        "conversations": conversations_json(result.conversations),
        "agents": summary.agents,
        "resume_command": summary.resume_command,
    }


def finish(reporter: ConsoleReporter, summary: Any, json_output: bool) -> int:
    """The end of a run, resume, exec or batch, whichever its kind (cli/runs_render.py dispatches): its JSON, or
    its summary lines (a standard run that did not complete ends with the command that resumes it)."""
    from prodigy.cli.runs_render import render_summary, summary_json
    from prodigy.execution.session import StandardRunSummary

    if json_output:
        reporter.close()
        emit_json(summary_json(summary))
        return summary.exit_code
    render_summary(reporter, summary)
    if isinstance(summary, StandardRunSummary) and summary.resume_command:  # the last line of a run left undone
        reporter.print(f"Resume with: [bold]{summary.resume_command}[/bold]")
    return summary.exit_code


def write_output(output: str, text: str) -> None:
    """An export the user asked for: stdout for "-", else the file, written whole (temp file, then rename)."""
    import os
    import sys
    import tempfile

    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from prodigy.errors import UsageError

    target = os.path.abspath(os.path.expanduser(output))
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise UsageError(f"Cannot write {output}: the folder {folder} does not exist.")
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".prodigy-export-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, target)
    except OSError as exc:
        raise UsageError(f"Cannot write {output}: {exc.strerror}") from None
