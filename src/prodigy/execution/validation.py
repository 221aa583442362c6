"""`validate:` on a step (book/src/advanced/implementation-validation.md): after the step's command succeeds, run
the validation command(s), read the completion percentage (JSON on stdout or in result_file), and while it is
below the threshold run `on_incomplete` and validate again, up to max_attempts. ${validation.*} holds the last
result. Every round is recorded in the step's progress, so a resume continues the loop where it stopped."""

from __future__ import annotations

import json
import time
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution.context import StepContext
from prodigy.workflow.interpolate import render
from prodigy.workflow.model import Step, Validation


@dataclass(frozen=True)
class Result:
    completion: float
    status: str  # complete | incomplete | failed | skipped
    implemented: list[Any] = field(default_factory=list)
    missing: list[Any] = field(default_factory=list)
    gaps: Any = field(default_factory=dict)
    message: str = ""

    def variables(self, attempt: int, threshold: float) -> dict[str, Any]:
        return {"validation.completion": self.completion, "validation.completion_percentage": self.completion,
                "validation.status": self.status, "validation.implemented": self.implemented,
                "validation.missing": self.missing, "validation.missing_count": len(self.missing),
                "validation.gaps": self.gaps, "validation.message": self.message,
                "validation.attempt": attempt, "validation.threshold": threshold}

    def to_record(self) -> dict[str, Any]:
        return {"completion": self.completion, "status": self.status, "implemented": self.implemented,
                "missing": self.missing, "gaps": self.gaps, "message": self.message}


def parse_result(text: str, succeeded: bool) -> Result:
    """The ValidationResult JSON; output that is not JSON counts as complete when the command succeeded (the
    original's behaviour: `validate: {shell: cargo test}` passes when the tests pass)."""
    try:
        data = json.loads(text.strip() or "null", strict=False)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if succeeded:
            return Result(100.0, "complete", message="the validation command succeeded (its output is not JSON)")
        return Result(0.0, "failed", message="the validation command failed")
    raw = data.get("completion_percentage", data.get("completion", data.get("score")))
    try:
        completion = float(raw) if raw is not None else (100.0 if data.get("status") == "complete" else 0.0)
    except (TypeError, ValueError):
        completion = 0.0
    missing = data.get("missing") or []
    return Result(max(0.0, min(completion, 100.0)), str(data.get("status") or ("complete" if completion >= 100
                                                                               else "incomplete")),
                  implemented=list(data.get("implemented") or []),
                  missing=list(missing) if isinstance(missing, list) else [missing],
                  gaps=data.get("gaps") if data.get("gaps") is not None else {}, message=str(data.get("message", "")))


def run_validation(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.StepOutcome:
    spec = step.validate
    assert spec is not None
    progress = ctx.progress
    started = time.monotonic()
    rounds: list[dict[str, Any]] = list(progress.get("validate.rounds", [])) if progress is not None else []
    max_attempts = spec.on_incomplete.max_attempts if spec.on_incomplete else 0
    updates: dict[str, Any] = {}

    def keep() -> None:
        if progress is not None:
            progress.put("validate.rounds", rounds)

    while True:
        attempt = len(rounds)  # remediation attempts made so far
        last = rounds[-1] if rounds else None
        if last is None or last.get("remediated"):
            result = _validate(spec, ChainMap(updates, variables), ctx)
            if isinstance(result, o.StepOutcome):
                return replace(result, variables=updates, duration=time.monotonic() - started)
            rounds.append({"result": result.to_record()})
            keep()
            last = rounds[-1]
        result = Result(**last["result"])
        updates.update(result.variables(attempt, spec.threshold))
        if result.completion >= spec.threshold:
            return o.StepOutcome(status=o.SUCCEEDED, variables=updates, duration=time.monotonic() - started)
        if spec.on_incomplete is None or attempt >= max_attempts:
            return _incomplete(spec, result, attempt, updates, started)
        fix = _remediate(spec, ChainMap(updates, variables), ctx)
        updates.update(fix.variables)
        if not fix.ok:
            if fix.status == o.INTERRUPTED:
                return replace(fix, variables=updates)
            return o.StepOutcome(status=o.FAILED, variables=updates, duration=time.monotonic() - started,
                                 error=f"validation incomplete ({result.completion:g}% < {spec.threshold:g}%) and "
                                       f"on_incomplete attempt {attempt + 1} failed: {fix.error}")
        last["remediated"] = True
        keep()


def _incomplete(spec: Validation, result: Result, attempts: int, updates: dict[str, Any],
                started: float) -> o.StepOutcome:
    fail = spec.on_incomplete.fail_workflow if spec.on_incomplete else True
    note = f"; {spec.on_incomplete.prompt}" if spec.on_incomplete and spec.on_incomplete.prompt else ""
    tried = f" after {attempts} on_incomplete attempt(s)" if spec.on_incomplete else ""
    message = (f"validation incomplete{tried}: {result.completion:g}% < threshold {spec.threshold:g}%"
               + (f" (missing: {', '.join(map(str, result.missing[:5]))})" if result.missing else "") + note)
    if not fail:
        return o.StepOutcome(status=o.SUCCEEDED, recovered=True, error=message, variables=updates,
                             duration=time.monotonic() - started)
    return o.StepOutcome(status=o.FAILED, error=message, variables=updates, duration=time.monotonic() - started)


def _validate(spec: Validation, variables: Mapping[str, Any], ctx: StepContext) -> Result | o.StepOutcome:
    from prodigy.execution.runner import run_steps  # claude validators go through the claude step kind

    vctx = replace(ctx, deadline=time.monotonic() + spec.timeout) if spec.timeout else ctx
    outcome = run_steps(spec.steps, variables, replace(vctx, label=f"{ctx.label}-validate", progress=None))
    if outcome.status == o.INTERRUPTED:
        return outcome
    if not outcome.ok:
        return Result(0.0, "failed", message=f"the validation command failed: {outcome.error}")
    if spec.result_file:
        path = Path(render(spec.result_file, variables))
        path = path if path.is_absolute() else ctx.run_dir / path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            return Result(0.0, "failed", message=f"cannot read result_file {path}: {exc.strerror or exc}")
        return parse_result(text, succeeded=True) if text.strip().startswith("{") else \
            Result(0.0, "failed", message=f"result_file {path} is not a JSON object")
    last = spec.steps[-1] if spec.steps else None
    text = outcome.variables.get(f"{last.kind}.output", outcome.stdout) if last else ""
    return parse_result(str(text), succeeded=True)


def _remediate(spec: Validation, variables: Mapping[str, Any], ctx: StepContext) -> o.StepOutcome:
    from prodigy.execution.runner import run_steps

    handler = spec.on_incomplete
    assert handler is not None
    steps = handler.steps
    if handler.commit_required:
        steps = tuple(replace(s, commit_required=True) for s in steps)
    return run_steps(steps, variables, replace(ctx, label=f"{ctx.label}-on_incomplete", progress=None))
