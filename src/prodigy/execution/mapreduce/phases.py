"""Setup and reduce: steps in order with a completion record per step in the job journal (captured
variables included), so a resume continues at the first step without one."""

from __future__ import annotations

import json
import re
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from prodigy.execution import gitvars
from prodigy.execution import outcome as o
from prodigy.execution.agents.conversation import restart_reason
from prodigy.execution.agents.policy import AgentGovernor, Pause, settle
from prodigy.execution.agents.usage import UsageLedger
from prodigy.execution.context import StepContext, StepProgress
from prodigy.execution.process import StartInfo
from prodigy.execution.reporter import Reporter
from prodigy.execution.runner import run_step
from prodigy.state.events import EventLog
from prodigy.state.jobs import JobStore
from prodigy.workflow.model import AgentPolicy, CaptureSpec, Step


def run_phase_steps(phase: str, steps: tuple[Step, ...], done: Mapping[int, dict[str, Any]],
                    variables: Mapping[str, Any], store: JobStore, ctx: StepContext, reporter: Reporter,
                    events: EventLog, captures: tuple[tuple[str, CaptureSpec], ...] = (),
                    governor: AgentGovernor | None = None,
                    notes: list[tuple[str, str]] | None = None) -> o.StepOutcome | None:
    """Run the steps of `phase` not yet in `done`. Returns the failing outcome, or None when all are done.
    With `governor`: a transient agent failure pauses and runs the step again, and when `governor.stop` is set
    after a failure (or before a step: the cost cap) the job must stop, resumably."""
    live: dict[str, Any] = {}
    for vars_ in done.values():
        live.update(vars_)
    gitvars.revive(live)
    total = len(steps)
    governor = governor or AgentGovernor(AgentPolicy())
    for index, step in enumerate(steps):
        if index in done:
            continue
        budget = governor.check_budget()
        if budget is not None:
            return o.StepOutcome(status=o.SKIPPED, error=budget.message)  # the caller reads governor.stop
        reporter.emit("phase_step_started", phase=phase, index=index, total=total, description=step.describe())
        events.emit("step_started", phase=phase, step=index + 1, description=step.describe())
        usages: list[Any] = []
        _vet_conversation(phase, step, index, store, ctx, governor, notes)

        def attempt(step: Step = step, index: int = index, usages: list[Any] = usages) -> tuple[Any, Any, bool]:
            ledger = UsageLedger()
            step_vars = ChainMap(live, {"step.name": step.name or step.describe(), "step.index": index}, variables)
            outcome = run_step(step, step_vars, _recording(replace(ctx, usage=ledger), store, phase, index))
            if notes is not None:
                notes.extend(ledger.notes)
            usage = ledger.total()
            if usage is not None and not outcome.ok:  # what a failed attempt cost still counts in the totals
                store.append({"t": "spend", "ph": phase, "k": index, "ag": usage.to_record()})
            usages.append(usage if outcome.ok else None)
            return outcome, usage.cost_usd if usage is not None else None, usage is not None

        outcome = settle(attempt, governor, ctx.stop_event, lambda pause: _paused(pause, reporter, events))
        usage = usages[-1] if usages else None
        spent = {"ag": usage.to_record()} if usage is not None else {}
        reporter.emit("phase_step_finished", phase=phase, index=index, total=total,
                      description=step.describe(), outcome=outcome, agent=usage)
        events.emit("step_completed" if outcome.ok else "step_failed", phase=phase, step=index + 1,
                    status=outcome.status, exit_code=outcome.exit_code, duration=round(outcome.duration, 3),
                    error=ctx.masker(outcome.error) if outcome.error else None, log_path=outcome.log_path)
        if not outcome.ok:
            return outcome
        exported = dict(outcome.variables)
        exported.update(_captures_for(index, captures, outcome))
        live.update(exported)
        store.append({"t": f"{phase}_step", "index": index, "vars": _storable(exported, ctx), **spent})
    return None


