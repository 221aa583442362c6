"""The data side of composition: every mapping and list remembers the file it came from (`source`), a merged
mapping remembers it per key (`key_sources`), so a problem the loader finds in the resolved workflow is
reported at the file and line of the part at fault. Merging: a scalar or list of the later layer replaces the
earlier one; mappings merge key by key."""

from __future__ import annotations

import re
from typing import Any

from prodigy.workflow.load_common import Problem
from prodigy.workflow.yamlsrc import LineDict, LineList

_WHOLE_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_-]*)\}$")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def tag(value: Any, source: str) -> Any:
    """Mark every mapping and list of a parsed file with the file's path."""
    if isinstance(value, LineDict):
        value.source = source
        value.key_sources = {}
        for item in value.values():
            tag(item, source)
    elif isinstance(value, LineList):
        value.source = source
        for item in value:
            tag(item, source)
    return value


def merge(base: Any, over: Any) -> Any:
    """`over` wins; two mappings merge recursively; anything else (lists included) is replaced."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    result = LineDict()
    result.line = getattr(over, "line", None) or getattr(base, "line", None)
    result.source = getattr(over, "source", None) or getattr(base, "source", None)
    result.key_sources = {}
    result.duplicates = list(getattr(base, "duplicates", [])) + list(getattr(over, "duplicates", []))
    for side in (base, over):
        for key, value in side.items():
            result[key] = merge(result[key], value) if key in result and side is over else value
            lines = getattr(side, "key_lines", {})
            if key in lines:
                result.key_lines[key] = lines[key]
            result.key_sources[key] = (getattr(side, "key_sources", {}) or {}).get(key) or getattr(side, "source", None)
    return result


def without(data: LineDict, keys: set[str]) -> LineDict:
    """A copy of a mapping without some keys (lines and sources kept)."""
    result = LineDict({k: v for k, v in data.items() if k not in keys})
    result.line = data.line
    result.source = getattr(data, "source", None)
    result.key_lines = {k: v for k, v in data.key_lines.items() if k not in keys}
    result.key_sources = {k: v for k, v in (getattr(data, "key_sources", {}) or {}).items() if k not in keys}
    result.duplicates = [d for d in data.duplicates if d[0] not in keys]
    return result


def only(data: LineDict, keys: set[str]) -> LineDict:
    return without(data, set(data) - keys)


def apply_override(data: Any, override: dict[str, Any]) -> Any:
    """A template's `override:`: nested mappings merge; a key with dots is a path (`map.max_parallel: 5`)."""
    for key, value in override.items():
        if isinstance(key, str) and "." in key:
            path = key.split(".")
            nested: Any = value
            for part in reversed(path[1:]):
                holder = LineDict({part: nested})
                holder.source = getattr(override, "source", None)
                line = getattr(override, "key_lines", {}).get(key)
                holder.key_lines = {part: line} if line else {}
                nested = holder
            data = merge(data, _single(path[0], nested, override, key))
        else:
            data = merge(data, _single(key, value, override, key))
    return data


def _single(key: Any, value: Any, origin: Any, origin_key: Any) -> LineDict:
    holder = LineDict({key: value})
    holder.source = getattr(origin, "source", None)
    line = getattr(origin, "key_lines", {}).get(origin_key)
    holder.key_lines = {key: line} if line else {}
    holder.key_sources = {key: holder.source}
    return holder


def substitute_whole(value: Any, params: dict[str, Any], key: Any = None) -> Any:
    """A string that is exactly `${name}` of a parameter takes its value (and type), except a shell command (whose
    references are quoted for the shell when it runs). Done in place; returns the new value."""
    if isinstance(value, str):
        match = _WHOLE_REF.match(value)
        if match and match.group(1) in params and key != "shell":
            return params[match.group(1)]
        return value
    if isinstance(value, dict):
        for item_key in list(value):
            value[item_key] = substitute_whole(value[item_key], params, item_key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = substitute_whole(item, params, key)
    return value


def locate(problem: Problem, root: Any) -> Problem:
    """The file of the part a loader problem names by its key path (`commands[2].shell`), in the merged data."""
    node, file = root, getattr(root, "source", None)
    for match in _SEGMENT.finditer(problem.key or ""):
        key: Any = match.group(1) if match.group(1) is not None else int(match.group(2))
        if isinstance(node, dict) and key in node:
            file = (getattr(node, "key_sources", {}) or {}).get(key) or getattr(node, "source", None) or file
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            file = getattr(node, "source", None) or file
            node = node[key]
        else:
            break
        file = getattr(node, "source", None) or file
    if not file or file == problem.file:
        return problem
    return Problem(file, problem.line, problem.key, problem.message, problem.severity)


def plain(value: Any) -> Any:
    """LineDict/LineList -> dict/list (for JSON)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
