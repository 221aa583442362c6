"""One executor for every step in every phase: when, timeout, captures, on_success, on_exit_code, on_failure
(with retries) and commit_required behave the same in standard workflows, setup, map agents and reduce."""

from __future__ import annotations

import dataclasses
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from prodigy import git
from prodigy.execution import captures, gitvars, step_retry
from prodigy.execution import outcome as o
from prodigy.execution.captures import parse_capture
from prodigy.execution.context import StepContext
from prodigy.execution.steps import REGISTRY
from prodigy.git import context as git_context
from prodigy.workflow import list_modifiers
from prodigy.workflow.interpolate import render
from prodigy.workflow.load import parse_duration
from prodigy.workflow.model import Step

__all__ = ["parse_capture", "run_step", "run_steps"]


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
    outcome = _run_attempts(step, variables, ctx)
    run_level = outcome.failure_kind is not None and outcome.failure_kind.run_level
    if step.allow_failure and not outcome.ok and outcome.status != o.INTERRUPTED and not run_level:
        # allow_failure: the failure is recorded (${name.success} is false) but the workflow goes on.
        return dataclasses.replace(outcome, status=o.SUCCEEDED, recovered=True,
                                   error=f"allowed failure: {outcome.error or outcome.status}")
    return outcome


def _run_attempts(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.StepOutcome:
    updates: dict[str, Any] = {}
    if step.analysis is not None:
        from prodigy.execution.steps.analyze import refresh

        updates.update(refresh(step.analysis, ctx))
    head_before = git.head(ctx.run_dir) if step.commit_required else None
    attempts = step.on_failure.max_attempts if step.on_failure else 1
    total = 0.0
    for attempt in range(1, attempts + 1):
        if attempt > 1 and ctx.progress is not None:
            ctx.progress.clear()  # a retry of the whole step starts its loops afresh
        command = _command(step, ChainMap(updates, variables), ctx)
        total += command.duration
        updates.update(captures.output_variables(step, command))
        if command.ok:
            command = _check_commit(step, command, head_before, ctx)
        if command.ok and step.outputs:
            command = _outputs(step, command, updates, ctx)
        if command.ok and step.validate is not None:
            from prodigy.execution.validation import run_validation

            checked = run_validation(step, ChainMap(updates, variables), ctx)
            updates.update(checked.variables)
            total += checked.duration
            if not checked.ok:
                command = dataclasses.replace(command, status=checked.status, error=checked.error)
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


def _nested(ctx: StepContext) -> StepContext:
    """Handlers and a step's own loops run their steps without the step's progress record."""
    return ctx if ctx.progress is None else dataclasses.replace(ctx, progress=None)


def _command(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.CommandOutcome:
    """The step's own command: step retry, the output file, and its git changes as ${step.*}."""
    done = ctx.progress.get("command") if ctx.progress is not None else None
    if done is not None:  # the command finished before an interruption: its validation loop goes on
        return o.CommandOutcome(status=o.SUCCEEDED, exit_code=done.get("exit_code"), stdout=done.get("stdout", ""),
                                variables=gitvars.revive(dict(done.get("variables") or {})))
    before = git_context.snapshot(ctx.run_dir) if ctx.git_context else None
    kind = REGISTRY[step.kind]
    command = step_retry.run_with_retry(
        step.retry, lambda: kind(step, variables, ctx),
        lambda fallback: REGISTRY["shell"](Step(kind="shell", command=fallback), variables, ctx),
        ctx.stop_event.is_set, ctx.stop_event.wait)
    if command.ok and step.output_file:
        command = _write_output_file(step, command, variables, ctx)
    if before is not None:
        changes = git_context.changes_since(ctx.run_dir, before)
        extra = {**gitvars.step_variables(changes), **gitvars.merged_workflow(variables, changes)}
        command = dataclasses.replace(command, variables={**command.variables, **extra})
    if command.ok and step.validate is not None and ctx.progress is not None:
        ctx.progress.put("command", {"exit_code": command.exit_code, "stdout": command.stdout[-8000:],
                                     "variables": _plain(command.variables)})
    return command


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list) else v for k, v in values.items()}


def _write_output_file(step: Step, command: o.CommandOutcome, variables: Mapping[str, Any],
                       ctx: StepContext) -> o.CommandOutcome:
    """output_file: the command's stdout is written to this file (relative to the working directory)."""
    from prodigy.execution.steps.common import StepSetupError, working_dir

    try:
        target = working_dir(step, variables, ctx) / render(step.output_file or "", variables)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(command.stdout, encoding="utf-8")
    except (OSError, StepSetupError) as exc:
        return dataclasses.replace(command, status=o.FAILED, error=f"output_file: {exc}")
    return command


def _outputs(step: Step, command: o.CommandOutcome, updates: dict[str, Any], ctx: StepContext) -> o.CommandOutcome:
    """outputs: {name: {file_pattern}}: the newest file the step added or modified that matches the pattern
    becomes ${<id>.<name>}. A pattern that matches nothing fails the step (a later step would otherwise get an
    empty path)."""
    touched = [*updates.get("step.files_added", ()), *updates.get("step.files_modified", ())]
    for name, pattern in step.outputs:
        found = git_context.newest(ctx.run_dir, list_modifiers.matching(list(touched), pattern))
        if found is None:
            return dataclasses.replace(command, status=o.FAILED, error=(
                f"outputs.{name}: the step created or modified no file matching {pattern!r}"
                + ("" if ctx.git_context else " (not a git repository: changes cannot be seen)")))
        updates[f"{step.id}.{name}"] = found
    return command


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


def _check_commit(step: Step, command: o.CommandOutcome, head_before: str | None,
                  ctx: StepContext) -> o.CommandOutcome:
    problem = captures.capture_problem(step, command)
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


def _after_success(step: Step, command: o.CommandOutcome, variables: Mapping[str, Any],
                   ctx: StepContext) -> o.StepOutcome:
    steps = tuple(step.on_success) + (_exit_code_handler(step, command) or ())
    if not steps:
        return o.StepOutcome(status=o.SUCCEEDED)
    return run_steps(steps, variables, _nested(ctx))


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
    return run_steps(handler_steps, ChainMap(error_vars, variables), _nested(ctx))
