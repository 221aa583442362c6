"""MapReduce progress: a live rich display per phase on a terminal; plain lines in a pipe (no control
characters: one line per finished item for small jobs, at most one line a second for large ones)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from prodigy.cli.markup import escape

if TYPE_CHECKING:
    from rich.progress import Progress

PLAIN_PER_ITEM_LIMIT = 200
ITEM_STDERR_LINES = 3  # of a failed map item's stderr, under its line


LIVE_MARGIN = 3  # columns a live line leaves free


def _margin_progress() -> type:
    from rich.progress import Progress

    class MarginProgress(Progress):
        """Leaves the last columns of the line free: a full-width line puts the cursor in the terminal's
        pending-wrap state, and the ^C a Ctrl-C echoes would then wrap the bar onto a second line that the
        display cannot erase (a stale bar left behind)."""

        def make_tasks_table(self, tasks: Any) -> Any:
            table = super().make_tasks_table(tasks)
            live = getattr(self, "live", None)  # not yet while rich builds the display
            if live is not None:
                table.width = max(20, live.console.width - LIVE_MARGIN)
            return table

    return MarginProgress


def dumb_terminal() -> bool:
    return os.environ.get("TERM", "").lower() in ("dumb", "unknown")


class MapReduceView:
    out: Any
    is_terminal: bool
    json_mode: bool
    verbose: int

    def print(self, text: str = "", style: str | None = None) -> None:  # provided by ConsoleReporter
        raise NotImplementedError

    def _init_view(self) -> None:
        self._progress: Progress | None = None
        self._cached = 0
        self._spinner: Progress | None = None
        self._task: Any = None
        self._plain_total = 0
        self._last_plain = 0.0
        self._last_counts: dict[str, int] = {}
        self._phase_totals: dict[str, tuple[int, int]] = {}

    @property
    def _live(self) -> bool:
        """A live display only where it can redraw: a terminal that is not TERM=dumb (which cannot move the
        cursor, so a live bar would show nothing until the end); elsewhere plain per-item lines."""
        return self.is_terminal and not dumb_terminal()

    def on_job_created(self, job_id: str, job_dir: str, events_path: str) -> None:
        self.print(f"Job:     [bold]{job_id}[/bold]")
        if self.verbose:
            self.print(f"Job folder: {escape(job_dir)}")

    def on_phase_started(self, phase: str, total: int, done: int = 0, succeeded_before: int = 0) -> None:
        if phase != "map":
            self._phase_totals[phase] = (done, total)
            return
        self._plain_total = total
        self._cached = succeeded_before  # succeeded before this run: shown apart, not as this run's ✔
        if self._live and total:
            from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

            self._progress = _margin_progress()(
                TextColumn("Map   "), BarColumn(bar_width=None),
                TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[detail]}"),
                TextColumn("ETA"), TimeRemainingColumn(), console=self.out, transient=False,
            )
            self._task = self._progress.add_task("map", total=total, completed=done, detail="")
            self._progress.start()
        else:
            self.print(f"Map    {total} item(s)" + (f", {done} already finished" if done else ""))

    def on_phase_step_started(self, phase: str, index: int, total: int, description: str) -> None:
        if self.verbose:
            self.print(f"[cyan]→[/cyan] {phase} [{index + 1}/{total}] {escape(description)}")

    def on_phase_step_finished(self, phase: str, index: int, total: int, description: str, outcome: Any,
                               agent: Any = None) -> None:
        if outcome.ok:
            if self.verbose:
                from prodigy.cli.render import agent_note

                self.print(f"  [green]✔[/green] {phase} step {index + 1}/{total} ({outcome.duration:.1f}s"
                           f"{agent_note(agent)})")
            return
        if outcome.status == "interrupted":
            return
        self.print(f"[red]✖[/red] {phase} step {index + 1}/{total} failed: {escape(description)}")
        self.print(f"  {escape(outcome.error or outcome.status)}")
        if outcome.stderr.strip():
            rows = outcome.stderr.rstrip().splitlines()[-15:]
            self.print("[dim]" + escape("\n".join(rows)) + "[/dim]")
        if outcome.log_path:
            self.print(f"  Agent log: {escape(outcome.log_path)}")

    def on_phase_finished(self, phase: str, **counts: Any) -> None:
        if phase == "map":
            self._stop_live()
            return
        done, total = self._phase_totals.get(phase, (0, 0))
        if not total:
            return
        earlier = f" ({done} done before this run)" if done else ""
        self.print(f"{phase.capitalize():<7}[green]✔[/green] {total}/{total} steps{earlier}")

    def on_map_progress(self, done: int, succeeded: int, failed: int, running: int, total: int,
                        retrying: int = 0, note: str = "") -> None:
        """`note`: more to show after the counts (`prodigy progress` adds the DLQ, rate, cost and slowest item)."""
        self._last_counts = {"done": done, "succeeded": succeeded, "failed": failed, "running": running,
                             "total": total, "retrying": retrying}
        extra = f", {escape(note)}" if note else ""
        if self._progress is not None:
            cached = self._cached
            detail = f"✔ {succeeded - cached} ✖ {failed} ⟳ {running} running"
            detail += f", {retrying} to retry" if retrying else ""
            detail += f" · cached: {cached}" if cached else ""
            self._progress.update(self._task, completed=done, detail=detail + extra)
            return
        if self._plain_total > PLAIN_PER_ITEM_LIMIT and time.monotonic() - self._last_plain >= 1.0:
            self._last_plain = time.monotonic()
            self.print(f"Map    {done}/{total} done ({succeeded} ok, {failed} failed, {running} running){extra}")

    def on_item_finished(self, index: int, ok: bool, outcome: Any) -> None:
        if self._progress is not None:
            if not ok:
                self._progress.console.print(f"[red]✖[/red] item_{index}: {escape(outcome.error or outcome.status)}")
                for line in self._stderr_tail(outcome):
                    self._progress.console.print(line)
            return
        if self._plain_total <= PLAIN_PER_ITEM_LIMIT or not ok:
            mark = "✔" if ok else "✖"
            detail = f"{outcome.duration:.1f}s" if ok else escape(outcome.error or outcome.status)
            self.print(f"  item_{index} {mark} {detail}")
            for line in [] if ok else self._stderr_tail(outcome):
                self.print(line)

    def _stderr_tail(self, outcome: Any) -> list[str]:
        """The last lines of a failed item's stderr (with -v they were streamed already)."""
        if self.verbose or not (outcome.stderr or "").strip():
            return []
        rows = outcome.stderr.rstrip().splitlines()[-ITEM_STDERR_LINES:]
        return [f"[dim]    {escape(row)}[/dim]" for row in rows]

    def on_item_paused(self, index: int, outcome: Any) -> None:
        """A transient or fatal agent failure: the item is not at fault and stays pending."""
        kind = outcome.failure_kind
        what = "back in the queue" if kind and kind.kind == "transient" else "left pending"
        line = f"  item_{index} ⏸ {what} ({kind.kind}: {kind.reason})" if kind else f"  item_{index} ⏸ {what}"
        if self._progress is not None:
            if self.verbose:
                self._progress.console.print(line)
            return
        self.print(line)

    def on_agents_paused(self, seconds: float, text: str) -> None:
        line = f"[yellow]Paused:[/yellow] {escape(text)}"
        if self._progress is not None:
            self._progress.console.print(line)
        else:
            self.print(line)

    def on_item_errors(self, errors: list[tuple[int, str]], mode: str, final: bool) -> None:
        """error_collection: the failed items, now (immediate), N at a time (batched) or at the end (aggregate)."""
        if mode == "immediate":
            return  # each failure was already shown as it happened
        heading = f"Failed items ({len(errors)}):" if mode == "aggregate" else f"{len(errors)} item(s) failed:"
        lines = [heading] + [f"  item_{i}: {escape(e)}" for i, e in errors]
        write = self._progress.console.print if self._progress is not None else self.print
        for line in lines:
            write(line)

    def on_item_retry(self, index: int, outcome: Any) -> None:
        if self.verbose or self._progress is None:
            self.print(f"  item_{index} ⟳ retrying after: {escape(outcome.error or outcome.status)}")

    def on_job_resume_plan(self, session_id: str, job_id: str, job_dir: str, plan: Any, force: bool,
                           reaped: int) -> None:
        # Lines of at most 80 columns, ids included (a job id is 70 characters).
        self.print(f"Resuming MapReduce session [bold]{session_id}[/bold]")
        self.print(f"Job:     {job_id}")
        self.print(f"Job folder: {escape(job_dir)}")
        self.print(f"Phase: {plan.phase}")
        if plan.total_items is not None:
            dlq_note = "retried now: --force" if plan.retry_dlq else "retried only with --force"
            done = f"{plan.done} done (skipped)"
            if plan.done_cost_usd is not None:
                from prodigy.execution.agents.usage import fmt_cost

                done = f"{plan.done} done ({fmt_cost(plan.done_cost_usd)} recorded, not re-run)"
            self.print(f"Items: {plan.total_items} total, {done}, {len(plan.pending)} pending")
            self.print(f"       {len(plan.in_flight)} in flight at interruption (will re-run)")
            self.print(f"       {len(plan.dlq)} in DLQ ({dlq_note})")
        if plan.conversations:
            self.print(f"Agents: {plan.conversations} interrupted agent(s) will continue their conversations "
                       "where they can (resume_agent)")
        if reaped:
            self.print(f"Ended {reaped} command(s) still running from the interrupted run.")

    def _start_spinner(self) -> None:
        """A standard step is running: a spinner with its elapsed time, on a terminal that can redraw (it goes
        away when the step ends; with -v the step's output scrolls above it)."""
        if not self._live or self._spinner is not None:
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._spinner = Progress(SpinnerColumn(), TextColumn("running"), TimeElapsedColumn(), console=self.out,
                                 transient=True)
        self._spinner.add_task("step", total=None)
        self._spinner.start()

    def _stop_spinner(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    def _stop_live(self) -> None:
        self._stop_spinner()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

