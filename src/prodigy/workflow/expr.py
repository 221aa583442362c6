"""A small, safe expression language for MapReduce `filter:`, step `when:` and `sort_by:`.

User text is tokenized and parsed by hand (never eval'd) into frozen AST nodes, which are compiled
once into closures so that a filter over 100,000 items stays cheap. Evaluation never raises: a
missing path is None, and an operator that does not apply to its operands is simply false.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Segment = str | int
DataPath = tuple[Segment, ...]
Evaluator = Callable[[Mapping[str, Any]], Any]


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
_IDENT = re.compile(r"[^\W0-9]\w*")
_BARE_SEGMENT = re.compile(r"\w+")
_BRACED_SEGMENT = re.compile(r"[^.\[\]{}\s'\"\0]+")
_INDEX = re.compile(r"\[\s*(-?[0-9]+)\s*\]")
_SPACES = re.compile(r"\s*")
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # longer digit runs stay string keys
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "'\"":
            value, end = _scan_string(text, i)
            tokens.append(_Token("str", value, i, end))
        elif text.startswith("${", i):
            path, end = _scan_braced_path(text, i)
            tokens.append(_Token("path", path, i, end))
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
    if word in _KEYWORDS:
        return _Token("kw", word, match.start(), match.end())
    if word.lower() in _WORD_LITERALS:
        return _Token("lit", _WORD_LITERALS[word.lower()], match.start(), match.end())
    path, end = _scan_path_tail(text, match.end(), [word], _BARE_SEGMENT)
    return _Token("path", path, match.start(), end)


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


# ---------------------------------------------------------------------------------------------
# Parser

_FUNCTIONS: dict[str, Callable[[Any], Any]] = {}  # filled in below, next to the evaluators
_COMPARISON_OPS = {"==": "==", "=": "==", "!=": "!=", ">": ">", "<": "<", ">=": ">=", "<=": "<="}
_COMPARISON_WORDS = frozenset({"contains", "starts_with", "ends_with", "matches", "in"})
_MAX_DEPTH = 64  # deeper nesting is an error rather than a RecursionError


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at(self, kind: str, *values: Any) -> bool:
        return self.tok.kind == kind and self.tok.value in values

    def show(self, token: _Token) -> str:
        src = self.text[token.pos : token.end]
        src = src if len(src) <= 30 else src[:27] + "..."
        return src if src[:1] in "'\"" else f"'{src}'"

    @contextmanager
    def nested(self) -> Iterator[None]:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Fail(f"expression is nested more than {_MAX_DEPTH} levels deep", self.tok.pos)
        yield
        self.depth -= 1

    def parse(self) -> Expr:
        if self.tok.kind == "eof":
            raise _Fail("empty expression", 0)
        expr = self.or_()
        if self.tok.kind != "eof":
            raise self.trailing()
        return expr

    def or_(self) -> Expr:
        operands = [self.and_()]
        while self.at("op", "||") or self.at("kw", "or"):
            self.advance()
            operands.append(self.and_())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_(self) -> Expr:
        operands = [self.not_()]
        while self.at("op", "&&") or self.at("kw", "and"):
            self.advance()
            operands.append(self.not_())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_(self) -> Expr:
        if self.at("op", "!") or self.at("kw", "not"):
            self.advance()
            with self.nested():
                return Not(self.not_())
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.operand()
        op = self.comparison_op()
        if op is None:
            return left
        right_tok = self.tok
        right = self.operand()
        if op == "matches" and isinstance(right, Const):
            _check_regex(right.value, right_tok.pos)
        if self.comparison_op(peek=True):
            raise _Fail("comparisons cannot be chained; join them with '&&' or '||'", self.tok.pos)
        return Compare(op, left, right)

    def comparison_op(self, peek: bool = False) -> str | None:
        tok, op, width = self.tok, None, 1
        if tok.kind == "op" and tok.value in _COMPARISON_OPS:
            op = _COMPARISON_OPS[tok.value]
        elif tok.kind == "kw" and tok.value in _COMPARISON_WORDS:
            op = tok.value
        elif tok.kind == "kw" and tok.value == "not" and self.tokens[self.i + 1].value == "in":
            op, width = "not in", 2
        if op is not None and not peek:
            self.i += width
        return op

    def operand(self) -> Expr:
        tok = self.tok
        if tok.kind in ("num", "str", "lit"):
            self.advance()
            return Const(tok.value)
        if tok.kind == "path":
            self.advance()
            if self.at("op", "(") and len(tok.value) == 1:
                return self.call(tok)
            return Var(tok.value)
        if self.at("op", "("):
            return self.group()
        if self.at("op", "["):
            return self.list_()
        raise self.missing_operand()

    def group(self) -> Expr:
        open_ = self.advance()
        with self.nested():
            inner = self.or_()
        self.close(")", open_)
        return inner

    def list_(self) -> Expr:
        open_ = self.advance()
        items: list[Expr] = []
        with self.nested():
            while not self.at("op", "]") and self.tok.kind != "eof":
                items.append(self.operand())
                if not self.at("op", ","):
                    break
                self.advance()
        self.close("]", open_)
        return ListOf(tuple(items))

    def call(self, name_tok: _Token) -> Expr:
        name = name_tok.value[0]
        if name not in _FUNCTIONS:
            known = ", ".join(sorted(_FUNCTIONS))
            raise _Fail(f"unknown function '{name}' (known functions: {known})", name_tok.pos)
        open_ = self.advance()
        if self.at("op", ")"):
            raise _Fail(f"{name}() takes exactly one argument", self.tok.pos)
        with self.nested():
            arg = self.or_()
        if self.at("op", ","):
            raise _Fail(f"{name}() takes exactly one argument", self.tok.pos)
        self.close(")", open_)
        return Call(name, arg)

    def close(self, closer: str, open_: _Token) -> None:
        if self.at("op", closer):
            self.advance()
            return
        if self.tok.kind == "eof":
            raise _Fail(f"unclosed '{open_.value}'", open_.pos)
        raise _Fail(
            f"expected '{closer}' to close the '{open_.value}' at column {open_.pos + 1}, "
            f"found {self.show(self.tok)}",
            self.tok.pos,
        )

    def missing_operand(self) -> _Fail:
        tok, after = self.tok, ""
        if self.i > 0:
            after = f" after {self.show(self.tokens[self.i - 1])}"
        found = "" if tok.kind == "eof" else f", found {self.show(tok)}"
        return _Fail(f"expected a value{after}{found}", tok.pos)

    def trailing(self) -> _Fail:
        tok = self.tok
        if tok.kind == "op" and tok.value == ")":
            return _Fail("unmatched ')'", tok.pos)
        word = self.text[tok.pos : tok.end]
        if tok.kind == "path" and word.lower() in _KEYWORDS:
            return _Fail(f"unexpected '{word}' (operators are lowercase: '{word.lower()}')", tok.pos)
        if tok.kind in ("path", "str", "num", "lit"):
            return _Fail(f"expected an operator before {self.show(tok)}", tok.pos)
        return _Fail(f"unexpected {self.show(tok)} after a complete expression", tok.pos)


def _check_regex(pattern: Any, pos: int) -> None:
    if pattern is None:
        return
    try:
        re.compile(_text(pattern))
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        reason = exc.msg if isinstance(exc, re.error) else str(exc)
        raise _Fail(f"invalid regular expression: {reason}", pos) from None


def parse(text: str, kind: str = "expression") -> Expr:
    """Parse `text` into an AST; `kind` ("filter", "when", ...) names it in error messages."""
    try:
        return _Parser(text).parse()
    except _Fail as fail:
        raise ExprError(fail.reason, text, fail.pos + 1, kind) from None


# ---------------------------------------------------------------------------------------------
# Value semantics

_NUMERIC_STRING = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")
_FALSE_STRINGS = frozenset({"", "false", "0", "no"})


def truthy(value: Any) -> bool:
    """Truthiness for a final result; the strings 'false', '0', 'no' and '' count as false."""
    if value is True or value is False or value is None:
        return bool(value)
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_STRINGS
    try:
        return bool(value)
    except Exception:  # an exotic object whose __bool__ fails is still "something"
        return True


def _text(value: Any) -> str:
    # Booleans print the way they are written in expressions.
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _as_number(value: Any) -> int | float | None:
    """The value as a number if it is one or is a numeric string; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and _NUMERIC_STRING.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # "1.5", "1e3", or too many digits for int()
            return float(value)
    return None


