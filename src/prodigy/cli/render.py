"""The only module that imports rich: turns core events and results into terminal output, plain lines in a
pipe, or JSON. NO_COLOR is honoured (rich reads it)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from prodigy.cli.progress import MapReduceView
from prodigy.execution import outcome as o


def console(*, stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def tail(text: str, lines: int = 15) -> str:
    rows = text.rstrip("\n").splitlines()
    return "\n".join(rows[-lines:])


class ConsoleReporter(MapReduceView):
    """Human output for `run` and `resume`. With json_mode, progress goes to stderr so stdout stays JSON."""

    def __init__(self, *, verbose: int = 0, json_mode: bool = False) -> None:
        self.out = console(stderr=json_mode)
        self.verbose = verbose
        self.json_mode = json_mode
        self._init_view()

    def close(self) -> None:
        self._stop_live()

    # -- plumbing
    def emit(self, event: str, **fields: Any) -> None:
        handler = getattr(self, f"on_{event}", None)
        if handler is not None:
            handler(**fields)

    def print(self, text: str = "", style: str | None = None) -> None:
        self.out.print(text, style=style)

    def line_sink(self):
        """For -v: stream command output prefixed with its step or item label."""
        if self.verbose < 1:
            return None

        def sink(label: str, stream: str, line: str) -> None:
            prefix = f"[{label}]" if stream == "stdout" else f"[{label} stderr]"
            self.out.print(f"[dim]{escape(prefix)}[/dim] {escape(line)}")

        return sink

    # -- events
    def on_session_started(self, session_id: str, workflow: Any, run_dir: Any) -> None:
        self.print(f"Session: [bold]{session_id}[/bold]")
        kind = "MapReduce" if workflow.is_mapreduce else f"{len(workflow.steps)} steps"
        self.print(f"Workflow: {escape(str(workflow.path))} ({kind})")

    def on_step_started(self, index: int, total: int, description: str) -> None:
        self.print(f"[cyan]→[/cyan] [{index + 1}/{total}] {escape(description)}")

    def on_step_finished(self, index: int, total: int, description: str, outcome: o.StepOutcome) -> None:
        took = fmt_duration(outcome.duration)
        if outcome.status == o.SKIPPED:
            self.print("  [dim]skipped (when: condition is false)[/dim]")
        elif outcome.ok:
            note = " (recovered by on_failure)" if outcome.recovered else ""
            self.print(f"  [green]✔[/green] done in {took}{note}")
        elif outcome.status == o.INTERRUPTED:
            self.print(f"  [yellow]■[/yellow] interrupted after {took}")
        else:
            self.print(f"  [red]✖[/red] {escape(outcome.error or outcome.status)} ({took})")
            if outcome.stderr.strip():
                self.print(f"[dim]{escape(tail(outcome.stderr))}[/dim]")
            if outcome.log_path:
                self.print(f"  Agent log: {escape(outcome.log_path)}")

    def on_resume_plan(self, session_id: str, start: int, total: int, done: int, workflow: str) -> None:
        self.print(f"Resuming session [bold]{session_id}[/bold] from step {start + 1}/{total} "
                   f"({done} step(s) already done, skipped)")
        self.print(f"Workflow: {escape(workflow)}")

    def on_workflow_changed(self, old: str, new: str, detail: str = "") -> None:
        self.print(f"[yellow]Note:[/yellow] the workflow file changed since this session started "
                   f"({old[:12]} → {new[:12]}){escape(detail)}; continuing with the current file.")

    def on_reaped(self, pids: list[int]) -> None:
        if pids:
            self.print(f"Ended {len(pids)} command(s) still running from the interrupted run (pid "
                       f"{', '.join(map(str, pids))}).")

    def on_note(self, text: str) -> None:
        self.print(escape(text))

    def on_warning(self, text: str) -> None:
        self.print(f"[yellow]Warning:[/yellow] {escape(text)}")


def emit_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()
