"""`prodigy progress` on a terminal: a watched job drawn by the run's own reporter, so the bar and the
per-item lines are the ones `prodigy run` shows (plain lines in a pipe), plus what only a watcher needs:
the DLQ, the rate and the slowest running item beside the counts, and how the job ended."""

from __future__ import annotations

from typing import Any

from prodigy.cli.render import ConsoleReporter, escape, fmt_duration
from prodigy.views.progress_snapshot import ItemOutcome, ProgressSnapshot


class _Outcome:
    """What the reporter's item handlers read from an outcome."""

    def __init__(self, outcome: ItemOutcome) -> None:
        self.status = outcome.status
        self.error = outcome.error
        self.duration = outcome.duration or 0.0
        self.stderr = outcome.stderr or ""


class WatchRenderer:
    def __init__(self, reporter: ConsoleReporter) -> None:
        self.out = reporter
        self._header = False
        self._setup_shown = False
        self._setup_running_shown = False
        self._map_started = False
        self._map_finished = False
        self._reduce_shown = False

    def update(self, snap: ProgressSnapshot, outcomes: list[ItemOutcome]) -> None:
        out = self.out
        if not self._header:
            self._print_header(snap)
        if snap.phase == "setup":
            if not self._setup_running_shown and (snap.live or snap.setup.done):
                total = f" of {snap.setup.total}" if snap.setup.total else ""
                out.print(f"Setup  step {snap.setup.done + 1}{total} running" if snap.live
                          else f"Setup  {snap.setup.done} step(s) done")
                self._setup_running_shown = True
        elif not self._setup_shown:
            self._phase_done("setup", snap.setup.done, snap.setup.total)
            self._setup_shown = True
        counts = snap.counts
        if counts.total is not None and not self._map_started:
            out.emit("phase_started", phase="map", total=counts.total, done=counts.finished,
                     succeeded_before=snap.succeeded_before_run)
            self._map_started = True
            outcomes = []  # what ended before we looked is in `done` already
        if self._map_started and not self._map_finished:
            for outcome in outcomes:
                if outcome.status == "interrupted":
                    continue
                if outcome.final:
                    out.emit("item_finished", index=outcome.index, ok=outcome.ok, outcome=_Outcome(outcome))
                else:
                    out.emit("item_retry", index=outcome.index, outcome=_Outcome(outcome))
            out.emit("map_progress", done=counts.finished, succeeded=counts.succeeded, failed=counts.failed,
                     running=counts.running, total=counts.total or 0, retrying=counts.retrying, note=note(snap))
            if snap.phase in ("reduce", "done"):
                out.emit("phase_finished", phase="map")
                self._map_finished = True
        if snap.phase == "done" and not self._reduce_shown:
            self._phase_done("reduce", snap.reduce.done, snap.reduce.total)
            self._reduce_shown = True

    def _print_header(self, snap: ProgressSnapshot) -> None:
        self._header = True
        self.out.emit("job_created", job_id=snap.job_id, job_dir="", events_path="")
        self.out.print(f"Session: {snap.session_id} (workflow {escape(snap.workflow)})")
        runs = f"; run {snap.runs} of the job" if snap.runs > 1 else ""
        self.out.print(f"Status:  {state_text(snap)}, phase {snap.phase}{runs}")

    def _phase_done(self, phase: str, done: int, total: int | None) -> None:
        if total:
            self.out.emit("phase_started", phase=phase, total=total, done=0)
            self.out.emit("phase_finished", phase=phase)
        elif done:
            self.out.print(f"{phase.capitalize():<7}[green]✔[/green] {done} step(s)")

    def finish(self, snap: ProgressSnapshot) -> None:
        self.out.close()
        counts = snap.counts
        took = f" after {fmt_duration(snap.elapsed_seconds)}" if snap.elapsed_seconds is not None else ""
        numbers = ""
        if counts.total is not None:
            numbers = f": {counts.succeeded} succeeded, {counts.failed} failed"
            if counts.dlq:
                numbers += f" ({counts.dlq} in the DLQ)"
            left = counts.pending + counts.running
            if left:
                numbers += f", {left} not finished"
        if snap.cost_usd is not None:
            from prodigy.execution.agents.usage import fmt_cost

            numbers += f"; agents cost {fmt_cost(snap.cost_usd)}"
        state = state_text(snap)
        if snap.status == "completed":
            self.out.print(f"[green]✔[/green] Job completed{numbers}{took}.")
        elif snap.status == "failed":
            error = f" {escape(snap.error)}" if snap.error else ""
            self.out.print(f"[red]✖[/red] Job failed in the {snap.phase} phase{numbers}{took}.{error}")
        else:
            self.out.print(f"[yellow]■[/yellow] Job {state} in the {snap.phase} phase{numbers}{took}.")
        if not snap.live and counts.running:
            self.out.print(f"  {counts.running} item(s) were in flight when it stopped; a resume runs them again.")
        if snap.next_command:
            self.out.print(f"Next: [bold]{escape(snap.next_command)}[/bold]")
        elif snap.status == "running" and not snap.live:
            self.out.print(f"Resume with: [bold]{escape(snap.resume_command)}[/bold]")


def state_text(snap: ProgressSnapshot) -> str:
    if snap.live:
        return "running"
    if snap.status == "running":
        return "not running (its process is gone)" if snap.ended else "starting or stopped"
    return snap.status


def note(snap: ProgressSnapshot) -> str:
    parts = []
    if snap.counts.dlq:
        parts.append(f"DLQ {snap.counts.dlq}")
    if snap.rate_per_minute:
        rate = snap.rate_per_minute
        parts.append(f"{rate:.0f}/min" if rate >= 10 else f"{rate:.1f}/min")
    if snap.cost_usd is not None:
        from prodigy.execution.agents.usage import fmt_cost

        parts.append(fmt_cost(snap.cost_usd))
    slowest = snap.slowest_running[0] if snap.slowest_running and snap.live else None
    if slowest is not None and slowest.seconds is not None:
        parts.append(f"slowest {slowest.item_id} {fmt_duration(slowest.seconds)}")
    return ", ".join(parts)


def snapshot_json(snap: ProgressSnapshot) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(snap)
