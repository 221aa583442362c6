"""`claude:` steps: the prompt rendered, then one agent call (execution/agents). The outcome comes from the
CLI's final `result` event, `${claude.output}` is the agent's answer, and the full stream is the agent log."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution.agents.invocation import agent_env, preflight
from prodigy.execution.agents.run import run_agent
from prodigy.execution.context import StepContext
from prodigy.execution.steps.common import (
    StepSetupError,
    claude_binary,
    command_env,
    visible_variables,
    working_dir,
)
from prodigy.workflow.interpolate import InterpolationError, render, unresolved
from prodigy.workflow.model import Step, Workflow


def require_claude(workflow: Workflow | None = None) -> str:
    """Before the first step of a workflow with claude steps: the agent CLI is there and will run."""
    import os

    return preflight(claude_binary(), os.environ, workflow.env_dict() if workflow else None).path


def run(step: Step, variables: Mapping[str, Any], ctx: StepContext) -> o.CommandOutcome:
    try:
        cwd = working_dir(step, variables, ctx)
        env = command_env(step, variables, ctx)
        scope = ChainMap(visible_variables(step, variables, env, ctx), env)  # ${HOME}: the environment's
        prompt = render(step.command, scope)
        missing = unresolved(step.command, scope)
    except (InterpolationError, StepSetupError) as exc:
        return o.CommandOutcome(status=o.ERRORED, error=ctx.masker(str(exc)))
    if missing:  # never send an agent a literal ${...}
        return o.CommandOutcome(status=o.ERRORED, error=ctx.masker(
            f"the prompt refers to {', '.join(dict.fromkeys(missing))}, which has no value here; the agent was not "
            "started (check the name, or run `prodigy validate` on the workflow)"))
    env = agent_env(env, ctx.process_env, cleared=step.clear_env, step_env=step.env)
    timeout = step.timeout if isinstance(step.timeout, float) else None
    return run_agent(prompt, cwd=cwd, env=env, ctx=ctx, options=step.agent, timeout=timeout, step=step)
