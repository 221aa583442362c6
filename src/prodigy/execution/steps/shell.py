"""`shell:` steps: the interpolated script runs as `sh -c` in the run directory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution import process
from prodigy.execution.context import StepContext
from prodigy.execution.steps.common import StepSetupError, command_env, from_process, shell_path, working_dir
from prodigy.workflow.interpolate import InterpolationError, render_shell
from prodigy.workflow.model import Step


def run(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.CommandOutcome:
    try:
        script = render_shell(step.command, variables)
        cwd = working_dir(step, variables, ctx)
        env = command_env(step, variables, ctx)
    except (InterpolationError, StepSetupError) as exc:
        return o.CommandOutcome(status=o.ERRORED, error=ctx.masker(str(exc)))
    on_line = None
    if ctx.on_line is not None:
        stream = ctx.on_line

        def on_line(kind: str, line: str) -> None:
            stream(ctx.label, kind, ctx.masker(line))

    result = process.run(
        [shell_path(), "-c", script], cwd=cwd, env=env, timeout=ctx.timeout_for(_seconds(step)),
        on_start=ctx.on_start, on_line=on_line, stop_event=ctx.stop_event, output_cap=ctx.output_cap,
    )
    return from_process(result, ctx, what="shell command")


def _seconds(step: Step) -> float | None:
    return step.timeout if isinstance(step.timeout, float) else None
