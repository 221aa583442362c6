"""Parsing `${...}` and `$NAME` references out of a template: the reference syntax, its filters and
its errors. What a reference means (lookup, filters, rendering) is in interpolate."""

from __future__ import annotations

import re
from dataclasses import dataclass

from prodigy.errors import UsageError

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# JSON keys often carry hyphens, so segments after the root may too (`${item.file-name}`).
_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*|\[[0-9]+\])*")
_HYPHENATED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)+)(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*|\[[0-9]+\])+")
_SEGMENT_RE = re.compile(r"\.([A-Za-z0-9_][A-Za-z0-9_-]*)|\[([0-9]+)\]")
# `$` followed by one of these is a shell special parameter (`$$`, `$?`, `$1`, ...).
_SPECIAL_PARAMS = frozenset("$?#!@*-0123456789")
# `${...}` contents that start like this are shell-only expansions (`${#x}`, `${1}`, `${@}`).
_SHELL_ONLY_START = frozenset("#!@*?$-0123456789")
# After a bare name, these start a shell parameter expansion (`${x%.txt}`, `${x:=1}`, `${a[@]}`).
_SHELL_OPERATORS = frozenset("%#/:-=+?^,[")

FILTERS_WITHOUT_ARG = frozenset({"raw", "json", "length", "upper", "lower", "basename", "dirname"})
FILTERS = FILTERS_WITHOUT_ARG | {"default"}


class InterpolationError(UsageError):
    """A malformed `${...}` reference or an unknown filter."""

    def __init__(self, message: str, *, position: int | None = None, reference: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint or (
            "References look like ${name}, ${a.b[0].c}, ${name:-default} or ${name|filter}; "
            f"filters: {', '.join(sorted(FILTERS))}."))
        self.position = position
        self.reference = reference


@dataclass(frozen=True)
class Reference:
    """One `${...}` or `$NAME` occurrence; `start:end` is its span in the template."""

    name: str
    root: str
    filters: tuple[tuple[str, str | None], ...]
    default: str | None
    start: int
    end: int
    braced: bool
    modifier: str | None = None  # ${x:json}, ${x:*.rs}: a list format or glob filter
    lenient: bool = False  # ${a-b.c}: a hyphenated step id, or the shell's ${a-default} when a-b is unknown

    @property
    def raw(self) -> bool:
        return any(name == "raw" for name, _ in self.filters)


# -------------------------------------------------------------------------------------- parsing


def _parse_dollar(template: str, start: int) -> tuple[Reference | None, int]:
    """Parse what starts at the `$` at `start`: (a reference or None, the end of what was consumed).

    None means "not prodigy's": a shell special parameter, a shell-only `${...}` expansion, or a
    lone `$`; the caller copies template[start:end] unchanged.
    """
    nxt = template[start + 1: start + 2]
    if nxt == "{":
        return _parse_braced(template, start)
    name = NAME_RE.match(template, start + 1)
    if name is not None:
        text = name.group()
        return Reference(text, text, (), None, start, name.end(), braced=False), name.end()
    return None, start + (2 if nxt and nxt in _SPECIAL_PARAMS else 1)


def _parse_braced(template: str, start: int) -> tuple[Reference | None, int]:
    close = _matching_brace(template, start + 2)
    if close is None:
        raise _malformed(template[start: start + 20], start, "has no closing '}'")
    end = close + 1
    content = template[start + 2: close]
    path = _PATH_RE.match(content)
    if path is None:
        if content[:1] in _SHELL_ONLY_START and content:
            return None, end
        raise _malformed(template[start:end], start, "does not start with a variable name")
    name, rest = path.group(), content[path.end():]
    root = NAME_RE.match(name)
    assert root is not None
    if rest.startswith(":-"):
        return Reference(name, root.group(), (), rest[2:], start, end, braced=True), end
    if rest.startswith(":") and name != root.group():
        return Reference(name, root.group(), (), None, start, end, braced=True, modifier=rest[1:]), end
    if rest.startswith("-") and _HYPHENATED.fullmatch(content):
        # `${unit-tests.output}` names a step id; in a shell, `${a-b}` is "a, else b": decided at render time.
        hyphenated = _HYPHENATED.fullmatch(content)
        assert hyphenated is not None
        return Reference(content, hyphenated.group(1), (), None, start, end, braced=True, lenient=True), end
    if rest.startswith("|"):
        filters = _parse_filters(rest[1:], template[start:end], start)
        return Reference(name, root.group(), filters, None, start, end, braced=True), end
    if rest and name == root.group() and rest[0] in _SHELL_OPERATORS:
        return None, end  # a shell parameter expansion such as ${x%.txt}: the shell's business
    if rest:
        raise _malformed(template[start:end], start, f"has unexpected text {rest!r} after '{name}'")
    return Reference(name, root.group(), (), None, start, end, braced=True), end


def _matching_brace(template: str, index: int) -> int | None:
    depth = 0
    for i in range(index, len(template)):
        if template[i] == "{":
            depth += 1
        elif template[i] == "}":
            if depth == 0:
                return i
            depth -= 1
    return None


def _parse_filters(text: str, ref_text: str, start: int) -> tuple[tuple[str, str | None], ...]:
    filters: list[tuple[str, str | None]] = []
    for piece in text.split("|"):
        name, colon, arg = piece.partition(":")
        name = name.strip()
        if name not in FILTERS:
            what = f"unknown filter '{name}'" if name else "an empty filter"
            raise InterpolationError(f"Reference {ref_text} at position {start} uses {what}",
                                     position=start, reference=ref_text)
        if name == "default" and not colon:
            raise InterpolationError(f"Reference {ref_text} at position {start}: 'default' needs a value "
                                     "(default:text)", position=start, reference=ref_text)
        if name != "default" and colon:
            raise InterpolationError(f"Reference {ref_text} at position {start}: filter '{name}' takes no "
                                     "argument", position=start, reference=ref_text)
        filters.append((name, arg if colon else None))
    return tuple(filters)


def _malformed(ref_text: str, start: int, why: str) -> InterpolationError:
    return InterpolationError(f"Malformed reference {ref_text} at position {start}: it {why}",
                              position=start, reference=ref_text)


def _plain_refs(template: str) -> list[Reference]:
    refs: list[Reference] = []
    i = template.find("$")
    while i != -1:
        ref, end = _parse_dollar(template, i)
        if ref is not None:
            refs.append(ref)
        i = template.find("$", end)
    return refs
