"""The loader's steps: one step of each kind (shell, claude, write_file), its options, its `${...}`
and `when:` checks, and its handlers (on_failure, on_success, on_exit_code)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prodigy.workflow import load_step_keys as keys
from prodigy.workflow import model as m
from prodigy.workflow.interpolate import InterpolationError, references
from prodigy.workflow.load_agents import agent_options
from prodigy.workflow.load_common import (
    STEP_KEYS,
    _bool,
    _Ctx,
    _join,
    _kind,
    _positive_int,
    _string,
    _timeout,
)
from prodigy.workflow.load_env import _env_block
from prodigy.workflow.yamlsrc import LineDict, line_of


def _phase_steps(value: Any, ctx: _Ctx, where: str, line: int | None) -> tuple[m.Step, ...]:
    if value is None:
        return ()
    if isinstance(value, dict):
        value = value if isinstance(value, LineDict) else LineDict(value)
        ctx.unknown_keys(value, {"commands"}, where)
        if "commands" not in value:
            ctx.error(line, where, "expected a list of steps (or {commands: [...]})")
            return ()
        return _steps(value["commands"], ctx, f"{where}.commands", line_of(value, "commands"))
    return _steps(value, ctx, where, line)


def _steps(value: Any, ctx: _Ctx, where: str, line: int | None = None) -> tuple[m.Step, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        ctx.error(line, where, f"expected a list of steps, got {_kind(value)}")
        return ()
    steps = []
    for index, raw in enumerate(value):
        step = _step(raw, ctx, f"{where}[{index}]", line_of(value, index))
        if step is not None:
            steps.append(step)
    return tuple(steps)


def _step(raw: Any, ctx: _Ctx, where: str, line: int | None) -> m.Step | None:
    if isinstance(raw, str):
        if raw.startswith("/"):
            return m.Step(kind="claude", command=raw, line=line)
        ctx.error(line, where, f"a bare string step must be a claude slash command (/name); "
                  f"for a shell command write `- shell: {raw}`")
        return None
    if not isinstance(raw, dict):
        ctx.error(line, where, f"a step must be a mapping with one of shell, claude, write_file; got {_kind(raw)}")
        return None
    data = raw if isinstance(raw, LineDict) else LineDict(raw)
    line = data.line or line
    if "test" in data:
        data = keys.test_step(data, ctx, where)
        if data is None:
            return None
    if not any(k in data for k in m.STEP_KINDS) and "name" in data and set(data) & {"args", "options", "metadata"}:
        data = keys.legacy_step(data, ctx, where)
        if data is None:
            return None
    ctx.unknown_keys(data, STEP_KEYS, where)
    if "temporary" in data:
        _bool(data, "temporary", ctx, where)  # step env never outlives its step here, so this is always so
    kinds = [k for k in m.STEP_KINDS if k in data]
    if not kinds:
        ctx.error(line, where, f"no command: a step needs exactly one of {', '.join(m.STEP_KINDS)}")
        return None
    if len(kinds) > 1:
        ctx.error(line, where, f"two commands in one step ({', '.join(kinds)}); split them into separate steps")
        return None
    kind = kinds[0]
    command, write_file, foreach, analyze = "", None, None, None
    if kind == "write_file":
        write_file = _write_file(data["write_file"], ctx, f"{where}.write_file", line_of(data, "write_file"))
        if write_file is None:
            return None
    elif kind == "foreach":
        foreach = keys.foreach_spec(data, ctx, where)
        if foreach is None:
            return None
    elif kind == "analyze":
        analyze = keys.analyze_spec(data["analyze"], ctx, f"{where}.analyze", line_of(data, "analyze"))
        if analyze is None:
            return None
    else:
        value = data[kind]
        if not isinstance(value, str) or not value.strip():
            ctx.error(line_of(data, kind), f"{where}.{kind}", "expected a non-empty command string")
            return None
        command = value
        _check_comment(ctx, line_of(data, kind), value, f"{where}.{kind}")
    if "cwd" in data and "working_dir" in data:
        ctx.error(line_of(data, "cwd"), f"{where}.cwd", "give working_dir or its alias cwd, not both")
    analysis = None
    if "analysis" in data:
        analysis = keys.analyze_spec(data["analysis"], ctx, f"{where}.analysis", line_of(data, "analysis"))
    step = m.Step(
        kind=kind,
        command=command,
        write_file=write_file,
        name=_string(data, "name", ctx, where),
        timeout=_timeout(data, "timeout", ctx, where),
        capture_output=_capture_output(data, ctx, where),
        capture=keys.capture_target(data, "capture", ctx, where),
        capture_format=_capture_format(data, ctx, where),
        env=_step_env(data, ctx, where),
        working_dir=_string(data, "working_dir" if "working_dir" in data else "cwd", ctx, where),
        on_failure=_on_failure(data, ctx, where),
        on_success=_nested_steps(data, "on_success", ctx, where),
        on_exit_code=_on_exit_code(data, ctx, where),
        commit_required=_bool(data, "commit_required", ctx, where),
        when=_when(data, ctx, where),
        clear_env=_bool(data, "clear_env", ctx, where),
        id=keys.step_id(data, ctx, where),
        outputs=keys.outputs(data, ctx, where),
        allow_failure=_bool(data, "allow_failure", ctx, where),
        capture_streams=keys.capture_streams(data, ctx, where),
        description=_string(data, "description", ctx, where),
        output_file=_output_file(data, ctx, where),
        retry=keys.step_retry(data, ctx, where),
        validate=keys.validation(data, ctx, where) if "validate" in data else None,
        analysis=analysis,
        foreach=foreach,
        analyze=analyze,
        line=line,
        agent=agent_options(data, kind, ctx, where),
    )
    _check_templates(step, ctx, line, where)
    return step


def _check_comment(ctx: _Ctx, line: int | None, value: str, where: str) -> None:
    from prodigy.workflow.yaml_hints import comment_swallowed

    if line and line <= len(ctx.lines) and comment_swallowed(ctx.lines[line - 1], value):
        ctx.warn(line, where, "the text after ' #' on this line is a YAML comment, not part of the command "
                 f"(the command is {value!r}); quote the command if the '#' belongs to it")


def _check_templates(step: m.Step, ctx: _Ctx, line: int | None, where: str) -> None:
    """${...} references must parse (unknown filters are errors); `when:` must be a valid expression."""
    texts: list[tuple[str, str, bool]] = []
    if step.kind in ("shell", "claude"):
        texts.append((step.kind, step.command, step.kind == "shell"))
    elif step.write_file is not None:
        texts += [("write_file.path", step.write_file.path, False), ("write_file.content", step.write_file.content, False)]
    if step.working_dir:
        texts.append(("working_dir", step.working_dir, False))
    texts += [(f"env.{k}", v, False) for k, v in step.env]
    for key, text, shell in texts:
        try:
            refs = references(text, shell=shell)
        except InterpolationError as exc:
            ctx.error(line, f"{where}.{key}", exc.message)
            continue
        for ref in refs:
            if shell and ref.root in ("item", "item_json") and any(name == "raw" for name, _ in ref.filters):
                ctx.warn(line, f"{where}.{key}", f"${{{ref.name}|raw}} inserts item data as shell code; a value "
                         "containing $(...) or ; would run. Drop |raw unless the data is trusted.")
    if step.when is not None:
        from prodigy.workflow import expr  # only for workflows that use expressions

        try:
            expr.parse(step.when, kind="when")
        except expr.ExprError as exc:
            ctx.error(line, f"{where}.when", str(exc))


def _write_file(value: Any, ctx: _Ctx, where: str, line: int | None) -> m.WriteFile | None:
    if not isinstance(value, dict):
        ctx.error(line, where, "expected {path, content, format?, create_dirs?}")
        return None
    data = value if isinstance(value, LineDict) else LineDict(value)
    ctx.unknown_keys(data, {"path", "content", "format", "create_dirs", "mode"}, where)
    path = _string(data, "path", ctx, where)
    if not path:
        ctx.error(line, f"{where}.path", "write_file needs a path")
        return None
    fmt = _string(data, "format", ctx, where, default="text")
    if fmt not in ("text", "json", "yaml"):
        ctx.error(line_of(data, "format"), f"{where}.format", f"expected text, json or yaml, got {fmt!r}")
        fmt = "text"
    content = data.get("content", "")
    if isinstance(content, (dict, list)):
        if fmt == "text":
            ctx.error(line_of(data, "content"), f"{where}.content",
                      "structured content needs format: json or yaml")
        content = json.dumps(content)
    mode = _string(data, "mode", ctx, where)
    if mode is not None and not re.fullmatch(r"0?[0-7]{3}", mode):
        ctx.error(line_of(data, "mode"), f"{where}.mode", f"expected an octal mode like '0644', got {mode!r}")
        mode = None
    if Path(path).is_absolute() or ".." in Path(path).parts:
        ctx.error(line_of(data, "path"), f"{where}.path",
                  "the path must stay inside the working directory (no absolute paths, no '..')")
    return m.WriteFile(path=path, content="" if content is None else str(content), format=fmt or "text",
                       create_dirs=_bool(data, "create_dirs", ctx, where), mode=mode)


def _output_file(data: dict, ctx: _Ctx, where: str) -> str | None:
    path = _string(data, "output_file", ctx, where)
    if path is not None and (Path(path).is_absolute() or ".." in Path(path).parts):
        ctx.error(line_of(data, "output_file"), f"{where}.output_file",
                  "the path must stay inside the working directory (no absolute paths, no '..')")
    return path


def _capture_output(data: dict, ctx: _Ctx, where: str) -> bool | str:
    value = data.get("capture_output", False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and keys._CAPTURE_TARGET.match(value):
        return value
    ctx.error(line_of(data, "capture_output"), f"{where}.capture_output",
              f"expected true, false or a variable name, got {value!r}")
    return False


def _capture_format(data: dict, ctx: _Ctx, where: str) -> str:
    value = data.get("capture_format", "string")
    if value in m.CAPTURE_FORMATS:
        if "capture_format" in data and "capture" not in data and not isinstance(data.get("capture_output"), str):
            ctx.warn(line_of(data, "capture_format"), f"{where}.capture_format",
                     "has no effect without `capture:`")
        return value
    ctx.error(line_of(data, "capture_format"), f"{where}.capture_format",
              f"expected one of {', '.join(m.CAPTURE_FORMATS)}, got {value!r}")
    return "string"


def _step_env(data: dict, ctx: _Ctx, where: str) -> tuple[tuple[str, str], ...]:
    env = _env_block(data.get("env"), ctx, f"{where}.env", line_of(data, "env"))
    return tuple((k, v.value) for k, v in env)


def _when(data: dict, ctx: _Ctx, where: str) -> str | None:
    value = data.get("when")
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip():
        return value
    ctx.error(line_of(data, "when"), f"{where}.when", "expected a condition expression")
    return None


def _nested_steps(data: dict, key: str, ctx: _Ctx, where: str) -> tuple[m.Step, ...]:
    value = data.get(key)
    if value is None:
        return ()
    line = line_of(data, key)
    if isinstance(value, list):
        return _steps(value, ctx, f"{where}.{key}", line)
    if isinstance(value, str):
        return (_handler_string(value, line),)
    step = _step(value, ctx, f"{where}.{key}", line)
    return (step,) if step else ()


def _handler_string(command: str, line: int | None) -> m.Step:
    # The original treats a handler string starting with '/' as a claude slash command, anything else as shell.
    return m.Step(kind="claude" if command.startswith("/") else "shell", command=command, line=line)


_HANDLER_KEYS = {"max_attempts", "max_retries", "fail_workflow", "commands", "retry_original"}


def _on_failure(data: dict, ctx: _Ctx, where: str) -> m.Handler | None:
    if "on_failure" not in data or data["on_failure"] is None:
        return None
    value = data["on_failure"]
    line = line_of(data, "on_failure")
    here = f"{where}.on_failure"
    if isinstance(value, str):
        return m.Handler(steps=(_handler_string(value, line),))
    if isinstance(value, list):
        return m.Handler(steps=_steps(value, ctx, here, line))
    if not isinstance(value, dict):
        ctx.error(line, here, "expected a command string, a list of steps, or {shell|claude, max_attempts, fail_workflow}")
        return None
    value = value if isinstance(value, LineDict) else LineDict(value)
    attempts = _positive_int(value, "max_attempts", ctx, here)
    retries = _positive_int(value, "max_retries", ctx, here, allow_zero=True)
    if attempts is None and retries is not None:
        attempts = retries + 1
    fail_workflow = _bool(value, "fail_workflow", ctx, here) if "fail_workflow" in value else None
    if "commands" in value:
        extra = set(value) - _HANDLER_KEYS
        for key in extra:
            ctx.error(line_of(value, key), _join(here, key), "unknown key next to `commands:`")
        steps = _steps(value["commands"], ctx, f"{here}.commands", line_of(value, "commands"))
    else:
        step_data = LineDict({k: v for k, v in value.items() if k not in _HANDLER_KEYS})
        step_data.line = value.line
        step_data.key_lines = {k: v for k, v in value.key_lines.items() if k not in _HANDLER_KEYS}
        if not any(k in step_data for k in m.STEP_KINDS):
            if fail_workflow is None and attempts is None:
                ctx.error(line, here, "needs a handler command (shell or claude) or commands: [...]")
                return None
            steps = ()
        else:
            step = _step(step_data, ctx, here, line)
            steps = (step,) if step else ()
    return m.Handler(steps=steps, max_attempts=attempts or 1, fail_workflow=fail_workflow)


def _on_exit_code(data: dict, ctx: _Ctx, where: str) -> tuple[tuple[int, tuple[m.Step, ...]], ...]:
    value = data.get("on_exit_code")
    if value is None:
        return ()
    here = f"{where}.on_exit_code"
    if not isinstance(value, dict):
        ctx.error(line_of(data, "on_exit_code"), here, "expected a mapping of exit code to a step")
        return ()
    result = []
    for code, body in value.items():
        try:
            number = int(code)
        except (TypeError, ValueError):
            ctx.error(line_of(value, code), f"{here}.{code}", "exit codes must be integers")
            continue
        holder = LineDict({"h": body})
        holder.key_lines = {"h": line_of(value, code) or 0}
        steps = _nested_steps(holder, "h", ctx, f"{here}.{code}")
        result.append((number, steps))
    return tuple(result)
