"""Rendering of a `prodigy run` that starts several sessions (--args, --map, -n) and of `--dry-run`."""

from __future__ import annotations

from typing import Any

from prodigy.cli.common import render_standard_summary, standard_summary_json
from prodigy.cli.mapreduce_render import job_json, render_job
from prodigy.cli.render import ConsoleReporter, emit_json, escape
from prodigy.cli.worktree_render import render_worktree, worktree_json


def summary_json(summary: Any) -> dict[str, Any]:
    from prodigy.execution.session import StandardRunSummary
    from prodigy.execution.subworkflows import ParentSummary

    if isinstance(summary, ParentSummary):
        return parent_json(summary)
    if isinstance(summary, StandardRunSummary):
        return {**standard_summary_json(summary), **worktree_json(summary)}
    return {**job_json(summary), **worktree_json(summary)}


def render_summary(reporter: ConsoleReporter, summary: Any) -> None:
    """The summary lines of a session of any kind (after the live display, if any, has stopped)."""
    from prodigy.execution.session import StandardRunSummary
    from prodigy.execution.subworkflows import ParentSummary

    reporter.close()
    if isinstance(summary, ParentSummary):
        _parent_lines(reporter, summary)
    elif isinstance(summary, StandardRunSummary):
        render_standard_summary(reporter, summary)
        render_worktree(reporter, summary.worktree)
    else:
        render_job(reporter, summary)


class MultiRunReporter(ConsoleReporter):
    """Each run's summary right after it ends, then the list of all of them (see render_multi)."""

    def on_run_starting(self, number: int, total: int, label: str | None, iteration: int | None,
                        iterations: int) -> None:
        parts = [f"run {number} of {total}" if total > 1 else "", escape(label or "")]
        title = ": ".join(p for p in parts if p) or "run"
        self.print(f"[bold]── {title[0].upper() + title[1:]}[/bold]")

    def on_run_finished(self, entry: Any) -> None:
        if entry.summary is not None and not self.json_mode:
            render_summary(self, entry.summary)
        self.print()

    def on_run_error(self, label: str | None, message: str, hint: str | None) -> None:
        self.print(f"[red]Error[/red]{' (' + escape(label) + ')' if label else ''}: {escape(message)}")
        if hint:
            self.print(f"  {escape(hint)}")

    def on_iterations_stopped(self, label: str | None, iteration: int, iterations: int, reason: str) -> None:
        what = f" for {escape(label)}" if label else ""
        self.print(f"Stopping after iteration {iteration} of {iterations}{what}: {reason}.")


def multi_json(multi: Any) -> dict[str, Any]:
    return {
        "runs": [{"input": entry.label, "iteration": entry.iteration, "session_id": entry.session_id,
                  "status": entry.status, "exit_code": entry.exit_code, "commits": entry.commits,
                  "error": entry.error, "result": summary_json(entry.summary) if entry.summary else None}
                 for entry in multi.runs],
        "not_run": list(multi.not_run),
        "stopped": multi.stopped,
        "iterations": multi.iterations,
        "exit_code": multi.exit_code,
    }


def render_multi(reporter: ConsoleReporter, multi: Any, json_output: bool) -> int:
    from prodigy.cli.render import table

    reporter.close()
    if json_output:
        emit_json(multi_json(multi))
        return multi.exit_code
    counts: dict[str, int] = {}
    for entry in multi.runs:
        counts[entry.status] = counts.get(entry.status, 0) + 1
    described = ", ".join(f"{n} {status}" for status, n in counts.items())
    reporter.print(f"[bold]{len(multi.runs)} run(s)[/bold]: {escape(described)}")
    table(["#", "input", "session", "status", "exit"],
          [[n, entry.label or "-", entry.session_id or "-", entry.status, entry.exit_code]
           for n, entry in enumerate(multi.runs, 1)], out=reporter.out)
    if multi.not_run:
        why = "after the interruption" if multi.stopped == "interrupted" else "(--fail-fast)"
        reporter.print(f"Not run {why}: {escape(', '.join(multi.not_run))}")
    resumable = [e for e in multi.runs if e.session_id and e.exit_code not in (0, 3)]
    for entry in resumable:
        reporter.print(f"Resume {escape(entry.label or entry.session_id)} with: "
                       f"[bold]prodigy resume {entry.session_id}[/bold]")
    return multi.exit_code


