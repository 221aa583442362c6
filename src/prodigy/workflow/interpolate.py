"""`${...}` interpolation for workflow strings, with shell-aware quoting.

`render` inserts values as plain text (claude prompts, messages, file contents). `render_shell`
treats the template as a POSIX `sh -c` script: a small lexer tracks the quoting context at each
reference so that every inserted value reaches the shell as one literal string. Item data is data,
never code; `|raw` is the one deliberate opt-out.

Unknown `${name}` references are left exactly as written (the shell may expand an env var of that
name), and `$NAME` is replaced only when NAME is a context variable, so `$1`, `$HOME` and awk's `$2`
reach the shell unchanged.
"""

from __future__ import annotations

import json
import posixpath
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prodigy.workflow.interpolate_refs import (
    _PATH_RE,
    _SEGMENT_RE,
    FILTERS,
    FILTERS_WITHOUT_ARG,
    NAME_RE,
    InterpolationError,
    Reference,
    _plain_refs,
)
from prodigy.workflow.list_modifiers import FileList, apply_modifier
from prodigy.workflow.shell_lexer import _ShellLexer


def scope(*layers: Mapping[str, Any]) -> ChainMap[str, Any]:
    """Layer contexts, lowest precedence first: `scope(workflow_env, captures, item_vars)`."""
    return ChainMap(*reversed(layers))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------- values


def to_text(value: Any) -> str:
    """The text a value renders as: JSON for containers, lower-case booleans, "" for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, FileList):
        return str(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def _plain(value: Any) -> Any:
    # json.dumps knows dict and list only; a ChainMap or other Mapping must be converted first.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def lookup(ctx: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Find `path` (`a.b[0].c`) in ctx: the longest flat key prefix wins, then walk the rest."""
    if path in ctx:
        return True, ctx[path]
    match = _PATH_RE.fullmatch(path)
    if match is None:
        raise InterpolationError(f"'{path}' is not a variable path like a.b[0].c", reference=path)
    root = NAME_RE.match(path)
    assert root is not None
    steps = [(m.end(), m.group(1) if m.group(1) is not None else int(m.group(2)))
             for m in _SEGMENT_RE.finditer(path, root.end())]
    # Flat keys such as "map.results" are stored as they are; try the longest such prefix first.
    boundaries = [root.end()] + [end for end, _ in steps[:-1]]
    for count in range(len(boundaries), 0, -1):
        prefix = path[: boundaries[count - 1]]
        if prefix in ctx:
            return _walk(ctx[prefix], [key for _, key in steps[count - 1:]])
    return False, None


def _walk(value: Any, keys: list[str | int]) -> tuple[bool, Any]:
    for key in keys:
        value = _maybe_json(value)
        if isinstance(value, Mapping):
            if str(key) not in value:
                return False, None
            value = value[str(key)]
        elif isinstance(value, Sequence) and not isinstance(value, str):
            index = key if isinstance(key, int) else int(key) if key.isdigit() else -1
            if not 0 <= index < len(value):
                return False, None
            value = value[index]
        else:
            return False, None
    return True, value


def _maybe_json(value: Any) -> Any:
    # A captured command output is often a JSON document held as a string; let paths walk into it.
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def _apply_filter(name: str, arg: str | None, found: bool, value: Any) -> tuple[bool, Any]:
    if name == "default":
        return (True, arg) if not found or _is_empty(value) else (found, value)
    if not found or name == "raw":
        return found, value
    if name == "json":
        return True, json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False, default=str)
    if name == "length":
        sized = value if isinstance(value, Mapping | list | tuple) else to_text(value)
        return True, len(sized)
    text = to_text(value)
    transforms: dict[str, Callable[[str], str]] = {
        "upper": str.upper, "lower": str.lower, "basename": posixpath.basename, "dirname": posixpath.dirname,
    }
    return True, transforms[name](text)


