"""One executor for every step in every phase: when, timeout, captures, on_success, on_exit_code, on_failure
(with retries) and commit_required behave the same in standard workflows, setup, map agents and reduce."""

from __future__ import annotations

import dataclasses
import json
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from prodigy import git
from prodigy.execution import outcome as o
from prodigy.execution.context import StepContext
from prodigy.execution.steps import REGISTRY
from prodigy.workflow.interpolate import render
from prodigy.workflow.load import parse_duration
from prodigy.workflow.model import Step


def run_steps(steps: tuple[Step, ...], variables: Mapping[str, Any], ctx: StepContext) -> o.StepOutcome:
    """Run steps in order, each seeing the variables set by the ones before; stop at the first failure."""
    updates: dict[str, Any] = {}
    last = o.StepOutcome(status=o.SUCCEEDED)
    total = 0.0
    for step in steps:
        last = run_step(step, ChainMap(updates, variables), ctx)
        updates.update(last.variables)
        total += last.duration
        if not last.ok:
            return dataclasses.replace(last, variables=updates, duration=total)
    return dataclasses.replace(last, variables=updates, duration=total)


def run_step(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.StepOutcome:
    outcome = _run_step(step, variables, ctx)
    if outcome.ok or outcome.status == o.INTERRUPTED or ctx.explain_missing is None:
        return outcome
    missing = ctx.explain_missing(ctx.run_dir, stderr=f"{outcome.stderr}\n{outcome.error or ''}")
    return dataclasses.replace(outcome, error=f"{outcome.error or outcome.status}: {missing.text}") if missing else outcome


def _run_step(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.StepOutcome:
    if ctx.stop_event.is_set():
        return o.StepOutcome(status=o.INTERRUPTED, error="interrupted before the step started")
    if step.when is not None:
        from prodigy.workflow import expr  # only for workflows that use expressions

        try:
            if not expr.truthy(expr.evaluate(expr.parse(step.when, kind="when"), variables)):
                return o.StepOutcome(status=o.SKIPPED)
        except expr.ExprError as exc:
            return o.StepOutcome(status=o.ERRORED, error=str(exc))
    try:
        step = _resolve_timeout(step, variables)
    except ValueError as exc:
        return o.StepOutcome(status=o.ERRORED, error=str(exc))
    head_before = git.head(ctx.run_dir) if step.commit_required else None
    attempts = step.on_failure.max_attempts if step.on_failure else 1
    updates: dict[str, Any] = {}
    total = 0.0
    for attempt in range(1, attempts + 1):
        command = REGISTRY[step.kind](step, ChainMap(updates, variables), ctx)
        total += command.duration
        updates.update(_output_variables(step, command))
        if command.ok:
            command = _check_commit(step, command, head_before, ctx)
        if command.ok:
            follow = _after_success(step, command, ChainMap(updates, variables), ctx)
            updates.update(follow.variables)
            total += follow.duration
            if follow.ok:
                return _outcome(command, updates, total, attempt)
            return dataclasses.replace(follow, variables=updates, duration=total, attempts=attempt)
        if command.status == o.INTERRUPTED or (command.failure_kind and command.failure_kind.run_level):
            # Not the step's fault (the API is down, the agent cannot log in): no handler, no retry here; the
            # runner that owns the step decides (execution/agents/policy.py).
            return _outcome(command, updates, total, attempt)
        handled = _on_failure(step, command, ChainMap(updates, variables), ctx, attempt, attempts)
        if handled is None:  # no handler for this failure
            return _outcome(command, updates, total, attempt)
        updates.update(handled.variables)
        total += handled.duration
        if handled.status == o.INTERRUPTED or (handled.failure_kind and handled.failure_kind.run_level):
            return dataclasses.replace(handled, variables=updates, duration=total, attempts=attempt)
        if not handled.ok:
            return dataclasses.replace(
                _outcome(command, updates, total, attempt),
                error=f"{command.error}; the on_failure handler failed too: {handled.error}",
            )
        if attempt < attempts and step.on_failure is not None and not _exit_code_handler(step, command):
            continue  # the handler ran (e.g. an agent fixed something): try the step again
        return _final_after_handlers(step, command, updates, total, attempt, attempts)
    raise AssertionError("unreachable")


def _final_after_handlers(step: Step, command: o.CommandOutcome, updates: dict[str, Any], total: float,
                          attempt: int, attempts: int) -> o.StepOutcome:
    fail_workflow = step.on_failure.fail_workflow if step.on_failure else None
    if _exit_code_handler(step, command) is not None:
        fail_workflow = False if fail_workflow is None else fail_workflow
    # One attempt with a handler that succeeded: the handler recovered the step (unless fail_workflow: true).
    # Several attempts that all failed: the step failed (unless fail_workflow: false).
    recovered = (fail_workflow is False) or (fail_workflow is None and attempts == 1)
    failed = _outcome(command, updates, total, attempt)
    if recovered:
        return dataclasses.replace(failed, status=o.SUCCEEDED, recovered=True)
    return failed


def _outcome(command: o.CommandOutcome, updates: dict[str, Any], total: float, attempt: int) -> o.StepOutcome:
    return o.StepOutcome(
        status=command.status, exit_code=command.exit_code, stdout=command.stdout, stderr=command.stderr,
        duration=total, log_path=command.log_path, error=command.error, variables=updates, attempts=attempt,
        failure_kind=command.failure_kind,
    )


def _resolve_timeout(step: Step, variables: Mapping[str, Any]) -> Step:
    if not isinstance(step.timeout, str):
        return step
    text = render(step.timeout, variables)
    seconds = parse_duration(text)
    if seconds is None:
        raise ValueError(f"timeout {step.timeout!r} resolved to {text!r}, which is not a duration")
    return dataclasses.replace(step, timeout=seconds)


def _output_variables(step: Step, command: o.CommandOutcome) -> dict[str, Any]:
    if step.kind not in ("shell", "claude"):
        return {}
    text = command.captured.rstrip("\n")  # `echo "x ${shell.output}"` should not gain a blank line
    values: dict[str, Any] = {f"{step.kind}.output": text, f"{step.kind}.exit_code": command.exit_code}
    if isinstance(step.capture_output, str):
        values[step.capture_output] = text
    if step.capture:
        values.update(_typed_capture(step, command))
    return values


def _typed_capture(step: Step, command: o.CommandOutcome) -> dict[str, Any]:
    name = step.capture
    text = command.captured.rstrip("\n")
    meta = {f"{name}.exit_code": command.exit_code, f"{name}.success": command.ok,
            f"{name}.stderr": command.stderr, f"{name}.duration": round(command.duration, 3)}
    if not command.ok:
        return {name: text, **meta}
    try:
        value = parse_capture(text, step.capture_format)
    except ValueError as exc:
        # Reported by _check_capture as a step failure; keep the raw text visible meanwhile.
        return {name: text, **meta, f"{name}.error": str(exc)}
    return {name: value, **meta}


def parse_capture(text: str, fmt: str) -> Any:
    if fmt == "string":
        return text
    if fmt == "json":
        try:
            # strict=False: raw newlines and tabs inside strings are accepted, because shell-built JSON
            # ('"report": "${multi_line_capture}"') has them and their meaning is unambiguous.
            return json.loads(text, strict=False)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"capture_format json: the output is not JSON ({exc})") from None
    if fmt == "number":
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError(f"capture_format number: the output {text.strip()[:40]!r} is not a number") from None
        return int(number) if number.is_integer() and "." not in text else number
    if fmt == "lines":
        return [line for line in text.splitlines() if line.strip()]
    if fmt == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0", ""):
            return False
        raise ValueError(f"capture_format boolean: the output {text.strip()[:40]!r} is not true/false")
    raise ValueError(f"unknown capture_format {fmt!r}")


def _check_commit(step: Step, command: o.CommandOutcome, head_before: str | None,
                  ctx: StepContext) -> o.CommandOutcome:
    if step.capture:
        problem = _capture_problem(step, command)
        if problem:
            return dataclasses.replace(command, status=o.FAILED, error=problem)
    if not step.commit_required:
        return command
    head_after = git.head(ctx.run_dir)
    if head_after is None:
        return dataclasses.replace(command, status=o.FAILED,
                                   error=f"commit_required: {ctx.run_dir} is not a git repository with commits")
    if head_after == head_before:
        return dataclasses.replace(command, status=o.FAILED,
                                   error="commit_required: the step finished without creating a commit")
    return command


def _capture_problem(step: Step, command: o.CommandOutcome) -> str | None:
    try:
        parse_capture(command.captured.rstrip("\n"), step.capture_format)
    except ValueError as exc:
        return str(exc)
    return None


def _after_success(step: Step, command: o.CommandOutcome, variables: Mapping[str, Any],
                   ctx: StepContext) -> o.StepOutcome:
    steps = tuple(step.on_success) + (_exit_code_handler(step, command) or ())
    if not steps:
        return o.StepOutcome(status=o.SUCCEEDED)
    return run_steps(steps, variables, ctx)


def _exit_code_handler(step: Step, command: o.CommandOutcome) -> tuple[Step, ...] | None:
    for code, steps in step.on_exit_code:
        if code == command.exit_code:
            return steps
    return None


def _on_failure(step: Step, command: o.CommandOutcome, variables: Mapping[str, Any], ctx: StepContext,
                attempt: int, attempts: int) -> o.StepOutcome | None:
    handler_steps = _exit_code_handler(step, command)
    if handler_steps is None:
        if step.on_failure is None:
            return None
        handler_steps = step.on_failure.steps
    error_vars = {
        "error.message": command.error or "",
        "error.exit_code": command.exit_code,
        "error.stderr": command.stderr,
        "error.stdout": command.stdout,
        "error.step": step.describe(),
        "error.attempt": attempt,
        "error.max_attempts": attempts,
    }
    if not handler_steps:
        return o.StepOutcome(status=o.SUCCEEDED)
    return run_steps(handler_steps, ChainMap(error_vars, variables), ctx)
