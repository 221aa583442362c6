"""The expression language's syntax: the error type, the frozen AST nodes and the hand-written
tokenizer (the parser is in expr_parse, evaluation in expr)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Segment = str | int
DataPath = tuple[Segment, ...]


class ExprError(ValueError):
    """A malformed expression; str() gives the reason plus a caret under the offending column."""

    def __init__(self, reason: str, expression: str, column: int, kind: str = "expression") -> None:
        # All fields go to args so the error survives pickling between worker processes.
        super().__init__(reason, expression, column, kind)
        self.reason = reason
        self.expression = expression
        self.column = column
        self.kind = kind

    def __str__(self) -> str:
        # Tabs and newlines become single spaces so the caret stays under the right character.
        shown = re.sub(r"\s", " ", self.expression)
        what = "expression" if self.kind in ("", "expression") else f"{self.kind} expression"
        return (
            f"invalid {what}: {self.reason} at column {self.column}\n  {shown}\n  {' ' * (self.column - 1)}^"
        )


class _Fail(Exception):
    """Internal parse failure at a 0-based offset; parse() turns it into an ExprError."""

    def __init__(self, reason: str, pos: int) -> None:
        super().__init__(reason, pos)
        self.reason = reason
        self.pos = pos


# ---------------------------------------------------------------------------------------------
# AST


@dataclass(frozen=True, eq=False)
class Const:
    value: Any  # str, int, float, bool or None

    # Python says 1 == True == 1.0, but `x == true` and `x == 1` mean different things here,
    # so two constants are equal only when their types match (this also keys the compile cache).
    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Const) and type(other.value) is type(self.value) and other.value == self.value
        )

    def __hash__(self) -> int:
        return hash((type(self.value), self.value))


@dataclass(frozen=True)
class Var:
    path: DataPath


@dataclass(frozen=True)
class ListOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Compare:
    op: str  # "==", "!=", ">", "<", ">=", "<=", "contains", "starts_with", "ends_with", "matches", "in", "not in"
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    name: str
    arg: Expr


Expr = Const | Var | ListOf | Not | And | Or | Compare | Call


# ---------------------------------------------------------------------------------------------
# Tokenizer


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "num" | "str" | "lit" | "path" | "kw" | "op" | "eof"
    value: Any
    pos: int
    end: int


_KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "starts_with", "ends_with", "matches"})
_WORD_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None, "none": None}
_OPERATORS = ("==", "!=", ">=", "<=", "&&", "||", "=", ">", "<", "!", "(", ")", "[", "]", ",")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Names may carry inner hyphens (step ids such as `unit-tests.exit_code`); there is no minus operator.
_IDENT = re.compile(r"[^\W0-9]\w*(?:-\w+)*")
_BARE_SEGMENT = re.compile(r"\w+(?:-\w+)*")
_BRACED_SEGMENT = re.compile(r"[^.\[\]{}\s'\"\0=!<>&|(),]+")
_INDEX = re.compile(r"\[\s*(-?[0-9]+)\s*\]")
_SPACES = re.compile(r"\s*")
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # longer digit runs stay string keys
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    groups = 0  # open `${ ... }` groups: `${a.exit_code != 0}` is the expression in parentheses
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "'\"":
            value, end = _scan_string(text, i)
            tokens.append(_Token("str", value, i, end))
        elif text.startswith("${", i):
            braced = _try_braced_path(text, i)
            if braced is None:  # not `${path}`: a whole expression inside `${...}`
                groups += 1
                tokens.append(_Token("op", "${", i, i + 2))
            else:
                tokens.append(_Token("path", braced[0], i, braced[1]))
        elif c == "}" and groups:
            groups -= 1
            tokens.append(_Token("op", "}", i, i + 1))
        elif m := _NUMBER.match(text, i):
            tokens.append(_Token("num", _to_number(m.group(), i), i, m.end()))
        elif m := _IDENT.match(text, i):
            tokens.append(_word_token(text, m))
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                hint = f" (did you mean '{c * 2}'?)" if c in "&|" else ""
                raise _Fail(f"unexpected character {c!r}{hint}", i)
            tokens.append(_Token("op", op, i, i + len(op)))
        i = tokens[-1].end
    # At the end, point one column past the last token so "a ==   " shows the caret near '=='.
    eof = min(n, tokens[-1].end + 1) if tokens else 0
    tokens.append(_Token("eof", None, eof, eof))
    return tokens


def _scan_string(text: str, start: int) -> tuple[str, int]:
    quote, parts, j = text[start], [], start + 1
    while j < len(text):
        c = text[j]
        if c == quote:
            return "".join(parts), j + 1
        if c == "\\" and j + 1 < len(text):
            # Unknown escapes keep their backslash, so '\.rs$' stays the regex \.rs$.
            parts.append(_ESCAPES.get(text[j + 1], "\\" + text[j + 1]))
            j += 2
            continue
        parts.append(c)
        j += 1
    raise _Fail(f"unterminated string (the {quote} here is never closed)", start)


def _to_number(literal: str, pos: int) -> int | float:
    try:
        return float(literal) if any(c in literal for c in ".eE") else int(literal)
    except ValueError:  # more digits than int() will convert
        raise _Fail("number is too long", pos) from None


def _word_token(text: str, match: re.Match[str]) -> _Token:
    word = match.group()
    if word.lower() in _KEYWORDS:  # AND, Or, NOT ...: operators are words in any case
        return _Token("kw", word.lower(), match.start(), match.end())
    if word.lower() in _WORD_LITERALS:
        return _Token("lit", _WORD_LITERALS[word.lower()], match.start(), match.end())
    path, end = _scan_path_tail(text, match.end(), [word], _BARE_SEGMENT)
    return _Token("path", path, match.start(), end)


def _try_braced_path(text: str, start: int) -> tuple[DataPath, int] | None:
    """`${path}` as one path token, or None when what follows `${` is not a path closed by `}`."""
    try:
        return _scan_braced_path(text, start)
    except _Fail:
        i = _SPACES.match(text, start + 2).end()
        if i >= len(text) or text[i] == "}":
            raise  # `${` at the end or `${}`: the plain error is clearer
        return None


def _scan_braced_path(text: str, start: int) -> tuple[DataPath, int]:
    i = _SPACES.match(text, start + 2).end()
    first = _BRACED_SEGMENT.match(text, i)
    if not first:
        raise _Fail("expected a field name after '${'", i)
    path, i = _scan_path_tail(text, first.end(), [first.group()], _BRACED_SEGMENT)
    i = _SPACES.match(text, i).end()
    if not text.startswith("}", i):
        raise _Fail("expected '}' to close '${'", i if i < len(text) else start)
    return path, i + 1


def _scan_path_tail(
    text: str, i: int, segments: list[str], segment_re: re.Pattern[str]
) -> tuple[DataPath, int]:
    """Continue a path after its first segment: `.name`, `.0`, `[3]` or `['odd key']`."""
    while i < len(text) and text[i] in ".[":
        if text[i] == ".":
            m = segment_re.match(text, i + 1)
            if not m:
                raise _Fail("expected a field name after '.'", i + 1)
            segments.append(m.group())
            i = m.end()
        elif m := _INDEX.match(text, i):
            segments.append(m.group(1))
            i = m.end()
        else:
            i = _scan_quoted_key(text, i, segments)
    return tuple(_segment(s) for s in segments), i


def _scan_quoted_key(text: str, i: int, segments: list[str]) -> int:
    j = _SPACES.match(text, i + 1).end()
    if j >= len(text) or text[j] not in "'\"":
        raise _Fail("expected an integer index or a quoted key inside '[ ]'", i)
    key, j = _scan_string(text, j)
    j = _SPACES.match(text, j).end()
    if not text.startswith("]", j):
        raise _Fail("expected ']' after the key", j)
    # Marked so _segment keeps a quoted '0' as the string key "0".
    segments.append("\0" + key)
    return j + 1


def _segment(raw: str) -> Segment:
    if raw.startswith("\0"):
        return raw[1:]
    return int(raw) if _INTEGER.fullmatch(raw) else raw
