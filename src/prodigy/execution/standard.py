"""Standard workflows: steps in order, a checkpoint after every step, resumable from the first incomplete one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution import process
from prodigy.execution.agents.usage import UsageLedger
from prodigy.execution.context import StepContext
from prodigy.execution.process import StartInfo
from prodigy.execution.reporter import Reporter
from prodigy.execution.runner import run_step
from prodigy.state import checkpoints
from prodigy.state.checkpoints import StandardCheckpoint
from prodigy.state.sessions import now_iso
from prodigy.state.spend import add_spend
from prodigy.workflow.model import Workflow


@dataclass(frozen=True)
class StandardResult:
    status: str  # completed | failed | interrupted
    total_steps: int
    steps_run: int
    steps_already_done: int
    duration: float
    failed_index: int | None = None
    failure: o.StepOutcome | None = None
    reaped: list[int] = field(default_factory=list)  # pids of commands left running by a dead run


def reap_in_flight(checkpoint: StandardCheckpoint) -> list[int]:
    """After a hard kill, end the step command the dead run left running before anything runs again."""
    record = checkpoint.in_flight or {}
    pid, pgid, start = record.get("pid"), record.get("pgid"), record.get("start_time")
    if pid and pgid and start and process.reap_recorded(int(pid), int(pgid), float(start)):
        return [int(pid)]
    return []


def run_standard(workflow: Workflow, checkpoint: StandardCheckpoint, ctx: StepContext,
                 base_variables: dict[str, Any], reporter: Reporter,
                 save: Callable[[StandardCheckpoint], None] = checkpoints.save) -> StandardResult:
    started = time.monotonic()
    steps = workflow.steps
    total = len(steps)
    reaped = reap_in_flight(checkpoint)
    if reaped:
        reporter.emit("reaped", pids=reaped)
    already = sum(1 for i in range(total) if checkpoint.is_done(i))
    ran = 0
    live = {**base_variables, **checkpoint.variables}  # real values; the checkpoint keeps a masked copy
    checkpoint.status, checkpoint.failure, checkpoint.in_flight = "running", None, None
    save(checkpoint)
    for index, step in enumerate(steps):
        if checkpoint.is_done(index):
            continue
        reporter.emit("step_started", index=index, total=total, description=step.describe())
        ledger = UsageLedger()
        step_ctx = _with_recorder(replace(ctx, usage=ledger), checkpoint, index, save)
        outcome = run_step(step, live, step_ctx)
        ran += 1
        live.update(outcome.variables)
        checkpoint.in_flight = None
        checkpoint.variables.update(_storable(outcome.variables, ctx))
        usage = ledger.total()
        spent = usage.to_record() if usage is not None else None
        add_spend(checkpoint.spend, spent)
        reporter.emit("step_finished", index=index, total=total, description=step.describe(), outcome=outcome,
                      agent=usage)
        if outcome.ok:
            checkpoint.completed[str(index)] = {
                "status": outcome.status, "exit_code": outcome.exit_code, "attempts": outcome.attempts,
                "duration": round(outcome.duration, 3), "recovered": outcome.recovered, "finished_at": now_iso(),
                **({"ag": spent} if spent else {}),
            }
            save(checkpoint)
            continue
        status = "interrupted" if outcome.status == o.INTERRUPTED else "failed"
        checkpoint.status = status
        checkpoint.failure = {
            "index": index, "status": outcome.status, "exit_code": outcome.exit_code,
            "error": ctx.masker(outcome.error), "stderr_tail": ctx.masker(outcome.stderr[-4000:]),
            "log_path": outcome.log_path, "at": now_iso(), **({"ag": spent} if spent else {}),
        }
        save(checkpoint)
        return StandardResult(status, total, ran, already, time.monotonic() - started, index, outcome, reaped)
    checkpoint.status = "completed"
    save(checkpoint)
    return StandardResult("completed", total, ran, already, time.monotonic() - started, reaped=reaped)


def _with_recorder(ctx: StepContext, checkpoint: StandardCheckpoint, index: int,
                   save: Callable[[StandardCheckpoint], None]) -> StepContext:
    """Record each command's process group durably before the command is allowed to run."""

    def on_start(info: StartInfo) -> None:
        checkpoint.in_flight = {"index": index, "started_at": now_iso(), "pid": info.pid, "pgid": info.pgid,
                                "start_time": info.start_time}
        save(checkpoint)

    return replace(ctx, on_start=on_start, label=f"step{index + 1}")


def _storable(variables: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """Variables go to disk with secrets masked."""
    if not ctx.masker:
        return dict(variables)
    return {k: ctx.masker(v) if isinstance(v, str) else v for k, v in variables.items()}
