"""Work items: input (a JSON file or a command) -> json_path -> filter -> sort -> distinct -> offset -> max_items.

The result is frozen into the job folder when the map phase starts (invariant 4); resume never comes here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.errors import UsageError
from prodigy.execution import process
from prodigy.workflow.interpolate import SecretEnv, render, render_shell
from prodigy.workflow.model import MapPhase

INPUT_COMMAND_TIMEOUT = 300.0
INPUT_OUTPUT_CAP = 512 * 1024 * 1024  # a command's work list is kept whole, up to this size


class InputError(UsageError):
    """The map input cannot be turned into work items."""

    def __init__(self, message: str, *, hint: str | None = None, missing: Path | None = None) -> None:
        super().__init__(message, hint=hint)
        self.missing = missing  # the input file that was not found


@dataclass(frozen=True)
class WorkList:
    items: list[Any]
    source: str  # "file <path>" or "command <text>"
    found: int  # items before filter/offset/max_items
    warnings: list[str] = field(default_factory=list)


def resolve_items(spec: MapPhase, *, run_dir: Path, variables: Mapping[str, Any],
                  env: Mapping[str, str], holds_secret: Callable[[str], bool] | None = None) -> WorkList:
    """`holds_secret`: values for which it is true reach an input command through its environment."""
    warnings: list[str] = []
    data, source = _read_input(spec.input, run_dir=run_dir, variables=variables, env=env,
                               holds_secret=holds_secret)
    items = _select(data, spec.json_path, source, warnings)
    found = len(items)
    items = select_items(items, spec, warnings)
    return WorkList(items=items, source=source, found=found, warnings=warnings)


def select_items(items: list[Any], spec: MapPhase, warnings: list[str]) -> list[Any]:
    # The expression engine is imported only for work lists that use it.
    if spec.filter:
        from prodigy.workflow.expr import compile_predicate

        predicate = compile_predicate(spec.filter, kind="filter")
        items = [item for item in items if predicate(_filter_scope(item))]
    if spec.sort_by:
        from prodigy.workflow import expr

        items = expr.sort_items(items, expr.parse_sort(spec.sort_by, kind="sort_by"))
    if spec.distinct:
        items = _distinct(items, spec.distinct)
    if spec.offset:
        items = items[spec.offset:]
    if spec.max_items is not None:
        items = items[: spec.max_items]
    return items


def _filter_scope(item: Any) -> Mapping[str, Any]:
    # Fields are relative to the item; `item` also names the whole item (the only way to reach a scalar).
    if isinstance(item, dict):
        return {**item, "item": item} if "item" not in item else item
    return {"item": item, "value": item}


def _distinct(items: list[Any], field_path: str) -> list[Any]:
    path = tuple(int(p) if p.isdigit() else p for p in field_path.replace("[", ".").replace("]", "").split("."))
    from prodigy.workflow.expr import resolve_path

    seen: set[str] = set()
    result = []
    for item in items:
        key = json.dumps(resolve_path(item, path) if isinstance(item, (dict, list)) else item,
                         sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


def _looks_like_file(text: str) -> bool:
    return not any(c.isspace() for c in text.strip()) and text.strip().lower().endswith((".json", ".jsonl"))


def _read_input(source: str, *, run_dir: Path, variables: Mapping[str, Any],
                env: Mapping[str, str], holds_secret: Callable[[str], bool] | None = None) -> tuple[Any, str]:
    as_path = render(source, variables).strip()
    candidate = Path(as_path).expanduser()
    candidate = candidate if candidate.is_absolute() else run_dir / candidate
    if candidate.is_file():
        return _parse_file(candidate), f"file {candidate}"
    if _looks_like_file(as_path):
        raise InputError(f"Map input file not found: {candidate}",
                         hint="Create it in a setup step, or fix map.input (a JSON file path or a shell command).",
                         missing=candidate)
    secrets = SecretEnv(holds_secret) if holds_secret is not None else None
    script = render_shell(source, variables, secrets=secrets)
    return _run_command(script, run_dir, {**env, **(secrets.env if secrets else {})}), f"command {source.strip()}"


def _parse_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read map input {path}: {exc}") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(f"Map input {path} is nested too deeply to read") from None
    except ValueError as exc:
        lines = _json_lines(text)
        if lines is not None:
            return lines
        raise InputError(f"Map input {path} is not JSON: {exc}",
                         hint="map.input must be a JSON file (an array, or an object with json_path) or JSON lines.") from None


def _json_lines(text: str) -> list[Any] | None:
    rows = [line for line in text.splitlines() if line.strip()]
    try:
        return [json.loads(line) for line in rows] if rows else None
    except (ValueError, RecursionError):
        return None


def _run_command(script: str, run_dir: Path, env: Mapping[str, str]) -> Any:
    result = process.run(["/bin/sh", "-c", script], cwd=run_dir, env=dict(env), timeout=INPUT_COMMAND_TIMEOUT,
                         output_cap=INPUT_OUTPUT_CAP)
    if not result.ok:
        reason = result.start_error or ("timed out" if result.timed_out else f"exit code {result.exit_code}")
        stderr = result.stderr.strip()[-2000:]
        raise InputError(f"The map input command failed ({reason}): {script.strip()}" +
                         (f"\n{stderr}" if stderr else ""))
    text = result.stdout
    if not text.strip():
        return []
    try:
        return json.loads(text)
    except ValueError:
        pass
    except RecursionError:
        raise InputError("The map input command printed JSON nested too deeply to read") from None
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = _json_lines(text)
    if parsed is not None and all(isinstance(v, (dict, list)) for v in parsed):
        return parsed
    return [line.strip() for line in lines]  # plain lines: each line is one string item


def _select(data: Any, json_path: str | None, source: str, warnings: list[str]) -> list[Any]:
    if json_path:
        matches = _json_path(json_path, data)
        if not matches:
            warnings.append(f"json_path {json_path!r} matched nothing in the map input ({source}); "
                            "the map phase has no items")
        return matches
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        warnings.append(f"the map input ({source}) is a JSON object and no json_path is set: it is one item. "
                        "Set json_path (e.g. '$.items[*]') to map over a list inside it.")
    return [data]


def _json_path(text: str, data: Any) -> list[Any]:
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse

    try:
        compiled = parse(text)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # the library raises bare Exception too
        raise InputError(f"Invalid map.json_path {text!r}: {exc}") from None
    return [match.value for match in compiled.find(data)]
