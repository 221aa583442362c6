"""The only module that imports rich (with progress.py's live display): turns core events and results into
terminal output, plain lines in a pipe, or JSON. NO_COLOR is honoured (rich reads it). rich is imported on first
use: a run whose output is not a terminal prints its lines through `markup.plain` and never needs it."""

from __future__ import annotations

import json
import sys
import threading
from typing import TYPE_CHECKING, Any

from prodigy.cli.markup import escape, plain, plain_stream
from prodigy.cli.progress import MapReduceView
from prodigy.cli.streams import announce_closed_output
from prodigy.cli.worktree_render import WorktreeView
from prodigy.execution import outcome as o

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ConsoleReporter", "console", "emit_json", "escape", "fields", "fmt_age", "fmt_duration", "table", "tail"]


def console(*, stderr: bool = False) -> Console:
    from rich.console import Console

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


class ConsoleReporter(MapReduceView, WorktreeView):
    """Human output for `run` and `resume`. With json_mode, progress goes to stderr so stdout stays JSON."""

    def __init__(self, *, verbose: int = 0, json_mode: bool = False) -> None:
        self._out: Console | None = None
        self._plain_lock = threading.Lock()
        self.verbose = verbose
        self.json_mode = json_mode
        self.stderr_shown = False  # the failed step's stderr is on screen already
        self._init_view()
        announce_closed_output()  # a run goes on when its output closes: say so on the other stream

    @property
    def out(self) -> Console:
        """The rich console, created (and rich imported) on first use."""
        if self._out is None:
            self._out = console(stderr=self.json_mode)
        return self._out

    @property
    def is_terminal(self) -> bool:
        """Whether rich sees a terminal, without importing rich when the output is plainly not one."""
        if self._out is None and plain_stream(self.json_mode) is not None:
            return False
        return bool(self.out.is_terminal)

    def close(self) -> None:
        self._stop_live()

    # -- plumbing
    def emit(self, event: str, **fields: Any) -> None:
        handler = getattr(self, f"on_{event}", None)
        if handler is not None:
            handler(**fields)

    def print(self, text: str = "", style: str | None = None) -> None:
        if style is None:
            stream = plain_stream(self.json_mode)
            rendered = plain(text) if stream is not None else None
            if rendered is not None:
                try:
                    with self._plain_lock:  # whole lines, as rich writes them
                        stream.write(rendered + "\n")
                        stream.flush()
                    return
                except UnicodeEncodeError:
                    pass  # nothing was written; rich raises the error with its advice
        self.out.print(text, style=style)

    def line_sink(self):
        """For -v: stream command output prefixed with its step or item label."""
        if self.verbose < 1:
            return None

        def sink(label: str, stream: str, line: str) -> None:
            prefix = f"[{label}]" if stream == "stdout" else f"[{label} stderr]"
            self.print(f"[dim]{escape(prefix)}[/dim] {escape(line)}")

        return sink

    # -- events
    def on_session_started(self, session_id: str, workflow: Any, run_dir: Any) -> None:
        self.print(f"Session: [bold]{session_id}[/bold]")
        kind = ("MapReduce" if workflow.is_mapreduce else f"{len(workflow.subworkflows)} sub-workflow(s)"
                if workflow.subworkflows else f"{len(workflow.steps)} step{'' if len(workflow.steps) == 1 else 's'}")
        self.print(f"Workflow: {escape(str(workflow.path))} ({kind})")

    def on_step_started(self, index: int, total: int, description: str) -> None:
        self.print(f"[cyan]→[/cyan] [{index + 1}/{total}] {escape(description)}")
        self._start_spinner()

    def on_step_finished(self, index: int, total: int, description: str, outcome: o.StepOutcome,
                         agent: Any = None) -> None:
        self._stop_spinner()
        took = fmt_duration(outcome.duration) + agent_note(agent)
        if outcome.status == o.SKIPPED:
            self.print("  [dim]skipped (when: condition is false)[/dim]")
        elif outcome.ok:
            note = " (failed, recovered by its handler)" if outcome.recovered else ""
            self.print(f"  [green]✔[/green] done in {took}{note}")
        elif outcome.status == o.INTERRUPTED:
            self.print(f"  [yellow]■[/yellow] interrupted after {took}")
        else:
            self.print(f"  [red]✖[/red] {escape(outcome.error or outcome.status)} ({took})")
            if outcome.stderr.strip() and not self.verbose:  # with -v it was streamed already
                self.print(f"[dim]{escape(tail(outcome.stderr))}[/dim]")
            self.stderr_shown = bool(outcome.stderr.strip())  # printed (or streamed): the summary does not repeat it
            if outcome.log_path:
                self.print(f"  Agent log: {escape(outcome.log_path)}")

    def on_resume_plan(self, session_id: str, start: int, total: int, done: int, workflow: str,
                       done_cost: float | None = None, agent_conversation: bool = False) -> None:
        recorded = ""
        if done_cost is not None:
            from prodigy.execution.agents.usage import fmt_cost

            recorded = f"; {fmt_cost(done_cost)} recorded, not re-run"
        self.print(f"Resuming session [bold]{session_id}[/bold]")
        self.print(f"  from step {start + 1}/{total} ({done} step(s) already done, skipped{recorded})")
        self.print(f"Workflow: {escape(workflow)}")
        if agent_conversation:
            self.print(f"The agent of step {start + 1} was interrupted; it continues its conversation where it can "
                       "(resume_agent).")

    def on_workflow_changed(self, old: str, new: str, detail: str = "") -> None:
        self.print(f"[yellow]Note:[/yellow] the workflow file changed since this session started "
                   f"({old[:12]} → {new[:12]}){escape(detail)}; continuing with the current file.")

    def on_reaped(self, pids: list[int]) -> None:
        if pids:
            self.print(f"Ended {len(pids)} command(s) still running from the interrupted run (pid "
                       f"{', '.join(map(str, pids))}).")

    def on_subworkflow_starting(self, **fields: Any) -> None:
        from prodigy.cli.runs_render import subworkflow_starting

        subworkflow_starting(self, **fields)

    def on_subworkflow_finished(self, **fields: Any) -> None:
        from prodigy.cli.runs_render import subworkflow_finished

        subworkflow_finished(self, **fields)

    def on_note(self, text: str) -> None:
        self.print(escape(text))

    def on_warning(self, text: str) -> None:
        self.print(f"[yellow]Warning:[/yellow] {escape(text)}")


