"""A map item's agent_template, step by step, with durable progress per top-level step so that an attempt cut
short inside an agent call can be continued (resume inside the agent, execution/agents/conversation.py).

Each top-level step gets a StepProgress whose saves become `item_part` journal records (through the
coordinator: workers never write state), and each step that completes before the template's last claude step
an `item_step` record with the variables it set. A continuing attempt (`task.resume`) skips the steps that
completed, restores their variables (recording them again for its own attempt), and hands the interrupted
step its progress, so its claude call continues the same conversation."""

from __future__ import annotations

import dataclasses
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution.context import StepContext, StepProgress
from prodigy.execution.runner import run_step
from prodigy.workflow.model import Step

# (task, record kind "item_part" | "item_step", step index, values): journaled by the coordinator
ProgressHook = Callable[[Any, str, int, dict[str, Any]], None]


def last_agent_step(steps: tuple[Step, ...]) -> int:
    """The index of the template's last top-level claude step (-1: none, so no progress is recorded)."""
    found = [k for k, step in enumerate(steps) if step.kind == "claude"]
    return found[-1] if found else -1


def run_template(task: Any, variables: Mapping[str, Any], ctx: StepContext,
                 hook: ProgressHook | None) -> o.StepOutcome:
    steps: tuple[Step, ...] = task.steps
    last_agent = last_agent_step(steps) if hook is not None else -1
    resume: dict[str, Any] = task.resume or {}
    start = int(resume.get("k", 0))
    updates: dict[str, Any] = {}
    for key, values in sorted((resume.get("steps") or {}).items(), key=lambda kv: int(kv[0])):
        updates.update(values)
        if hook is not None:
            hook(task, "item_step", int(key), values)  # this attempt's own record of them (already masked)
    last = o.StepOutcome(status=o.SUCCEEDED)
    total = 0.0
    for index, step in enumerate(steps):
        if index < start:
            continue
        step_ctx = ctx
        if index <= last_agent:
            known = (resume.get("parts") or {}).get(str(index)) if index == start else None
            step_ctx = dataclasses.replace(ctx, progress=StepProgress(known, _saver(hook, task, index, ctx)))
        last = run_step(step, ChainMap(updates, variables), step_ctx)
        updates.update(last.variables)
        total += last.duration
        if not last.ok:
            return dataclasses.replace(last, variables=updates, duration=total)
        if index < last_agent and hook is not None:
            hook(task, "item_step", index, masked(dict(last.variables), ctx))
    return dataclasses.replace(last, variables=updates, duration=total)


def _saver(hook: ProgressHook | None, task: Any, index: int,
           ctx: StepContext) -> Callable[[dict[str, Any]], None] | None:
    if hook is None:
        return None
    return lambda values: hook(task, "item_part", index, masked(values, ctx))


def masked(value: Any, ctx: StepContext) -> Any:
    """What goes to the journal: secrets masked in every string, however deep."""
    if not ctx.masker:
        return value
    if isinstance(value, str):
        return ctx.masker(value)
    if isinstance(value, dict):
        return {k: masked(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, ctx) for v in value]
    return value
