"""The loader's MapReduce phases (setup with its captured outputs, map, reduce), the error policy and
the merge phase."""

from __future__ import annotations

import re
from typing import Any

from prodigy.workflow import model as m
from prodigy.workflow.load_common import (
    _IDENT,
    _VAR_REF,
    ERROR_POLICY_KEYS,
    MAP_KEYS,
    _bool,
    _Ctx,
    _join,
    _positive_int,
    _string,
    _timeout,
    parse_duration,
)
from prodigy.workflow.load_steps import _phase_steps, _steps
from prodigy.workflow.yamlsrc import LineDict, line_of


def _setup(value: Any, ctx: _Ctx, line: int | None) -> m.SetupPhase | None:
    if isinstance(value, list):
        return m.SetupPhase(steps=_steps(value, ctx, "setup", line))
    if not isinstance(value, dict):
        ctx.error(line, "setup", "expected a list of steps or {commands, timeout, capture_outputs}")
        return None
    data = value if isinstance(value, LineDict) else LineDict(value)
    ctx.unknown_keys(data, {"commands", "timeout", "capture_outputs"}, "setup")
    steps = _steps(data.get("commands"), ctx, "setup.commands", line_of(data, "commands"))
    timeout = _timeout(data, "timeout", ctx, "setup")
    captures = _captures(data.get("capture_outputs"), ctx, line_of(data, "capture_outputs"), len(steps))
    return m.SetupPhase(steps=steps, timeout=timeout if isinstance(timeout, float) else None, captures=captures)


_CAPTURE_KEYS = {"command_index", "source", "json_path", "pattern", "default", "multiline", "max_size"}