def agent_note(agent: Any) -> str:
    """ " · agent $0.0123, 3 turns" after a step's duration, when agents ran in it."""
    if agent is None:
        return ""
    from prodigy.execution.agents.usage import fmt_cost

    calls = f"{agent.calls} agent calls" if agent.calls > 1 else "agent"
    turns = f", {agent.turns} turn{'s' if agent.turns != 1 else ''}" if agent.turns else ""
    return f" · {calls} {fmt_cost(agent.cost_usd)}{turns}"


def emit_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- tables and fields (operator commands)


def table(columns: list[str], rows: list[list[Any]], *, out: Console | None = None) -> None:
    """A rich table on a terminal; plain aligned columns in a pipe (no box characters, no ANSI codes, no
    truncation, so `grep`/`awk` see whole ids). Cells are text, never markup."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out = out or console()
    cells = [["" if value is None else str(value) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    if out.is_terminal and sum(widths) + 3 * len(columns) <= out.width:
        grid = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)
        for name in columns:
            grid.add_column(name, no_wrap=True)
        for row in cells:
            grid.add_row(*(Text(cell) for cell in row))
        out.print(grid)
        return
    # A pipe, or a terminal too narrow for the table: aligned lines that are never folded inside a cell.
    header = [name.upper() for name in columns]
    for row in [header, *cells]:
        line = "  ".join(cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row))
        out.print(line.rstrip(), markup=False, highlight=False, emoji=False)


def fields(pairs: list[tuple[str, Any]], *, out: Console | None = None, indent: int = 0) -> None:
    """Aligned `Label: value` lines; None values are skipped. Values are text, never markup."""
    out = out or console()
    shown = [(label, value) for label, value in pairs if value is not None]
    width = max((len(label) for label, _ in shown), default=0) + 1
    for label, value in shown:
        out.print(f"{' ' * indent}{label + ':':<{width}} {value}", markup=False, highlight=False, emoji=False)


def fmt_age(seconds: float | None) -> str:
    """How long ago: 45s, 12m, 3h, 5d."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"
