"""What the workflow loader shares: the accepted keys, the problem collector (`_Ctx`) and the readers of
scalar values (strings, booleans, durations, counts) that report a problem instead of raising."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.workflow.yamlsrc import LineDict, line_of

STEP_KEYS = {
    "shell", "claude", "write_file", "foreach", "analyze", "name", "timeout", "capture_output", "capture",
    "capture_format", "capture_streams", "env", "working_dir", "cwd", "on_failure", "on_success", "on_exit_code",
    "commit_required", "when", "temporary", "clear_env", "id", "outputs", "allow_failure", "description",
    "output_file", "retry", "retry_config", "validate", "analysis", "test",
    "model", "max_turns", "max_budget_usd", "allowed_tools", "resume_agent",
}
# Keys of the original Prodigy that prodigy refuses by name, never ignores: each is one the original's own
# docs call removed (goal_seek: CHANGELOG.md 0.4.1, "Removed: Goal-seek feature (spec 182)") or call an
# internal field that is not part of the YAML syntax (book/src/commands.md, "Internal Implementation Fields").
_INTERNAL = "an internal field of the original, not workflow syntax (its book/src/commands.md says so)"
UNSUPPORTED_STEP_KEYS = {
    "goal_seek": "removed in the original Prodigy (CHANGELOG 0.4.1, spec 182); use `validate:` with "
                 "`on_incomplete:`",
    "handler": _INTERNAL,
    "auto_commit": f"{_INTERNAL}; commit in a shell step",
    "commit_config": f"{_INTERNAL}; commit in a shell step",
    "step_validate": f"{_INTERNAL}; use `validate:`",
    "skip_validation": _INTERNAL,
    "validation_timeout": f"{_INTERNAL}; use `validate: {{timeout: N}}`",
    "ignore_validation_failure": f"{_INTERNAL}; use `validate: {{on_incomplete: {{fail_workflow: false}}}}`",
}
# A file with any of these is composed first (workflow/compose.py), and only then loaded.
COMPOSITION_KEYS = frozenset({"imports", "extends", "template", "parameters", "defaults", "workflows",
                              "sub_workflows"})
AGENT_POLICY_KEYS = {"max_cost_usd", "agent_retry_pause", "agent_outage_limit", "resume_agent"}
STANDARD_KEYS = {"name", "mode", "description", "commands", "env", "secrets", "env_files", "profiles", "merge",
                 *AGENT_POLICY_KEYS}
MAPREDUCE_KEYS = {
    "name", "mode", "description", "env", "secrets", "env_files", "profiles", "setup", "map", "reduce",
    "merge", "error_policy", "on_item_failure", "max_failures", "failure_threshold", "continue_on_failure",
    *AGENT_POLICY_KEYS,
    "error_collection",
}
MAP_KEYS = {
    "input", "json_path", "agent_template", "max_parallel", "filter", "sort_by", "max_items", "offset",
    "distinct", "agent_timeout_secs", "timeout_config",
}
ERROR_POLICY_KEYS = {"on_item_failure", "max_failures", "failure_threshold", "continue_on_failure", "retry",
                     "retry_config", "error_collection"}
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


class _Ctx:
    def __init__(self, file: Path, text: str = "") -> None:
        self.file = str(file)
        self.problems: list[Problem] = []
        self.lines = text.splitlines()  # the source, for hints that quote it

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


def is_composable(data: Any) -> bool:
    return isinstance(data, dict) and any(key in data for key in COMPOSITION_KEYS)