def _equals(a: Any, b: Any) -> bool:
    try:
        if type(a) is type(b):
            return bool(a == b)
        if a is None or b is None:
            return False
        if isinstance(a, bool) or isinstance(b, bool):
            flag, other = (a, b) if isinstance(a, bool) else (b, a)
            if isinstance(other, str):
                return other.strip().lower() == _text(flag)
            return bool(a == b)
        x, y = _as_number(a), _as_number(b)
        if x is not None and y is not None:
            return x == y
        return bool(a == b)
    except Exception:  # an exotic value whose == misbehaves is simply not equal
        return False


def _ordering(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def op(a: Any, b: Any) -> bool:
        x, y = _as_number(a), _as_number(b)
        if x is not None and y is not None:
            return compare(x, y)
        if isinstance(a, str) and isinstance(b, str):
            return compare(a, b)
        return False  # None and mixed types never order

    return op


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return item is not None and _text(item) in container
    if isinstance(container, (list, tuple)):
        for element in container:
            if _equals(element, item):
                return True
        return False
    if isinstance(container, Mapping):
        try:
            return item in container
        except TypeError:  # unhashable item
            return False
    return False


def _starts_with(value: Any, prefix: Any) -> bool:
    return value is not None and prefix is not None and _text(value).startswith(_text(prefix))


def _ends_with(value: Any, suffix: Any) -> bool:
    return value is not None and suffix is not None and _text(value).endswith(_text(suffix))


def _matches(value: Any, pattern: Any) -> bool:
    if value is None or pattern is None:
        return False
    try:
        return re.search(_text(pattern), _text(value)) is not None
    except (re.error, OverflowError, RecursionError, ValueError):  # a bad runtime pattern matches nothing
        return False


_BINARY: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equals,
    "!=": lambda a, b: not _equals(a, b),
    ">": _ordering(operator.gt),
    "<": _ordering(operator.lt),
    ">=": _ordering(operator.ge),
    "<=": _ordering(operator.le),
    "contains": _contains,
    "starts_with": _starts_with,
    "ends_with": _ends_with,
    "matches": _matches,
    "in": lambda a, b: _contains(b, a),
    "not in": lambda a, b: not _contains(b, a),
}


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, Mapping)) and len(value) == 0)


