"""`shell:` steps: the interpolated script runs as `sh -c` in the run directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution import process
from prodigy.execution.context import StepContext
from prodigy.execution.steps.common import (
    StepSetupError,
    command_env,
    from_process,
    item_prefix,
    shell_path,
    visible_variables,
    working_dir,
)
from prodigy.workflow.interpolate import InterpolationError, SecretEnv, render_shell
from prodigy.workflow.model import Step


def run(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.CommandOutcome:
    try:
        cwd = working_dir(step, variables, ctx)
        env = command_env(step, variables, ctx)
        secrets = SecretEnv(ctx.masker.holds_secret)  # secrets reach the script through env, not its argv
        script = render_shell(step.command, visible_variables(step, variables, env, ctx), secrets=secrets)
        env.update(secrets.env)
    except (InterpolationError, StepSetupError) as exc:
        return o.CommandOutcome(status=o.ERRORED, error=ctx.masker(f"{item_prefix(ctx)}{exc}"))
    on_line = None
    if ctx.on_line is not None:
        stream = ctx.on_line

        def on_line(kind: str, line: str) -> None:
            stream(ctx.label, kind, ctx.masker(line))

    with _script_argv(script) as argv:
        result = process.run(
            argv, cwd=cwd, env=env, timeout=ctx.timeout_for(_seconds(step)),
            on_start=ctx.on_start, on_line=on_line, stop_event=ctx.stop_event, output_cap=ctx.output_cap,
        )
    return from_process(result, ctx, what="shell command")


# Linux refuses any single argv string over 128 KiB (MAX_ARG_STRLEN); a script with a big captured value
# interpolated into it goes through a temporary file instead.
_ARG_LIMIT = 100_000


@contextmanager
def _script_argv(script: str) -> Iterator[list[str]]:
    data = script.encode("utf-8", "surrogateescape")
    if len(data) <= _ARG_LIMIT:
        yield [shell_path(), "-c", script]
        return
    fd, path = tempfile.mkstemp(prefix="prodigy-step-", suffix=".sh")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield [shell_path(), path]
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _seconds(step: Step) -> float | None:
    return step.timeout if isinstance(step.timeout, float) else None
