"""List modifiers for `${...}` references: `${x:json}`, `${x:lines}`, `${x:csv}` and glob filters `${x:*.rs}`,
`${x:src/**/*.rs,*.toml}` (the original's git context variables, book/src/variables/available-variables.md)."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

FORMATS = {"json", "lines", "newline", "csv", "comma", "space"}


class FileList(list):
    """A list of paths or commits; renders space-separated, like the original's git variables."""

    def __str__(self) -> str:
        return " ".join(str(x) for x in self)


def apply_modifier(value: Any, modifier: str) -> Any:
    """`${x:json}`, `${x:lines}`, `${x:csv}`, `${x:*.rs}`, `${x:src/**/*.rs,*.toml}` on a list value."""
    items = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split()
    if modifier == "json":
        return json.dumps(items)
    if modifier in ("lines", "newline"):
        return "\n".join(items)
    if modifier in ("csv", "comma"):
        return ",".join(items)
    if modifier == "space":
        return " ".join(items)
    patterns = [_glob_regex(p) for p in split_patterns(modifier)]
    return FileList(x for x in items if any(p.fullmatch(x if "/" in p.pattern_text else x.rsplit("/", 1)[-1])
                                            for p in patterns))


def split_patterns(text: str) -> list[str]:
    """`*.rs,*.toml` is two patterns; the comma inside `**/*.{rs,toml}` is not a separator."""
    parts, depth, current = [], 0, ""
    for c in text:
        if c == "{":
            depth += 1
        elif c == "}":
            depth = max(depth - 1, 0)
        if c == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += c
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


class _Glob:
    def __init__(self, pattern: str, regex: re.Pattern[str]) -> None:
        self.pattern_text = pattern
        self._regex = regex

    def fullmatch(self, text: str) -> bool:
        return self._regex.fullmatch(text) is not None


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> _Glob:
    """A glob as in .gitignore: without a '/' it matches the file name anywhere; with one, the path, where '*'
    stays inside a folder and '**' crosses folders; '?', '[abc]' and '{a,b}' as usual."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(c)
            else:
                out += "[" + pattern[i + 1:end].replace("\\", "\\\\") + "]"
                i = end
        elif c == "{":
            end = pattern.find("}", i + 1)
            if end == -1:
                out += re.escape(c)
            else:
                out += "(?:" + "|".join(re.escape(a) for a in pattern[i + 1:end].split(",")) + ")"
                i = end
        else:
            out += re.escape(c)
        i += 1
    return _Glob(pattern, re.compile(out))


def matching(names: list[str], pattern: str) -> list[str]:
    return list(apply_modifier(names, pattern))