def _length(value: Any) -> int | None:
    if value is None:
        return 0
    return len(value) if isinstance(value, (str, list, tuple, Mapping)) else None


_FUNCTIONS.update(
    is_null=lambda v: v is None,
    is_not_null=lambda v: v is not None,
    is_empty=_is_empty,
    length=_length,
    len=_length,
)


# ---------------------------------------------------------------------------------------------
# Paths


def _step(current: Any, segment: Segment) -> Any:
    if type(current) is dict or isinstance(current, Mapping):  # the exact-type test is the fast path
        value = current.get(segment)
        # `a.0` and `a[0]` also reach a dict whose keys are the strings "0", "1", ...
        if value is None and isinstance(segment, int):
            value = current.get(str(segment))
        return value
    if isinstance(current, (list, tuple)):
        if isinstance(segment, str):
            if not _INTEGER.fullmatch(segment):
                return None
            segment = int(segment)
        try:
            return current[segment]
        except IndexError:
            return None
    return None


def resolve_path(data: Any, path: tuple[str | int, ...]) -> Any:
    """Walk dicts and lists along `path`; anything missing along the way gives None."""
    current = data
    for segment in path:
        current = _step(current, segment)
        if current is None:
            return None
    return current


def paths(expr: Expr) -> list[tuple[str | int, ...]]:
    """Every data path the expression reads, in order of first use, without duplicates."""
    found: dict[DataPath, None] = {}
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Var):
            found.setdefault(node.path)
        elif isinstance(node, (And, Or)):
            stack.extend(reversed(node.operands))
        elif isinstance(node, ListOf):
            stack.extend(reversed(node.items))
        elif isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, Compare):
            stack.extend((node.right, node.left))
        elif isinstance(node, Call):
            stack.append(node.arg)
    return list(found)