def render_dry_runs(reporter: ConsoleReporter, workflow: Any, runs: list[Any], iterations: int,
                    json_output: bool) -> int:
    if json_output:
        emit_json({"dry_run": True, "workflow": str(workflow.path), "kind": workflow.mode, "name": workflow.name,
                   "iterations": iterations, "runs": [_dry_json(run) for run in runs]})
        return 0
    out = reporter
    kind = "MapReduce" if workflow.is_mapreduce else f"standard, {len(workflow.steps)} step(s)"
    out.print("[bold]Dry run[/bold]: nothing is executed, no session or worktree is created.")
    out.print(f"Workflow: {escape(str(workflow.path))} ({kind})")
    if iterations > 1:
        out.print(f"Each run repeats up to {iterations} times (-n), stopping early after an iteration that makes "
                  "no commits.")
    for number, run in enumerate(runs, 1):
        if len(runs) > 1 or run.label:
            out.print(f"[bold]── Run {number} of {len(runs)}[/bold]{': ' + escape(run.label) if run.label else ''}")
        for note in run.deferred:
            out.print(f"  [dim]env {escape(note)}[/dim]")
        for phase in run.phases:
            if workflow.is_mapreduce or phase.name == "merge":
                out.print(f"[cyan]{phase.name}[/cyan]" + ("" if phase.steps or phase.details else ": (none)"))
            for key, value in phase.details:
                out.print(f"  {key}: {escape(value)}")
            for step in phase.steps:
                _step(out, step, 1)
    out.print("Nothing was run.")
    return 0


def _step(out: Any, step: Any, depth: int) -> None:
    pad = "  " * depth
    lines = step.text.splitlines() or [""]
    out.print(f"{pad}[DRY RUN] Would execute: {escape(step.kind)}: {escape(lines[0])}")
    for line in lines[1:]:
        out.print(f"{pad}    {escape(line)}")
    for note in step.notes:
        out.print(f"{pad}    [dim]{escape(note)}[/dim]")
    if step.unresolved:
        out.print(f"{pad}    [dim]resolved when it runs: {escape(', '.join('${' + n + '}' for n in step.unresolved))}"
                  "[/dim]")
    for title, steps in step.handlers:
        out.print(f"{pad}  {escape(title)}:")
        for nested in steps:
            _step(out, nested, depth + 2)


def _dry_json(run: Any) -> dict[str, Any]:
    import dataclasses

    return {"input": run.label, "variables": run.variables, "deferred_env": list(run.deferred),
            "phases": [{"name": p.name, "details": dict(p.details),
                        "steps": [dataclasses.asdict(s) for s in p.steps]} for p in run.phases]}


# ---------------------------------------------------------------- sub-workflows


def subworkflow_starting(reporter: ConsoleReporter, number: int, total: int, name: str,
                         session_id: str | None) -> None:
    again = " (resuming its session)" if session_id else ""
    reporter.print(f"[bold]── Sub-workflow {number} of {total}: {escape(name)}[/bold]{again}")


def subworkflow_finished(reporter: ConsoleReporter, name: str, result: Any) -> None:
    if result.summary is not None and not reporter.json_mode:
        render_summary(reporter, result.summary)
    reporter.print()


def parent_json(summary: Any) -> dict[str, Any]:
    return {
        "session_id": summary.session_id, "kind": "workflows", "status": summary.status,
        "exit_code": summary.exit_code, "resumed": summary.resumed, "workflow": summary.workflow_path,
        "children": [{"name": c.name, "session_id": c.session_id, "status": c.status, "exit_code": c.exit_code,
                      "error": c.error, "result": summary_json(c.summary) if c.summary is not None else None}
                     for c in summary.children],
        "not_run": list(summary.not_run), "resume_command": summary.resume_command,
    }


def _parent_lines(reporter: ConsoleReporter, summary: Any) -> None:
    from prodigy.cli.render import table

    mark = {"completed": "[green]✔", "interrupted": "[yellow]■", "failed": "[red]✖"}[summary.status]
    colour = mark[1:mark.index("]")]
    reporter.print(f"{mark} Session {summary.status}[/{colour}]: {len(summary.children)} of "
                   f"{len(summary.children) + len(summary.not_run)} sub-workflow(s) run")
    table(["sub-workflow", "session", "status", "exit"],
          [[c.name, c.session_id or "-", "done before" if c.status == "skipped" else c.status, c.exit_code]
           for c in summary.children] + [[name, "-", "not run", ""] for name in summary.not_run], out=reporter.out)
    if summary.resume_command:
        reporter.print(f"Resume with: [bold]{summary.resume_command}[/bold]")
