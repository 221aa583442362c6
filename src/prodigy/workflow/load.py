"""Workflow file -> model. Every problem names the file, the line and the key; all problems are collected
so that `prodigy validate` can report them at once."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import WorkflowFileError
from prodigy.workflow import expr
from prodigy.workflow import model as m
from prodigy.workflow.interpolate import InterpolationError, references
from prodigy.workflow.yamlsrc import LineDict, line_of, parse_text

STEP_KEYS = {
    "shell", "claude", "write_file", "name", "timeout", "capture_output", "capture", "capture_format",
    "env", "working_dir", "on_failure", "on_success", "on_exit_code", "commit_required", "when",
    "temporary", "clear_env",
}
# Keys of the original Prodigy that we recognise but do not implement: refuse them by name, never ignore.
UNSUPPORTED_STEP_KEYS = {
    "foreach": "use a MapReduce workflow (mode: mapreduce) to run steps per item",
    "validate": "run the validation command as a shell step",
    "analyze": "not available in prodigy",
    "goal_seek": "removed in the original Prodigy too",
    "test": "use `shell:` with `on_failure:`",
    "retry": "use `on_failure: {max_attempts: N}` (steps) or `error_policy.retry` (map items)",
    "capture_streams": "`capture` keeps stdout; stderr is in ${name.stderr}",
    "output_file": "redirect in the shell command instead (cmd > file)",
    "auto_commit": "commit in a shell step",
    "commit_config": "commit in a shell step",
    "step_validate": "not available in prodigy",
    "handler": "not available in prodigy",
}
STANDARD_KEYS = {"name", "mode", "description", "commands", "env", "secrets", "env_files", "profiles", "merge"}
MAPREDUCE_KEYS = {
    "name", "mode", "description", "env", "secrets", "env_files", "profiles", "setup", "map", "reduce",
    "merge", "error_policy", "on_item_failure", "max_failures", "failure_threshold", "continue_on_failure",
}
MAP_KEYS = {
    "input", "json_path", "agent_template", "max_parallel", "filter", "sort_by", "max_items", "offset",
    "distinct", "agent_timeout_secs", "timeout_config",
}
ERROR_POLICY_KEYS = {"on_item_failure", "max_failures", "failure_threshold", "continue_on_failure", "retry",
                     "retry_config"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|m|min|h)?\s*$")
_VAR_REF = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


@dataclass(frozen=True)
class LoadResult:
    workflow: m.Workflow | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


class _Ctx:
    def __init__(self, file: Path) -> None:
        self.file = str(file)
        self.problems: list[Problem] = []

    def error(self, line: int | None, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, key, message))

    def warn(self, line: int | None, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, key, message, "warning"))

    def unknown_keys(self, data: LineDict, allowed: set[str], where: str) -> None:
        for key, line in data.duplicates:
            self.error(line, _join(where, key), "duplicate key (the later value would silently win)")
        for key in data:
            if key in allowed:
                continue
            if isinstance(key, str) and key in UNSUPPORTED_STEP_KEYS and allowed is STEP_KEYS:
                self.error(line_of(data, key), _join(where, key),
                           f"'{key}' is not supported by prodigy: {UNSUPPORTED_STEP_KEYS[key]}")
                continue
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
            suggestion = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(sorted(allowed))}"
            self.error(line_of(data, key), _join(where, str(key)), f"unknown key{suggestion}")


def _join(where: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def load_workflow(path: str | Path) -> m.Workflow:
    """Load and validate; raise WorkflowFileError listing every error."""
    result = check_workflow(path)
    if result.errors or result.workflow is None:
        errors = result.errors
        first = str(errors[0]) if errors else f"{path}: invalid workflow"
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise WorkflowFileError(first + more, problems=errors,
                                hint=f"Run `prodigy validate {path}` to see every problem.")
    return result.workflow


def read_workflow_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WorkflowFileError(f"Workflow file not found: {path}") from None
    except IsADirectoryError:
        raise WorkflowFileError(f"Not a workflow file (it is a directory): {path}") from None
    except OSError as exc:
        raise WorkflowFileError(f"Cannot read workflow file {path}: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_workflow(path: str | Path) -> LoadResult:
    """Parse and validate. Raises WorkflowFileError only when the file cannot be read or parsed at all."""
    path = Path(os.path.abspath(Path(path).expanduser()))
    text = read_workflow_text(path)
    data = parse_text(text, path)
    ctx = _Ctx(path)
    sha = hashlib.sha256(text.encode()).hexdigest()
    workflow = _build(data, path, sha, ctx)
    return LoadResult(workflow, tuple(ctx.problems))


def _build(data: Any, path: Path, sha: str, ctx: _Ctx) -> m.Workflow | None:
    default_name = path.stem
    if data is None:
        ctx.error(1, "", "the file is empty; a workflow is a list of steps or a mapping with `commands:`")
        return None
    if isinstance(data, list):
        steps = _steps(data, ctx, "commands")
        return m.Workflow(path=path, sha256=sha, name=default_name, mode="standard", steps=steps)
    if not isinstance(data, dict):
        ctx.error(1, "", "a workflow must be a list of steps or a mapping (with `commands:` or `mode: mapreduce`)")
        return None
    data = data if isinstance(data, LineDict) else LineDict(data)
    mode = data.get("mode", "standard")
    if mode not in ("standard", "mapreduce"):
        ctx.error(line_of(data, "mode"), "mode", f"unknown mode {mode!r}; use 'standard' or 'mapreduce'")
        return None
    name = _string(data, "name", ctx, "", default=default_name)
    env = _env_block(data.get("env"), ctx, "env", line_of(data, "env"))
    env += _secrets_block(data.get("secrets"), ctx, line_of(data, "secrets"))
    profiles = _profiles(data.get("profiles"), ctx, line_of(data, "profiles"))
    env_files = _string_list(data, "env_files", ctx)
    merge = _merge(data.get("merge"), ctx, line_of(data, "merge")) if "merge" in data else None
    common = dict(path=path, sha256=sha, name=name or default_name, env=env, profiles=profiles,
                  env_files=env_files, merge=merge)
    if mode == "standard":
        ctx.unknown_keys(data, STANDARD_KEYS, "")
        if "commands" not in data:
            ctx.error(data.line, "commands", "a standard workflow needs `commands:` (a list of steps)")
            return None
        steps = _steps(data["commands"], ctx, "commands", line_of(data, "commands"))
        return m.Workflow(mode="standard", steps=steps, **common)
    ctx.unknown_keys(data, MAPREDUCE_KEYS, "")
    setup = _setup(data.get("setup"), ctx, line_of(data, "setup")) if data.get("setup") is not None else None
    map_phase = _map(data.get("map"), ctx, line_of(data, "map"))
    reduce = _phase_steps(data.get("reduce"), ctx, "reduce", line_of(data, "reduce"))
    policy = _error_policy(data, ctx)
    return m.Workflow(mode="mapreduce", setup=setup, map=map_phase, reduce=reduce, error_policy=policy, **common)


# ---------------------------------------------------------------- scalars


def _string(data: dict, key: str, ctx: _Ctx, where: str, default: str | None = None) -> str | None:
    if key not in data or data[key] is None:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        ctx.error(line_of(data, key), _join(where, key), f"expected a string, got {_kind(value)}")
        return default
    return str(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "nothing (null)"
    return type(value).__name__


def _bool(data: dict, key: str, ctx: _Ctx, where: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    ctx.error(line_of(data, key), _join(where, key), f"expected true or false, got {value!r}")
    return default


def parse_duration(value: Any) -> float | None:
    """Seconds from 30, 2.5, "30s", "5m", "1h", "250ms"; None when not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number = float(match.group(1))
            unit = match.group(2) or "s"
            factor = {"ms": 0.001, "s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "h": 3600}[unit]
            return number * factor if number > 0 else None
    return None


def _timeout(data: dict, key: str, ctx: _Ctx, where: str) -> float | str | None:
    if key not in data or data[key] is None:
        return None
    value = data[key]
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    if isinstance(value, str) and "$" in value:
        return value  # resolved when the step runs
    ctx.error(line_of(data, key), _join(where, key),
              f"expected a positive number of seconds or a duration like '30s', '5m', got {value!r}")
    return None


def _positive_int(data: dict, key: str, ctx: _Ctx, where: str, *, allow_zero: bool = False) -> int | None:
    if key not in data or data[key] is None:
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        kind = "a non-negative" if allow_zero else "a positive"
        ctx.error(line_of(data, key), _join(where, key), f"expected {kind} integer, got {value!r}")
        return None
    return value


def _string_list(data: dict, key: str, ctx: _Ctx) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    ctx.error(line_of(data, key), key, "expected a list of file paths")
    return ()


# ---------------------------------------------------------------- env, secrets, profiles


def _env_block(value: Any, ctx: _Ctx, where: str, line: int | None) -> tuple[tuple[str, m.EnvVar], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        ctx.error(line, where, f"expected a mapping of NAME: value, got {_kind(value)}")
        return ()
    result: list[tuple[str, m.EnvVar]] = []
    for key, raw in value.items():
        key_line = line_of(value, key)
        if where.startswith("profiles") and key == "description":
            continue
        if not isinstance(key, str) or not _IDENT.match(key):
            ctx.error(key_line, _join(where, key), "an environment variable name must match [A-Za-z_][A-Za-z0-9_]*")
            continue
        env_var = _env_value(raw, ctx, _join(where, key), key_line)
        if env_var is not None:
            result.append((key, env_var))
    return tuple(result)


def _env_value(raw: Any, ctx: _Ctx, where: str, line: int | None) -> m.EnvVar | None:
    if isinstance(raw, bool):
        return m.EnvVar("true" if raw else "false")
    if isinstance(raw, (str, int, float)):
        return m.EnvVar(str(raw))
    if raw is None:
        return m.EnvVar("")
    if isinstance(raw, dict):
        if "secret" in raw or ("value" in raw and len(raw) <= 2):
            extra = set(raw) - {"secret", "value"}
            if extra:
                ctx.error(line, where, f"unknown key(s) {sorted(extra)} in a secret value; use {{secret: true, value: ...}}")
                return None
            value = raw.get("value", "")
            return m.EnvVar("" if value is None else str(value), secret=bool(raw.get("secret", False)))
        if "command" in raw:
            extra = set(raw) - {"command", "cache", "secret"}
            if extra or not isinstance(raw["command"], str):
                ctx.error(line, where, "a dynamic env value is {command: \"...\", cache: true}")
                return None
            return m.EnvVar("", secret=bool(raw.get("secret", False)), command=raw["command"])
        if "condition" in raw:
            extra = set(raw) - {"condition", "when_true", "when_false", "secret"}
            if extra or not isinstance(raw["condition"], str):
                ctx.error(line, where, "a conditional env value is {condition, when_true, when_false}")
                return None
            try:
                expr.parse(raw["condition"], kind="condition")
            except expr.ExprError as exc:
                ctx.error(line, f"{where}.condition", str(exc))
                return None
            return m.EnvVar("", secret=bool(raw.get("secret", False)), condition=raw["condition"],
                            when_true=str(raw.get("when_true", "")), when_false=str(raw.get("when_false", "")))
    ctx.error(line, where, f"expected a string value, got {_kind(raw)}")
    return None


def _secrets_block(value: Any, ctx: _Ctx, line: int | None) -> tuple[tuple[str, m.EnvVar], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        ctx.error(line, "secrets", f"expected a mapping of NAME: value, got {_kind(value)}")
        return ()
    result = []
    for key, raw in value.items():
        key_line = line_of(value, key)
        if isinstance(raw, dict):
            if raw.get("provider", "env") != "env" or "key" not in raw:
                ctx.error(key_line, f"secrets.{key}", "only {provider: env, key: NAME} secret providers are supported")
                continue
            raw = "${env:" + str(raw["key"]) + "}"
        if not isinstance(raw, (str, int, float)):
            ctx.error(key_line, f"secrets.{key}", f"expected a string, got {_kind(raw)}")
            continue
        result.append((str(key), m.EnvVar(str(raw), secret=True)))
    return tuple(result)


def _profiles(value: Any, ctx: _Ctx, line: int | None) -> tuple[tuple[str, tuple[tuple[str, m.EnvVar], ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        ctx.error(line, "profiles", "expected a mapping of profile name to env values")
        return ()
    return tuple(
        (str(name), _env_block(body, ctx, f"profiles.{name}", line_of(value, name)))
        for name, body in value.items()
    )


# ---------------------------------------------------------------- steps


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
    ctx.unknown_keys(data, STEP_KEYS, where)
    if "temporary" in data:
        _bool(data, "temporary", ctx, where)  # step env never outlives its step here, so this is always so
    kinds = [k for k in m.STEP_KINDS if k in data]
    if not kinds:
        ctx.error(line, where, "no command: a step needs exactly one of shell, claude, write_file")
        return None
    if len(kinds) > 1:
        ctx.error(line, where, f"two commands in one step ({', '.join(kinds)}); split them into separate steps")
        return None
    kind = kinds[0]
    command, write_file = "", None
    if kind == "write_file":
        write_file = _write_file(data["write_file"], ctx, f"{where}.write_file", line_of(data, "write_file"))
        if write_file is None:
            return None
    else:
        value = data[kind]
        if not isinstance(value, str) or not value.strip():
            ctx.error(line_of(data, kind), f"{where}.{kind}", "expected a non-empty command string")
            return None
        command = value
    step = m.Step(
        kind=kind,
        command=command,
        write_file=write_file,
        name=_string(data, "name", ctx, where),
        timeout=_timeout(data, "timeout", ctx, where),
        capture_output=_capture_output(data, ctx, where),
        capture=_identifier(data, "capture", ctx, where),
        capture_format=_capture_format(data, ctx, where),
        env=_step_env(data, ctx, where),
        working_dir=_string(data, "working_dir", ctx, where),
        on_failure=_on_failure(data, ctx, where),
        on_success=_nested_steps(data, "on_success", ctx, where),
        on_exit_code=_on_exit_code(data, ctx, where),
        commit_required=_bool(data, "commit_required", ctx, where),
        when=_when(data, ctx, where),
        clear_env=_bool(data, "clear_env", ctx, where),
        line=line,
    )
    _check_templates(step, ctx, line, where)
    return step


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


def _capture_output(data: dict, ctx: _Ctx, where: str) -> bool | str:
    value = data.get("capture_output", False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and _IDENT.match(value):
        return value
    ctx.error(line_of(data, "capture_output"), f"{where}.capture_output",
              f"expected true, false or a variable name, got {value!r}")
    return False


def _identifier(data: dict, key: str, ctx: _Ctx, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) and _IDENT.match(value):
        return value
    ctx.error(line_of(data, key), _join(where, key), f"expected a variable name, got {value!r}")
    return None


def _capture_format(data: dict, ctx: _Ctx, where: str) -> str:
    value = data.get("capture_format", "string")
    if value in m.CAPTURE_FORMATS:
        if "capture_format" in data and "capture" not in data and "capture_output" not in data:
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


# ---------------------------------------------------------------- mapreduce phases


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
    _check_expression(data, "filter", ctx, expr.parse)
    _check_expression(data, "sort_by", ctx, expr.parse_sort)
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


def _check_expression(data: dict, key: str, ctx: _Ctx, parse: Callable[..., Any]) -> None:
    text = data.get(key)
    if isinstance(text, str):
        try:
            parse(text, kind=key)
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
        for key in ("retry", "retry_config"):
            if key in source and "retry_attempts" not in policy:
                policy.update(_retry(source[key], ctx, _join(where, key), line_of(source, key)))
    return m.ErrorPolicy(**policy)


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
