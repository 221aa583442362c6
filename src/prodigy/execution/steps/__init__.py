"""Step kinds: a registry of small modules behind one signature, run(step, variables, ctx) -> CommandOutcome."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prodigy.execution.context import StepContext
from prodigy.execution.outcome import CommandOutcome
from prodigy.execution.steps import claude, shell, write_file
from prodigy.workflow.model import Step

StepKind = Callable[[Step, Mapping[str, Any], StepContext], CommandOutcome]

REGISTRY: dict[str, StepKind] = {
    "shell": shell.run,
    "claude": claude.run,
    "write_file": write_file.run,
}
