"""Step kinds: a registry of small modules behind one signature, run(step, variables, ctx) -> CommandOutcome.

A kind's module is imported the first time a step of that kind runs (a workflow of shell: steps never loads the
agent or write_file code)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prodigy.execution.context import StepContext
    from prodigy.execution.outcome import CommandOutcome
    from prodigy.workflow.model import Step

StepKind = Callable[["Step", Mapping[str, Any], "StepContext"], "CommandOutcome"]

KINDS = ("shell", "claude", "write_file", "foreach", "analyze")  # each is the module prodigy.execution.steps.<kind>, with run()


class _Registry(dict[str, StepKind]):
    def __missing__(self, kind: str) -> StepKind:
        if kind not in KINDS:
            raise KeyError(kind)
        run: StepKind = importlib.import_module(f"{__name__}.{kind}").run
        self[kind] = run  # racing threads store the same function
        return run


REGISTRY: dict[str, StepKind] = _Registry()
