"""Standard workflows: steps in order, a checkpoint after every step, resumable from the first incomplete one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from prodigy.execution import gitvars, process
from prodigy.execution import outcome as o
from prodigy.execution.agents.conversation import restart_reason
from prodigy.execution.agents.policy import AgentGovernor, AgentStop, settle
from prodigy.execution.agents.usage import UsageLedger
from prodigy.execution.agents.usage import total as total_usage
from prodigy.execution.context import StepContext, StepProgress
from prodigy.execution.process import StartInfo
from prodigy.execution.reporter import Reporter
from prodigy.execution.runner import run_step
from prodigy.state import checkpoints
from prodigy.state.checkpoints import StandardCheckpoint
from prodigy.state.sessions import now_iso
from prodigy.state.spend import add_spend
from prodigy.workflow.model import Step, Workflow


@dataclass(frozen=True)
class StandardResult:
    status: str  # completed | failed | interrupted | stopped (resumable: see `stop`)
    total_steps: int
    steps_run: int
    steps_already_done: int
    duration: float
    failed_index: int | None = None
    failure: o.StepOutcome | None = None
    reaped: list[int] = field(default_factory=list)  # pids of commands left running by a dead run
    stop: AgentStop | None = None  # status "stopped": why (agents cannot run, API outage, cost cap)
    conversations: list[tuple[str, str]] = field(default_factory=list)  # ("continued"|"restarted", detail)


def reap_in_flight(checkpoint: StandardCheckpoint) -> list[int]:
    """After a hard kill, end the step command the dead run left running before anything runs again."""
    record = checkpoint.in_flight or {}
    pid, pgid, start = record.get("pid"), record.get("pgid"), record.get("start_time")
    if pid and pgid and start and process.reap_recorded(int(pid), int(pgid), float(start)):
        return [int(pid)]
    return []


def run_standard(workflow: Workflow, checkpoint: StandardCheckpoint, ctx: StepContext,
                 base_variables: dict[str, Any], reporter: Reporter,
                 save: Callable[[StandardCheckpoint], None] = checkpoints.save,
                 governor: AgentGovernor | None = None) -> StandardResult:
    started = time.monotonic()
    steps = workflow.steps
    total = len(steps)
    governor = governor or AgentGovernor(workflow.agents, spent_usd=checkpoint.spend.get("usd", 0.0))
    reaped = reap_in_flight(checkpoint)
    if reaped:
        reporter.emit("reaped", pids=reaped)
    already = sum(1 for i in range(total) if checkpoint.is_done(i))
    ran = 0
    notes: list[tuple[str, str]] = []  # what became of interrupted agents' conversations
    # real values; the checkpoint keeps a masked copy
    live = gitvars.revive({**base_variables, **checkpoint.variables})
    checkpoint.status, checkpoint.failure, checkpoint.in_flight = "running", None, None
    save(checkpoint)
    for index, step in enumerate(steps):
        if checkpoint.is_done(index):
            continue
        budget = governor.check_budget()
        if budget is not None:  # the cost cap: stop before the next step, resumably
            return _stopped(checkpoint, save, budget, index, total, ran, already, started, reaped, None)
        reporter.emit("step_started", index=index, total=total, description=step.describe())
        _vet_conversation(workflow, step, index, checkpoint, ctx, notes)
        usages: list[Any] = []

        def attempt(step: Step = step, index: int = index, usages: list[Any] = usages) -> tuple[Any, Any, bool]:
            ledger = UsageLedger()
            outcome = run_step(step, {**live, "step.name": step.name or step.describe(), "step.index": index},
                               _with_recorder(replace(ctx, usage=ledger), checkpoint, index, save))
            notes.extend(ledger.notes)
            usage = ledger.total()
            add_spend(checkpoint.spend, usage.to_record() if usage is not None else None)
            usages.append(usage)
            return outcome, usage.cost_usd if usage is not None else None, usage is not None

        outcome = settle(attempt, governor, ctx.stop_event,
                         lambda pause: reporter.emit("agents_paused", seconds=pause.seconds, text=pause.message))
        ran += 1
        kind = outcome.failure_kind
        if not (outcome.status == o.INTERRUPTED or (kind is not None and kind.run_level)):
            checkpoint.partial.pop(str(index), None)  # kept through an interrupt: a resume continues the step
        live.update(outcome.variables)
        checkpoint.in_flight = None
        checkpoint.variables.update(_storable(outcome.variables, ctx))
        usage = total_usage(usages)
        spent = usage.to_record() if usage is not None else None
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
        if kind is not None and kind.run_level and governor.stop is not None and not ctx.stop_event.is_set():
            return _stopped(checkpoint, save, governor.stop, index, total, ran, already, started, reaped, outcome,
                            ctx.masker, spent)
        interrupted = outcome.status == o.INTERRUPTED or (kind is not None and kind.run_level)
        status = "interrupted" if interrupted else "failed"
        checkpoint.status = status
        checkpoint.failure = _failure_record(index, outcome, ctx.masker, spent)
        save(checkpoint)
        return StandardResult(status, total, ran, already, time.monotonic() - started, index, outcome, reaped,
                              conversations=notes)
    checkpoint.status = "completed"
    save(checkpoint)
    return StandardResult("completed", total, ran, already, time.monotonic() - started, reaped=reaped,
                          conversations=notes)


def _vet_conversation(workflow: Workflow, step: Step, index: int, checkpoint: StandardCheckpoint,
                      ctx: StepContext, notes: list[tuple[str, str]]) -> None:
    """The step was interrupted in an agent call: keep its conversation for the agent to continue, unless it
    cannot be (opted out, another tree, the step or the CLI changed, too old): then the step starts afresh."""
    part = checkpoint.partial.get(str(index))
    reason = restart_reason(part, step, ctx, workflow.agents)
    if reason is not None:
        checkpoint.partial[str(index)] = {k: v for k, v in part.items() if k != "agent"}
        notes.append(("restarted", reason))


def _failure_record(index: int, outcome: o.StepOutcome, masker: Any, spent: dict[str, Any] | None,
                    stop: AgentStop | None = None) -> dict[str, Any]:
    record = {
        "index": index, "status": outcome.status, "exit_code": outcome.exit_code,
        "error": masker(outcome.error), "stderr_tail": masker(outcome.stderr[-4000:]),
        "log_path": outcome.log_path, "at": now_iso(), **({"ag": spent} if spent else {}),
    }
    if outcome.failure_kind is not None:
        record["kind"] = outcome.failure_kind.kind
    if stop is not None:
        record["stop"] = stop.to_json()
    return record


def _stopped(checkpoint: StandardCheckpoint, save: Callable[[StandardCheckpoint], None], stop: AgentStop,
             index: int, total: int, ran: int, already: int, started: float, reaped: list[int],
             outcome: o.StepOutcome | None, masker: Any = str, spent: dict[str, Any] | None = None) -> StandardResult:
    """Stopped for a reason outside the steps (the agent cannot run, an API outage, the cost cap): resumable,
    the step not done."""
    outcome = outcome or o.StepOutcome(status=o.SKIPPED, error=stop.message)
    checkpoint.status = "interrupted"
    checkpoint.failure = _failure_record(index, outcome, masker, spent, stop)
    save(checkpoint)
    return StandardResult("stopped", total, ran, already, time.monotonic() - started, index, outcome, reaped,
                          stop=stop)


def _with_recorder(ctx: StepContext, checkpoint: StandardCheckpoint, index: int,
                   save: Callable[[StandardCheckpoint], None]) -> StepContext:
    """Record each command's process group durably before the command is allowed to run."""

    def on_start(info: StartInfo) -> None:
        checkpoint.in_flight = {"index": index, "started_at": now_iso(), "pid": info.pid, "pgid": info.pgid,
                                "start_time": info.start_time}
        save(checkpoint)

    def keep(values: dict[str, Any]) -> None:  # foreach iterations, validation rounds: resumable mid-step
        checkpoint.partial[str(index)] = _storable(values, ctx)
        save(checkpoint)

    return replace(ctx, on_start=on_start, label=f"step{index + 1}",
                   progress=StepProgress(checkpoint.partial.get(str(index)), keep))


def _storable(variables: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """Variables go to disk with secrets masked."""
    if not ctx.masker:
        return dict(variables)
    return {k: ctx.masker(v) if isinstance(v, str) else v for k, v in variables.items()}
