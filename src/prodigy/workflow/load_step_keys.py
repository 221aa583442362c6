"""The loader's richer step keys: capture_streams, step retry, validate (with on_incomplete), foreach, analyze
and analysis, id/outputs, and the legacy structured step form. Each reader reports problems and returns None
(or a default) instead of raising."""

from __future__ import annotations

import re
from typing import Any

from prodigy.workflow import model as m
from prodigy.workflow.load_common import _bool, _Ctx, _join, _kind, _positive_int, _string, parse_duration
from prodigy.workflow.yamlsrc import LineDict, line_of

_STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_CAPTURE_TARGET = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*$")


def _ld(value: dict) -> LineDict:
    return value if isinstance(value, LineDict) else LineDict(value)


def step_id(data: dict, ctx: _Ctx, where: str) -> str | None:
    value = data.get("id")
    if value is None:
        return None
    if isinstance(value, str) and _STEP_ID.match(value):
        return value
    ctx.error(line_of(data, "id"), f"{where}.id", f"expected a step id (letters, digits, _ and -), got {value!r}")
    return None


def capture_target(data: dict, key: str, ctx: _Ctx, where: str) -> str | None:
    """A capture name: `result`, or a dotted target such as `build.log` (read back as ${build.log})."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) and _CAPTURE_TARGET.match(value):
        return value
    ctx.error(line_of(data, key), _join(where, key), f"expected a variable name, got {value!r}")
    return None


def capture_streams(data: dict, ctx: _Ctx, where: str) -> m.CaptureStreams | None:
    value = data.get("capture_streams")
    here = f"{where}.capture_streams"
    if value is None:
        return None
    if isinstance(value, str):  # the standard-workflow form: stdout | stderr | both
        shapes = {"stdout": m.CaptureStreams(), "stderr": m.CaptureStreams(stdout=False, stderr=True),
                  "both": m.CaptureStreams(stderr=True)}
        if value in shapes:
            return shapes[value]
        ctx.error(line_of(data, "capture_streams"), here, f"expected stdout, stderr, both or a mapping, got {value!r}")
        return None
    if not isinstance(value, dict):
        ctx.error(line_of(data, "capture_streams"), here, "expected stdout, stderr, both or a mapping")
        return None
    block = _ld(value)
    fields = ("stdout", "stderr", "exit_code", "success", "duration")
    ctx.unknown_keys(block, set(fields), here)
    defaults = m.CaptureStreams()
    return m.CaptureStreams(**{f: _bool(block, f, ctx, here, getattr(defaults, f)) for f in fields})


def _seconds(data: dict, key: str, ctx: _Ctx, where: str, default: float | None) -> float | None:
    if key not in data:
        return default
    value = data[key]
    seconds = 0.0 if value in (0, "0", "0s") else parse_duration(value)
    if seconds is None:
        ctx.error(line_of(data, key), _join(where, key), f"expected a duration like '1s' or a number, got {value!r}")
        return default
    return seconds


_RETRY_KEYS = {"attempts", "max_attempts", "backoff", "initial_delay", "max_delay", "jitter", "jitter_factor",
               "retry_on", "retry_budget", "on_failure"}
_MATCHERS = {"network", "timeout", "server_error", "rate_limit"}


def step_retry(data: dict, ctx: _Ctx, where: str) -> m.StepRetry | None:
    keys = [k for k in ("retry_config", "retry") if k in data]
    if not keys:
        return None
    if len(keys) > 1:
        ctx.error(line_of(data, "retry"), f"{where}.retry", "give retry or retry_config, not both")
    key = keys[0]
    here = f"{where}.{key}"
    value = data[key]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return m.StepRetry(attempts=value)
    if not isinstance(value, dict):
        ctx.error(line_of(data, key), here, "expected {attempts: N, backoff: ..., initial_delay: '1s', ...}")
        return None
    block = _ld(value)
    ctx.unknown_keys(block, _RETRY_KEYS, here)
    attempts = _positive_int(block, "attempts" if "attempts" in block else "max_attempts", ctx, here) or 3
    fields: dict[str, Any] = {"attempts": attempts}
    fields.update(_backoff(block.get("backoff", "exponential"), ctx, f"{here}.backoff", line_of(block, "backoff")))
    fields["initial_delay"] = _seconds(block, "initial_delay", ctx, here, 1.0)
    fields["max_delay"] = _seconds(block, "max_delay", ctx, here, 30.0)
    fields["retry_budget"] = _seconds(block, "retry_budget", ctx, here, None)
    fields["jitter"] = _bool(block, "jitter", ctx, here)
    factor = block.get("jitter_factor", 0.3)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 <= factor <= 1:
        ctx.error(line_of(block, "jitter_factor"), f"{here}.jitter_factor", f"expected 0.0-1.0, got {factor!r}")
    else:
        fields["jitter_factor"] = float(factor)
    fields["retry_on"] = _retry_on(block, ctx, here)
    fields.update(_exhausted(block.get("on_failure", "stop"), ctx, f"{here}.on_failure", line_of(block, "on_failure")))
    return m.StepRetry(**fields)


def _backoff(value: Any, ctx: _Ctx, where: str, line: int | None) -> dict[str, Any]:
    names = ("fixed", "linear", "exponential", "fibonacci", "custom")
    if isinstance(value, str) and value in names:
        return {"backoff": value}
    if isinstance(value, dict):
        block = _ld(value)
        kind = block.get("type")
        if kind is None and len(block) == 1 and next(iter(block)) in names:  # {linear: {increment: 1s}}
            kind, inner = next(iter(block.items()))
            block = _ld(inner if isinstance(inner, dict) else {})
        if kind in names:
            result: dict[str, Any] = {"backoff": kind}
            if "increment" in block:
                result["increment"] = _seconds(block, "increment", ctx, where, None)
            if "base" in block and isinstance(block["base"], (int, float)) and not isinstance(block["base"], bool):
                result["base"] = float(block["base"])
            if "delays" in block:
                delays = block["delays"]
                parsed = [parse_duration(d) for d in delays] if isinstance(delays, list) else [None]
                if any(d is None for d in parsed):
                    ctx.error(line, where, "delays must be a list of durations like ['1s', '5s']")
                else:
                    result["delays"] = tuple(d for d in parsed if d is not None)
            return result
    ctx.error(line, where, f"expected one of {', '.join(names)} (or {{type: linear, increment: '2s'}}), got {value!r}")
    return {}


def _retry_on(block: dict, ctx: _Ctx, where: str) -> tuple[str, ...]:
    value = block.get("retry_on")
    if value is None:
        return ()
    if not isinstance(value, list):
        ctx.error(line_of(block, "retry_on"), f"{where}.retry_on", "expected a list of matchers")
        return ()
    found: list[str] = []
    for entry in value:
        if isinstance(entry, str) and entry in _MATCHERS:
            found.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("pattern"), str):
            try:
                re.compile(entry["pattern"])
                found.append("re:" + entry["pattern"])
            except re.error as exc:
                ctx.error(line_of(block, "retry_on"), f"{where}.retry_on", f"invalid regular expression: {exc}")
        else:
            ctx.error(line_of(block, "retry_on"), f"{where}.retry_on",
                      f"expected network, timeout, server_error, rate_limit or {{pattern: regex}}, got {entry!r}")
    return tuple(found)


def _exhausted(value: Any, ctx: _Ctx, where: str, line: int | None) -> dict[str, Any]:
    if value in ("stop", "continue"):
        return {"on_exhausted": value}
    if isinstance(value, dict) and isinstance(value.get("fallback"), dict) and \
            isinstance(value["fallback"].get("command"), str):
        return {"on_exhausted": "fallback", "fallback": value["fallback"]["command"]}
    ctx.error(line, where, f"expected stop, continue or {{fallback: {{command: ...}}}}, got {value!r}")
    return {}


def outputs(data: dict, ctx: _Ctx, where: str) -> tuple[tuple[str, str], ...]:
    value = data.get("outputs")
    here = f"{where}.outputs"
    if value is None:
        return ()
    if not isinstance(value, dict):
        ctx.error(line_of(data, "outputs"), here, "expected a mapping of NAME: {file_pattern: GLOB}")
        return ()
    if "id" not in data:
        ctx.error(line_of(data, "outputs"), here, "outputs need an `id:` on the step (read as ${<id>.<name>})")
    found = []
    for name, spec in value.items():
        pattern = spec.get("file_pattern") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not _STEP_ID.match(name):
            ctx.error(line_of(value, name), f"{here}.{name}", "an output name must be a variable name")
        elif not isinstance(pattern, str) or not pattern.strip():
            ctx.error(line_of(value, name), f"{here}.{name}", "expected {file_pattern: GLOB}, e.g. {file_pattern: 'specs/*.md'}")
        else:
            ctx.unknown_keys(_ld(spec), {"file_pattern"}, f"{here}.{name}")
            found.append((name, pattern))
    return tuple(found)


def analyze_spec(value: Any, ctx: _Ctx, where: str, line: int | None) -> m.Analyze | None:
    if value is None or value is True:
        return m.Analyze()
    if not isinstance(value, dict):
        ctx.error(line, where, "expected {max_cache_age, force_refresh, save, format}")
        return None
    block = _ld(value)
    ctx.unknown_keys(block, {"max_cache_age", "force_refresh", "save", "format", "analysis_type"}, where)
    fmt = _string(block, "format", ctx, where, default="summary")
    if fmt not in ("summary", "json", "markdown"):
        ctx.error(line_of(block, "format"), f"{where}.format", f"expected summary, json or markdown, got {fmt!r}")
        fmt = "summary"
    return m.Analyze(max_cache_age=_seconds(block, "max_cache_age", ctx, where, None),
                     force_refresh=_bool(block, "force_refresh", ctx, where),
                     save=_bool(block, "save", ctx, where, True), format=fmt or "summary")


def foreach_spec(data: dict, ctx: _Ctx, where: str) -> m.Foreach | None:
    from prodigy.workflow.load_steps import _steps

    value = data.get("foreach")
    here = f"{where}.foreach"
    if not isinstance(value, dict):
        ctx.error(line_of(data, "foreach"), here, "expected {foreach: [items] or \"command\", do: [steps], parallel: N}")
        return None
    block = _ld(value)
    ctx.unknown_keys(block, {"foreach", "input", "items", "do", "parallel", "continue_on_error", "max_items"}, here)
    sources = [k for k in ("foreach", "input", "items") if k in block]
    if len(sources) != 1:
        ctx.error(block.line, here, "give the items once: `foreach:` (a list or a command), or `input:`")
        return None
    source = block[sources[0]]
    items: tuple[str, ...] | None = None
    command: str | None = None
    if isinstance(source, str) and source.strip():
        command = source
    elif isinstance(source, list) and all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in source):
        items = tuple(str(x) for x in source)
    else:
        ctx.error(line_of(block, sources[0]), f"{here}.{sources[0]}", "expected a list of items or a command string")
        return None
    if "do" not in block:
        ctx.error(block.line, f"{here}.do", "foreach needs `do:` (the steps run for each item)")
        return None
    body = _steps(block["do"], ctx, f"{here}.do", line_of(block, "do"))
    parallel = block.get("parallel", False)
    if parallel is True:
        workers = 10  # the documented default for `parallel: true`
    elif parallel is False or parallel is None:
        workers = 1
    elif isinstance(parallel, int) and parallel >= 1:
        workers = parallel
    else:
        ctx.error(line_of(block, "parallel"), f"{here}.parallel", f"expected true, false or a positive number, got {parallel!r}")
        workers = 1
    return m.Foreach(items=items, command=command, do=body, parallel=workers,
                     continue_on_error=_bool(block, "continue_on_error", ctx, here),
                     max_items=_positive_int(block, "max_items", ctx, here))


_VALIDATE_KEYS = {"shell", "claude", "command", "commands", "result_file", "threshold", "timeout", "on_incomplete",
                  "expected_schema"}
_INCOMPLETE_KEYS = {"max_attempts", "fail_workflow", "commit_required", "prompt", "commands"}


def validation(data: dict, ctx: _Ctx, where: str) -> m.Validation | None:
    from prodigy.workflow.load_steps import _step, _steps

    value = data.get("validate")
    here = f"{where}.validate"
    line = line_of(data, "validate")
    if isinstance(value, list):  # the convenience array form; an item may carry result_file
        result_file = None
        cleaned = []
        for entry in value:
            if isinstance(entry, dict) and "result_file" in entry:
                entry = _ld(entry)
                result_file = _string(entry, "result_file", ctx, here)
                entry = _without(entry, {"result_file"})
            cleaned.append(entry)
        return m.Validation(steps=_steps(cleaned, ctx, here, line), result_file=result_file)
    if isinstance(value, str):
        return m.Validation(steps=(m.Step(kind="claude" if value.startswith("/") else "shell", command=value,
                                          line=line),))
    if not isinstance(value, dict):
        ctx.error(line, here, "expected {shell|claude|commands, threshold, result_file, on_incomplete} or a list")
        return None
    block = _ld(value)
    ctx.unknown_keys(block, _VALIDATE_KEYS, here)
    if "command" in block and "shell" not in block:  # deprecated spelling of shell (book/src/commands.md)
        block = _ld({**block, "shell": block["command"]})
        block.key_lines = {**_ld(value).key_lines, "shell": line_of(value, "command") or 0}
    kinds = [k for k in ("shell", "claude", "commands") if k in block]
    if len(kinds) != 1:
        ctx.error(block.line or line, here, "a validation needs exactly one of shell, claude or commands")
        return None
    if kinds[0] == "commands":
        steps = _steps(block["commands"], ctx, f"{here}.commands", line_of(block, "commands"))
    else:
        step = _step(_only(block, {kinds[0]}), ctx, here, line_of(block, kinds[0]))
        steps = (step,) if step else ()
    threshold = block.get("threshold", 100)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 100:
        ctx.error(line_of(block, "threshold"), f"{here}.threshold", f"expected a percentage 0-100, got {threshold!r}")
        threshold = 100
    timeout = _seconds(block, "timeout", ctx, here, None) if "timeout" in block else None
    return m.Validation(steps=steps, result_file=_string(block, "result_file", ctx, here), threshold=float(threshold),
                        timeout=timeout, on_incomplete=_on_incomplete(block, ctx, here),
                        expected_schema=_string(block, "expected_schema", ctx, here))


def _on_incomplete(block: dict, ctx: _Ctx, where: str) -> m.OnIncomplete | None:
    from prodigy.workflow.load_steps import _step, _steps

    value = block.get("on_incomplete")
    here = f"{where}.on_incomplete"
    line = line_of(block, "on_incomplete")
    if value is None:
        return None
    if isinstance(value, list):
        return m.OnIncomplete(steps=_steps(value, ctx, here, line))
    if isinstance(value, str):
        return m.OnIncomplete(steps=(m.Step(kind="claude" if value.startswith("/") else "shell", command=value,
                                            line=line),))
    if not isinstance(value, dict):
        ctx.error(line, here, "expected a command, a list of steps, or {claude|shell|commands, max_attempts, ...}")
        return None
    data = _ld(value)
    attempts = _positive_int(data, "max_attempts", ctx, here) or 2
    options = dict(max_attempts=attempts, fail_workflow=_bool(data, "fail_workflow", ctx, here, True),
                   commit_required=_bool(data, "commit_required", ctx, here),
                   prompt=_string(data, "prompt", ctx, here))
    if "commands" in data:
        for key in set(data) - _INCOMPLETE_KEYS:
            ctx.error(line_of(data, key), _join(here, key), "unknown key next to `commands:`")
        return m.OnIncomplete(steps=_steps(data["commands"], ctx, f"{here}.commands", line_of(data, "commands")),
                              **options)
    step_data = _without(data, _INCOMPLETE_KEYS - {"commit_required"})
    if not any(k in step_data for k in m.STEP_KINDS):
        ctx.error(line, here, "needs a command (claude or shell) or commands: [...]")
        return None
    step = _step(step_data, ctx, here, line)
    return m.OnIncomplete(steps=(step,) if step else (), **options)


def _without(data: LineDict, keys: set[str]) -> LineDict:
    result = LineDict({k: v for k, v in data.items() if k not in keys})
    result.line = data.line
    result.key_lines = {k: v for k, v in data.key_lines.items() if k not in keys}
    return result


def _only(data: LineDict, keys: set[str]) -> LineDict:
    return _without(data, set(data) - keys)


def test_step(data: LineDict, ctx: _Ctx, where: str) -> LineDict | None:
    """`test: {command, on_failure}`: the deprecated spelling of `shell:` + `on_failure:` (book/src/commands.md,
    "Deprecated Fields"). Returns the step rewritten in the modern form."""
    value = data["test"]
    if isinstance(value, str):
        value = {"command": value}
    if not isinstance(value, dict) or not isinstance(value.get("command"), str):
        ctx.error(line_of(data, "test"), f"{where}.test", "expected {command: ..., on_failure: {...}}")
        return None
    block = _ld(value)
    ctx.unknown_keys(block, {"command", "on_failure"}, f"{where}.test")
    modern = _without(data, {"test"})
    modern["shell"] = block["command"]
    modern.key_lines["shell"] = line_of(data, "test") or 0
    if "on_failure" in block:
        modern["on_failure"] = block["on_failure"]
        modern.key_lines["on_failure"] = line_of(block, "on_failure") or 0
    return modern


_LEGACY_KEYS = {"name", "args", "options", "metadata", "id", "outputs", "commit_required", "analysis"}


def legacy_step(data: LineDict, ctx: _Ctx, where: str) -> LineDict | None:
    """The legacy structured form `{name, args, options, metadata}` (the original's src/config/command.rs):
    a claude slash command `/<name> <args...>`. Returns the step in the modern form and warns with it."""
    for key in set(data) - _LEGACY_KEYS:
        ctx.error(line_of(data, key), _join(where, key), "unknown key in a legacy structured step")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    args = data.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
        ctx.error(line_of(data, "args"), f"{where}.args", f"expected a list of arguments, got {_kind(args)}")
        args = []
    options = data.get("options") or {}
    if not isinstance(options, dict):
        ctx.error(line_of(data, "options"), f"{where}.options", "expected a mapping of option: value")
        options = {}
    flags = [f"--{k}" if v is True else f"--{k} {v}" for k, v in options.items() if v is not False and v is not None]
    command = " ".join([f"/{name.strip().lstrip('/')}", *[str(a) for a in args], *flags])
    modern = _without(data, {"name", "args", "options", "metadata"})
    modern["claude"] = command
    modern.key_lines["claude"] = line_of(data, "name") or 0
    meta = data.get("metadata") or {}
    if isinstance(meta, dict):
        meta = _ld(meta)
        ctx.unknown_keys(meta, {"retries", "timeout", "continue_on_error", "env", "commit_required", "analysis"},
                         f"{where}.metadata")
        for old, new in (("timeout", "timeout"), ("env", "env"), ("commit_required", "commit_required"),
                         ("continue_on_error", "allow_failure"), ("analysis", "analysis")):
            if old in meta:
                modern[new] = meta[old]
                modern.key_lines[new] = line_of(meta, old) or 0
        if isinstance(meta.get("retries"), int) and meta["retries"] > 0:
            modern["retry"] = {"attempts": meta["retries"] + 1}
            modern.key_lines["retry"] = line_of(meta, "retries") or 0
    ctx.warn(data.line, where, f"a legacy structured step (name/args/metadata); it runs as `claude: \"{command}\"`, "
             "which is how to write it today")
    return modern
