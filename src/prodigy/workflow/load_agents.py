"""The loader's agent settings: a claude step's CLI options (model, max_turns, max_budget_usd, allowed_tools)
and resume_agent, and the workflow's agent policy (max_cost_usd, agent_retry_pause, agent_outage_limit,
resume_agent)."""

from __future__ import annotations

from typing import Any

from prodigy.workflow import model as m
from prodigy.workflow.load_common import _bool, _Ctx, _join, _positive_int, _string, parse_duration
from prodigy.workflow.yamlsrc import line_of

STEP_AGENT_KEYS = ("model", "max_turns", "max_budget_usd", "allowed_tools", "resume_agent")


def agent_options(data: dict, kind: str, ctx: _Ctx, where: str) -> m.AgentOptions | None:
    present = [key for key in STEP_AGENT_KEYS if key in data]
    if not present:
        return None
    if kind != "claude":
        for key in present:
            ctx.error(line_of(data, key), _join(where, key), f"'{key}' applies to claude steps only")
        return None
    return m.AgentOptions(
        model=_string(data, "model", ctx, where),
        max_turns=_positive_int(data, "max_turns", ctx, where),
        max_budget_usd=_money(data, "max_budget_usd", ctx, where),
        allowed_tools=_tools(data, ctx, where),
        resume=_bool(data, "resume_agent", ctx, where) if "resume_agent" in data else None,
    )


def agent_policy(data: dict, ctx: _Ctx) -> m.AgentPolicy:
    defaults = m.AgentPolicy()
    return m.AgentPolicy(
        max_cost_usd=_money(data, "max_cost_usd", ctx, ""),
        retry_pause=_duration(data, "agent_retry_pause", ctx, defaults.retry_pause),
        outage_limit=_duration(data, "agent_outage_limit", ctx, defaults.outage_limit),
        resume=_bool(data, "resume_agent", ctx, "", default=True),
    )


def _money(data: dict, key: str, ctx: _Ctx, where: str) -> float | None:
    if key not in data or data[key] is None:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        ctx.error(line_of(data, key), _join(where, key), f"expected a positive amount in US dollars, got {value!r}")
        return None
    return float(value)


def _duration(data: dict, key: str, ctx: _Ctx, default: float) -> float:
    if key not in data or data[key] is None:
        return default
    seconds = parse_duration(data[key])
    if seconds is None:
        ctx.error(line_of(data, key), key, f"expected a duration like '30s', '5m', got {data[key]!r}")
        return default
    return seconds


def _tools(data: dict, ctx: _Ctx, where: str) -> tuple[str, ...]:
    value: Any = data.get("allowed_tools")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    ctx.error(line_of(data, "allowed_tools"), _join(where, "allowed_tools"),
              "expected a list of tool names, e.g. [Read, Edit, \"Bash(git *)\"]")
    return ()
