"""Helpers shared by the step kinds: working directory, environment, turning a process result into an outcome."""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution.context import StepContext
from prodigy.execution.process import ProcessResult
from prodigy.workflow.interpolate import evaluate, references, render, to_text
from prodigy.workflow.model import Step


def claude_binary() -> str:
    """The agent CLI to run for claude: steps (here, not in steps.claude, so a run without them never loads it)."""
    return os.environ.get("PRODIGY_CLAUDE_BIN") or "claude"


def item_prefix(ctx: StepContext) -> str:
    """`item_3: ` in the map phase, so an error names the item whose data caused it."""
    return f"{ctx.label}: " if ctx.label.startswith("item_") else ""


class StepSetupError(Exception):
    """The step cannot start (bad working_dir, template error). Turned into an ERRORED outcome."""


def working_dir(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> Path:
    if not step.working_dir:
        return ctx.run_dir
    missing = [f"${{{ref.name}}}" for ref in references(step.working_dir) if ref.braced
               and not evaluate(ref, variables)[0]]
    if missing:
        raise StepSetupError(f"working_dir {step.working_dir!r}: {', '.join(missing)} is not set "
                             "(no workflow variable or environment variable of that name)")
    text = render(step.working_dir, variables)
    from_item = [ref.name for ref in references(step.working_dir) if ref.root in ITEM_ROOTS and not ref.raw]
    path = Path(text) if from_item else Path(text).expanduser()
    path = path if path.is_absolute() else ctx.run_dir / path
    if from_item:
        # Item data may choose a folder inside the worktree (as write_file paths), never one outside it.
        root = ctx.run_dir.resolve()
        if not path.resolve().is_relative_to(root):
            raise StepSetupError(
                f"working_dir {step.working_dir!r} is {text!r}, outside the worktree {root}: a path built from "
                f"item data (${{{from_item[0]}}}) must stay inside it. If the workflow means such a path, write "
                f"${{{from_item[0]}|raw}}.")
    if not path.is_dir():
        raise StepSetupError(f"working_dir does not exist: {path}")
    return path


ITEM_ROOTS = frozenset({"item", "item_json", "map"})  # data from the work list or its results


KEPT_BY_CLEAR_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "TERM", "SHELL")


def command_env(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> dict[str, str]:
    if step.clear_env:
        env = {k: v for k, v in ctx.process_env.items() if k in KEPT_BY_CLEAR_ENV or k.startswith("PRODIGY_")}
    else:
        env = dict(ctx.process_env)
    for key, value in step.env:
        env[key] = render(value, variables)
    return env


def visible_variables(step: Step, variables: Mapping[str, Any], env: dict[str, str],
                      ctx: StepContext) -> Mapping[str, Any]:
    """The variables a step's command is rendered with. With clear_env, the workflow env values the step's
    environment no longer has are hidden from `$NAME`/`${NAME}` too (they are variables as well as env vars),
    and `${env.NAME}` reads the cleared environment."""
    if not step.clear_env:
        return variables
    hidden = {key for key, value in ctx.process_env.items()
              if key not in env and key in variables and to_text(variables[key]) == value}
    return ChainMap({"env": env}, _Without(variables, frozenset(hidden)))


class _Without(Mapping[str, Any]):
    def __init__(self, base: Mapping[str, Any], hidden: frozenset[str]) -> None:
        self._base, self._hidden = base, hidden

    def __getitem__(self, key: str) -> Any:
        if key in self._hidden:
            raise KeyError(key)
        return self._base[key]

    def __iter__(self) -> Iterator[str]:
        return (key for key in self._base if key not in self._hidden)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def from_process(result: ProcessResult, ctx: StepContext, *, what: str, log_path: str | None = None,
                 output: str | None = None) -> o.CommandOutcome:
    mask = ctx.masker  # secrets are masked at the source: nothing downstream ever sees them
    common = dict(exit_code=result.exit_code, stdout=mask(result.stdout), stderr=mask(result.stderr),
                  duration=result.duration, log_path=log_path, output=None if output is None else mask(output))
    if result.start_error:
        return o.CommandOutcome(status=o.ERRORED, error=mask(result.start_error), **common)
    if result.interrupted:
        return o.CommandOutcome(status=o.INTERRUPTED, error="interrupted", **common)
    if result.timed_out:
        return o.CommandOutcome(status=o.TIMED_OUT, error=f"{what} timed out after {result.duration:.1f}s", **common)
    if result.exit_code == 0:
        return o.CommandOutcome(status=o.SUCCEEDED, **common)
    if result.exit_code is None:
        sig = result.signal
        return o.CommandOutcome(status=o.FAILED, error=f"{what} was killed by signal {sig}", **common)
    return o.CommandOutcome(status=o.FAILED, error=f"{what} exited with code {result.exit_code}", **common)


def shell_path() -> str:
    return "/bin/sh" if os.path.exists("/bin/sh") else "sh"
