"""The expression parser: tokens -> AST, with error messages that point at the offending column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prodigy.workflow.expr_syntax import (
    And,
    Call,
    Compare,
    Const,
    Expr,
    ExprError,
    ListOf,
    Not,
    Or,
    Var,
    _Fail,
    _Token,
    _tokenize,
)
from prodigy.workflow.expr_values import _FUNCTIONS, _text

_COMPARISON_OPS = {"==": "==", "=": "==", "!=": "!=", ">": ">", "<": "<", ">=": ">=", "<=": "<="}
_COMPARISON_WORDS = frozenset({"contains", "starts_with", "ends_with", "matches", "in"})
_TWO_ARG_FUNCTIONS = frozenset({"contains", "starts_with", "ends_with", "matches"})
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
        if self.at("op", "(", "${"):
            return self.group()
        if tok.kind == "kw" and tok.value in _TWO_ARG_FUNCTIONS and self.tokens[self.i + 1].value == "(" \
                and self.tokens[self.i + 1].kind == "op":
            return self.two_arg_call()
        if self.at("op", "["):
            return self.list_()
        raise self.missing_operand()

    def group(self) -> Expr:
        open_ = self.advance()
        with self.nested():
            inner = self.or_()
        self.close("}" if open_.value == "${" else ")", open_)
        return inner

    def two_arg_call(self) -> Expr:
        """`contains(name, 'test')`: the function form of the word operators."""
        name_tok = self.advance()
        open_ = self.advance()
        with self.nested():
            left = self.or_()
            if not self.at("op", ","):
                raise _Fail(f"{name_tok.value}() takes two arguments: {name_tok.value}(value, other)", self.tok.pos)
            self.advance()
            right_tok = self.tok
            right = self.or_()
        if self.at("op", ","):
            raise _Fail(f"{name_tok.value}() takes two arguments", self.tok.pos)
        self.close(")", open_)
        if name_tok.value == "matches" and isinstance(right, Const):
            _check_regex(right.value, right_tok.pos)
        return Compare(name_tok.value, left, right)

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
            known = ", ".join(sorted({*_FUNCTIONS, *_TWO_ARG_FUNCTIONS}))
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
            if open_.value == "${":
                raise _Fail("expected '}' to close this '${'", open_.pos)
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