def _captures(value: Any, ctx: _Ctx, line: int | None, step_count: int) -> tuple[tuple[str, m.CaptureSpec], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        ctx.error(line, "setup.capture_outputs", "expected a mapping of NAME: command index or {command_index, ...}")
        return ()
    result = []
    for name, spec in value.items():
        here = f"setup.capture_outputs.{name}"
        spec_line = line_of(value, name)
        if not isinstance(name, str) or not _IDENT.match(name):
            ctx.error(spec_line, here, "a capture name must be a variable name")
            continue
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec = LineDict({"command_index": spec})
        if not isinstance(spec, dict):
            ctx.error(spec_line, here, "expected a command index or {command_index, source, json_path, pattern, default}")
            continue
        spec = spec if isinstance(spec, LineDict) else LineDict(spec)
        ctx.unknown_keys(spec, _CAPTURE_KEYS, here)
        index = spec.get("command_index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < max(step_count, 1):
            ctx.error(spec_line, f"{here}.command_index",
                      f"expected the index of a setup command (0-{max(step_count - 1, 0)}), got {index!r}")
            continue
        source = spec.get("source", "stdout")
        if source not in ("stdout", "stderr", "both", "combined"):
            ctx.error(spec_line, f"{here}.source", f"expected stdout, stderr, both or combined, got {source!r}")
            source = "stdout"
        multiline = spec.get("multiline", "preserve")
        if multiline not in ("preserve", "join", "first_line", "last_line", "array"):
            ctx.error(spec_line, f"{here}.multiline", f"unknown multiline mode {multiline!r}")
            multiline = "preserve"
        pattern = spec.get("pattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                ctx.error(spec_line, f"{here}.pattern", f"invalid regular expression: {exc}")
        default = spec.get("default")
        max_size = _positive_int(spec, "max_size", ctx, here)
        result.append((name, m.CaptureSpec(
            command_index=index, source=source, json_path=spec.get("json_path"),
            pattern=None if pattern is None else str(pattern),
            default=None if default is None else str(default), multiline=multiline, max_size=max_size)))
    return tuple(result)


def _map(value: Any, ctx: _Ctx, line: int | None) -> m.MapPhase | None:
    if value is None:
        ctx.error(None, "map", "a MapReduce workflow needs a `map:` phase with `input:` and `agent_template:`")
        return None
    if not isinstance(value, dict):
        ctx.error(line, "map", "expected a mapping with input and agent_template")
        return None
    data = value if isinstance(value, LineDict) else LineDict(value)
    ctx.unknown_keys(data, MAP_KEYS, "map")
    source = data.get("input")
    if not isinstance(source, str) or not source.strip():
        ctx.error(line_of(data, "input") or data.line, "map.input",
                  "expected a JSON file path or a shell command that prints the work items")
        source = ""
    template = _phase_steps(data.get("agent_template"), ctx, "map.agent_template", line_of(data, "agent_template"))
    if "agent_template" not in data:
        ctx.error(data.line, "map.agent_template", "a map phase needs `agent_template:` (the steps run per item)")
    max_parallel = _max_parallel(data, ctx)
    timeout: float | str | None = _timeout(data, "agent_timeout_secs", ctx, "map")
    timeout_config = data.get("timeout_config")
    if timeout_config is not None:
        if not isinstance(timeout_config, dict):
            ctx.error(line_of(data, "timeout_config"), "map.timeout_config", "expected a mapping")
        else:
            tc = timeout_config if isinstance(timeout_config, LineDict) else LineDict(timeout_config)
            ctx.unknown_keys(tc, {"agent_timeout_secs"}, "map.timeout_config")
            if timeout is None:
                timeout = _timeout(tc, "agent_timeout_secs", ctx, "map.timeout_config")
    json_path = _string(data, "json_path", ctx, "map")
    distinct = _string(data, "distinct", ctx, "map")
    _check_expression(data, "filter", ctx, "parse")
    _check_expression(data, "sort_by", ctx, "parse_sort")
    return m.MapPhase(
        input=source,
        agent_template=template,
        json_path=json_path or None,
        filter=_string(data, "filter", ctx, "map"),
        sort_by=_string(data, "sort_by", ctx, "map"),
        offset=_positive_int(data, "offset", ctx, "map", allow_zero=True) or 0,
        max_items=_positive_int(data, "max_items", ctx, "map", allow_zero=True),
        distinct=distinct,
        max_parallel=max_parallel,
        agent_timeout_secs=timeout,
    )


def _check_expression(data: dict, key: str, ctx: _Ctx, parser: str) -> None:
    text = data.get(key)
    if isinstance(text, str):
        from prodigy.workflow import expr  # only for workflows that use expressions

        try:
            getattr(expr, parser)(text, kind=key)
        except expr.ExprError as exc:
            ctx.error(line_of(data, key), f"map.{key}", str(exc))


def _max_parallel(data: dict, ctx: _Ctx) -> int | str:
    value = data.get("max_parallel", 10)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str):
        if value.strip().isdigit() and int(value) >= 1:
            return int(value)
        if _VAR_REF.match(value.strip()):
            return value.strip()
    ctx.error(line_of(data, "max_parallel"), "map.max_parallel",
              f"expected a positive integer or a variable like ${{MAX_PARALLEL}}, got {value!r}")
    return 1


def _error_policy(data: dict, ctx: _Ctx) -> m.ErrorPolicy:
    policy: dict[str, Any] = {}
    block = data.get("error_policy")
    sources: list[tuple[dict, str]] = [(data, "")]
    if block is not None:
        if isinstance(block, dict):
            block = block if isinstance(block, LineDict) else LineDict(block)
            ctx.unknown_keys(block, ERROR_POLICY_KEYS, "error_policy")
            sources.insert(0, (block, "error_policy"))
        else:
            ctx.error(line_of(data, "error_policy"), "error_policy", "expected a mapping")
    for source, where in sources:
        if "on_item_failure" in source and "on_item_failure" not in policy:
            value = source["on_item_failure"]
            if value not in ("dlq", "skip", "stop"):
                ctx.error(line_of(source, "on_item_failure"), _join(where, "on_item_failure"),
                          f"expected dlq, skip or stop, got {value!r}")
            else:
                policy["on_item_failure"] = value
        if "continue_on_failure" in source and "on_item_failure" not in policy:
            policy["on_item_failure"] = "dlq" if _bool(source, "continue_on_failure", ctx, where) else "stop"
        if "max_failures" in source and "max_failures" not in policy:
            policy["max_failures"] = _positive_int(source, "max_failures", ctx, where, allow_zero=True)
        if "failure_threshold" in source and "failure_threshold" not in policy:
            value = source["failure_threshold"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                ctx.error(line_of(source, "failure_threshold"), _join(where, "failure_threshold"),
                          f"expected a fraction between 0 and 1, got {value!r}")
            else:
                policy["failure_threshold"] = float(value)
        if "error_collection" in source and "error_collection" not in policy:
            policy.update(_error_collection(source, ctx, where))
        for key in ("retry", "retry_config"):
            if key in source and "retry_attempts" not in policy:
                policy.update(_retry(source[key], ctx, _join(where, key), line_of(source, key)))
    return m.ErrorPolicy(**policy)


def _error_collection(source: dict, ctx: _Ctx, where: str) -> dict[str, Any]:
    """aggregate | immediate | batched:N | {batched: {size: N}} (book/src/mapreduce/error-collection-strategies.md)."""
    value = source["error_collection"]
    if value in ("aggregate", "immediate"):
        return {"error_collection": value}
    size: Any = None
    if isinstance(value, str) and value.startswith("batched"):
        size = value.partition(":")[2].strip()
        size = int(size) if size.isdigit() else None
    elif isinstance(value, dict) and isinstance(value.get("batched"), dict):
        size = value["batched"].get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
        return {"error_collection": "batched", "error_batch": size}
    ctx.error(line_of(source, "error_collection"), _join(where, "error_collection"),
              f"expected aggregate, immediate, batched:N or {{batched: {{size: N}}}}, got {value!r}")
    return {}


def _retry(value: Any, ctx: _Ctx, where: str, line: int | None) -> dict[str, Any]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return {"retry_attempts": value}
    if not isinstance(value, dict):
        ctx.error(line, where, "expected {attempts: N, backoff: '2s'}")
        return {}
    value = value if isinstance(value, LineDict) else LineDict(value)
    ctx.unknown_keys(value, {"attempts", "max_attempts", "backoff", "initial_delay"}, where)
    key = "attempts" if "attempts" in value else "max_attempts"
    attempts = _positive_int(value, key, ctx, where) or 1
    result: dict[str, Any] = {"retry_attempts": attempts}
    for delay_key in ("backoff", "initial_delay"):
        if delay_key in value:
            delay = value[delay_key]
            seconds = 0.0 if delay in (0, "0") else parse_duration(delay)
            if seconds is None:
                ctx.error(line_of(value, delay_key), _join(where, delay_key),
                          f"expected a duration like '2s', got {delay!r}")
            else:
                result["retry_backoff"] = seconds
    return result


def _merge(value: Any, ctx: _Ctx, line: int | None) -> m.MergePhase | None:
    if value is None:
        return None
    if isinstance(value, list):
        return m.MergePhase(steps=_steps(value, ctx, "merge", line))
    if isinstance(value, dict):
        data = value if isinstance(value, LineDict) else LineDict(value)
        ctx.unknown_keys(data, {"commands", "timeout"}, "merge")
        steps = _steps(data.get("commands"), ctx, "merge.commands", line_of(data, "commands"))
        timeout = _timeout(data, "timeout", ctx, "merge")
        return m.MergePhase(steps=steps, timeout=timeout if isinstance(timeout, float) else None)
    ctx.error(line, "merge", "expected a list of steps or {commands, timeout}")
    return None