def evaluate(ref: Reference, ctx: Mapping[str, Any]) -> tuple[bool, Any]:
    """The value of a reference after its default and filters; (False, None) when unresolved."""
    if ref.lenient:  # a hyphenated step id: a flat key such as "unit-tests.output", or nothing
        found, value = (True, ctx[ref.name]) if ref.name in ctx else (False, None)
    else:
        found, value = lookup(ctx, ref.name)
    if found and ref.modifier is not None:
        value = apply_modifier(value, ref.modifier)
    if ref.default is not None and (not found or _is_empty(value)):
        found, value = True, ref.default
    for name, arg in ref.filters:
        found, value = _apply_filter(name, arg, found, value)
    return found, value


# ----------------------------------------------------------------------------------- references


def references(template: str, *, shell: bool = False) -> list[Reference]:
    """Every reference in the template, in order. `$NAME` ones (braced=False) are only candidates:
    they are substituted only when NAME is a context variable. With shell=True, references that the
    shell lexer sees as escaped (`\\${x}`) are skipped, as render_shell skips them."""
    if shell:
        found: list[Reference] = []

        def collect(ref: Reference) -> tuple[str, bool] | None:
            found.append(ref)
            return None

        _ShellLexer(template, collect).run()
        return found
    return _plain_refs(template)


# ------------------------------------------------------------------------------------- rendering


def render(template: str, ctx: Mapping[str, Any]) -> str:
    """Plain-text interpolation: values are inserted as text, unresolved references stay as written."""
    pieces: list[str] = []
    last = 0
    for ref in _plain_refs(template):
        found, value = evaluate(ref, ctx)
        if found:
            pieces += [template[last: ref.start], to_text(value)]
            last = ref.end
    pieces.append(template[last:])
    return "".join(pieces)


def unresolved(template: str, ctx: Mapping[str, Any]) -> list[str]:
    """The `${...}` references (without a default) that have no value in ctx, as written."""
    return [template[ref.start:ref.end] for ref in _plain_refs(template)
            if ref.braced and ref.default is None and not evaluate(ref, ctx)[0]]


def render_shell(template: str, ctx: Mapping[str, Any], *, secrets: SecretEnv | None = None) -> str:
    """Interpolate into an `sh -c` script so each value is one literal string in its quoting context.

    With `secrets`, a value that holds a secret is not written into the script at all: the script reads it
    from an environment variable (`secrets.env`, to be added to the command's environment), so it never
    appears in the command line that `ps` shows every user."""
    def resolve(ref: Reference) -> tuple[str | list[str], bool] | None:
        if _shell_default(ref, ctx):
            return None  # ${HOME:-/tmp} with HOME unknown to prodigy: the shell applies the default
        found, value = evaluate(ref, ctx)
        if not found:
            return None
        if isinstance(value, FileList) and not ref.raw:  # each file one shell word: `git add ${step.files_added}`
            return [str(item) for item in value], False
        return to_text(value), ref.raw

    return _ShellLexer(template, resolve, hide=secrets.name_for if secrets is not None else None).run()


class SecretEnv:
    """Collects the values holding a secret that a script reads from its environment instead of its text."""

    PREFIX = "PRODIGY_SECRET_"

    def __init__(self, holds_secret: Callable[[str], bool]) -> None:
        self._holds_secret = holds_secret
        self.env: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def name_for(self, text: str) -> str | None:
        if not self._holds_secret(text):
            return None
        name = self._names.get(text)
        if name is None:
            name = self._names[text] = f"{self.PREFIX}{len(self._names)}"
            self.env[name] = text
        return name


def _shell_default(ref: Reference, ctx: Mapping[str, Any]) -> bool:
    """A plain `${NAME:-default}` whose NAME prodigy does not know belongs to the shell (an env var)."""
    return (ref.braced and ref.default is not None and not ref.filters and NAME_RE.fullmatch(ref.name) is not None
            and not lookup(ctx, ref.name)[0])


__all__ = [
    "FILTERS", "FILTERS_WITHOUT_ARG", "NAME_RE", "InterpolationError", "Reference", "evaluate", "lookup",
    "SecretEnv", "references", "render", "render_shell", "scope", "to_text", "unresolved",
]