# ---------------------------------------------------------------------------------------------
# Compilation and evaluation


@functools.lru_cache(maxsize=1024)
def _compile(expr: Expr) -> Evaluator:
    if isinstance(expr, Const):
        value = expr.value
        return lambda data: value
    if isinstance(expr, Var):
        return _compile_var(expr.path)
    if isinstance(expr, ListOf):
        return _compile_list(expr)
    if isinstance(expr, Not):
        inner = _compile(expr.operand)
        return lambda data: not truthy(inner(data))
    if isinstance(expr, (And, Or)):
        return _compile_logical(expr)
    if isinstance(expr, Compare):
        return _compile_compare(expr)
    function, arg = _FUNCTIONS[expr.name], _compile(expr.arg)
    return lambda data: function(arg(data))


def _compile_logical(expr: And | Or) -> Evaluator:
    # Plain loops rather than all()/any() over generators: this runs once per item.
    parts = tuple(_compile(e) for e in expr.operands)
    if isinstance(expr, And):

        def every(data: Mapping[str, Any]) -> bool:
            for part in parts:
                if not truthy(part(data)):
                    return False
            return True

        return every

    def some(data: Mapping[str, Any]) -> bool:
        for part in parts:
            if truthy(part(data)):
                return True
        return False

    return some


def _compile_var(path: DataPath) -> Evaluator:
    if len(path) == 1:
        segment = path[0]
        return lambda data: _step(data, segment)
    return lambda data: _resolve_with_flat_keys(data, path)


def _resolve_with_flat_keys(data: Any, path: DataPath) -> Any:
    """Variables such as capture metadata are stored under flat dotted keys ("build.success"); the longest
    such key wins, as in ${...} interpolation, then the rest of the path is walked."""
    if isinstance(data, Mapping):
        for cut in range(len(path), 1, -1):
            head = path[:cut]
            if all(isinstance(part, str) for part in head):
                key = ".".join(head)  # type: ignore[arg-type]
                if key in data:
                    return resolve_path(data[key], path[cut:])
    return resolve_path(data, path)


def _compile_list(expr: ListOf) -> Evaluator:
    if all(isinstance(item, Const) for item in expr.items):
        constant = [item.value for item in expr.items]  # type: ignore[union-attr]
        return lambda data: constant
    parts = tuple(_compile(item) for item in expr.items)
    return lambda data: [part(data) for part in parts]


def _compile_compare(expr: Compare) -> Evaluator:
    left = _compile(expr.left)
    if isinstance(expr.right, Const):
        value = expr.right.value
        if expr.op == "matches" and value is not None:
            try:
                search = re.compile(_text(value)).search
            except (re.error, OverflowError, RecursionError, ValueError):  # only hand-built ASTs get here
                return lambda data: False
            return lambda data: (v := left(data)) is not None and search(_text(v)) is not None
        binary = _BINARY[expr.op]
        return lambda data: binary(left(data), value)
    binary, right = _BINARY[expr.op], _compile(expr.right)
    return lambda data: binary(left(data), right(data))


def evaluate(expr: Expr, data: Mapping[str, Any]) -> Any:
    """The expression's value for `data`: comparisons give bools, a bare path gives its raw value."""
    return _compile(expr)(data)