def _vet_conversation(phase: str, step: Step, index: int, store: JobStore, ctx: StepContext,
                      governor: AgentGovernor, notes: list[tuple[str, str]] | None) -> None:
    """The step was interrupted in an agent call: its agent continues, unless it cannot (then afresh)."""
    parts = store.state.step_parts if store.state is not None else {}
    key = f"{phase}:{index}"
    known = parts.get(key)
    reason = restart_reason(known, step, ctx, governor.settings)
    if reason is not None:
        parts[key] = {k: v for k, v in known.items() if k != "agent"}  # the attempt starts afresh
        if notes is not None:
            notes.append(("restarted", reason))


def _paused(pause: Pause, reporter: Reporter, events: EventLog) -> None:
    events.emit("agents_paused", seconds=round(pause.seconds, 1), reason=pause.message)
    reporter.emit("agents_paused", seconds=pause.seconds, text=pause.message)


def _recording(ctx: StepContext, store: JobStore, phase: str, index: int) -> StepContext:
    def on_start(info: StartInfo) -> None:
        record = {"t": "proc", "ph": phase, "k": index, "pid": info.pid, "st": info.start_time}
        if info.pgid != info.pid:
            record["pg"] = info.pgid
        store.append(record, sync=False, stamp=False)  # a plain write outlives prodigy (see record_process)

    def save(values: dict[str, Any]) -> None:  # foreach iterations, validation rounds: resumable mid-step
        store.append({"t": "step_part", "ph": phase, "k": index, "v": _storable(values, ctx)})

    known = store.state.step_parts.get(f"{phase}:{index}") if store.state is not None else None
    return replace(ctx, on_start=on_start, label=f"{phase}{index + 1}", progress=StepProgress(known, save))


def _storable(variables: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    if not ctx.masker:
        return variables
    return {k: ctx.masker(v) if isinstance(v, str) else v for k, v in variables.items()}


def _captures_for(index: int, captures: tuple[tuple[str, CaptureSpec], ...], outcome: o.StepOutcome) -> dict[str, Any]:
    return {name: capture_value(spec, outcome) for name, spec in captures if spec.command_index == index}


def capture_value(spec: CaptureSpec, outcome: o.StepOutcome) -> Any:
    """setup.capture_outputs: one variable from one command's output."""
    text = {"stdout": outcome.stdout, "stderr": outcome.stderr,
            "both": outcome.stdout + outcome.stderr,
            "combined": outcome.stdout + ("\n" if outcome.stdout and outcome.stderr else "") + outcome.stderr,
            }[spec.source]
    if spec.max_size is not None:
        text = text.encode()[: spec.max_size].decode("utf-8", "ignore")
    value: Any = text
    if spec.json_path:
        value = _json_path_value(spec.json_path, text)
    elif spec.pattern:
        match = re.search(spec.pattern, text, re.MULTILINE)
        value = (match.group(1) if match and match.groups() else match.group(0)) if match else None
    if isinstance(value, str):
        value = _multiline(value.rstrip("\n"), spec.multiline)
    if value in (None, "", []) and spec.default is not None:
        return spec.default
    return value


def _json_path_value(path: str, text: str) -> Any:
    from jsonpath_ng.ext import parse

    try:
        data = json.loads(text)
        matches = [m.value for m in parse(path).find(data)]
    except Exception:  # noqa: BLE001 - not JSON, or a bad path: the capture falls back to its default
        return None
    if not matches:
        return None
    return matches[0] if len(matches) == 1 else matches


def _multiline(text: str, mode: str) -> Any:
    lines = text.splitlines()
    if mode == "join":
        return " ".join(line.strip() for line in lines if line.strip())
    if mode == "first_line":
        return lines[0] if lines else ""
    if mode == "last_line":
        return lines[-1] if lines else ""
    if mode == "array":
        return lines
    return text