def compile_predicate(text: str, kind: str = "expression") -> Callable[[Mapping[str, Any]], bool]:
    """Parse once; the returned function tells whether `data` passes (raises ExprError up front)."""
    evaluator = _compile(parse(text, kind))
    return lambda data: truthy(evaluator(data))


# ---------------------------------------------------------------------------------------------
# sort_by


@dataclass(frozen=True)
class SortKey:
    path: tuple[str | int, ...]
    descending: bool = False
    nulls_first: bool = False


def parse_sort(text: str, kind: str = "sort") -> list[SortKey]:
    """Parse "a DESC, b.c ASC NULLS FIRST"; the default is ASC with NULLS LAST."""
    try:
        return _parse_sort_keys(text, _tokenize(text))
    except _Fail as fail:
        raise ExprError(fail.reason, text, fail.pos + 1, kind) from None


def _sort_word(token: _Token) -> str | None:
    if token.kind == "path" and len(token.value) == 1 and isinstance(token.value[0], str):
        return token.value[0].upper()
    return None


def _parse_sort_keys(text: str, tokens: list[_Token]) -> list[SortKey]:
    if tokens[0].kind == "eof":
        raise _Fail("empty sort specification", 0)
    keys: list[SortKey] = []
    i = 0
    while True:
        field = tokens[i]
        if field.kind != "path":
            raise _Fail(_expected_sort_field(text, tokens, i), field.pos)
        i += 1
        descending = nulls_first = False
        if _sort_word(tokens[i]) in ("ASC", "DESC"):
            descending = _sort_word(tokens[i]) == "DESC"
            i += 1
        if _sort_word(tokens[i]) == "NULLS":
            i += 1
            if _sort_word(tokens[i]) not in ("FIRST", "LAST"):
                raise _Fail("expected FIRST or LAST after NULLS", tokens[i].pos)
            nulls_first = _sort_word(tokens[i]) == "FIRST"
            i += 1
        keys.append(SortKey(field.value, descending, nulls_first))
        if tokens[i].kind == "eof":
            return keys
        if not (tokens[i].kind == "op" and tokens[i].value == ","):
            found = text[tokens[i].pos : tokens[i].end]
            raise _Fail(f"expected ASC, DESC, NULLS FIRST/LAST or ',' but found '{found}'", tokens[i].pos)
        i += 1


def _expected_sort_field(text: str, tokens: list[_Token], i: int) -> str:
    token = tokens[i]
    if token.kind == "eof":
        return "expected a field name after ','"
    found = text[token.pos : token.end]
    if token.kind in ("kw", "lit"):
        return (
            f"expected a field name, found '{found}' (write '${{{found}}}' to sort by a field of that name)"
        )
    return f"expected a field name, found '{found}'"


def _sort_key_function(key: SortKey) -> Callable[[Any], tuple[int, int, Any]]:
    # Descending sorts run with reverse=True, so nulls must rank at the far end that reversal
    # brings to the requested side.
    null_rank = 0 if key.nulls_first != key.descending else 2

    def sort_key(item: Any) -> tuple[int, int, Any]:
        value = resolve_path(item, key.path)
        number = _as_number(value)
        if number is not None:
            # NaN cannot be ordered, so it sorts with the nulls.
            return (1, 0, number) if number == number else (null_rank, 0, 0)
        if value is None:
            return (null_rank, 0, 0)
        # Rank by type first so mixed values never compare across types (no TypeError).
        if isinstance(value, str):
            return (1, 1, value)
        if isinstance(value, bool):
            return (1, 2, value)
        return (1, 3, repr(value))

    return sort_key


def sort_items(items: list[Any], keys: list[SortKey]) -> list[Any]:
    """A new list, stably sorted by `keys` (first key most significant)."""
    result = list(items)
    # Stable sorts applied from the least significant key give the multi-key order.
    for key in reversed(keys):
        result.sort(key=_sort_key_function(key), reverse=key.descending)
    return result
