"""A small, safe expression language for MapReduce `filter:`, step `when:` and `sort_by:`.

User text is tokenized and parsed by hand (never eval'd) into frozen AST nodes, which are compiled
once into closures so that a filter over 100,000 items stays cheap. Evaluation never raises: a
missing path is None, and an operator that does not apply to its operands is simply false.

The pieces: `expr_syntax` (AST, tokenizer, ExprError), `expr_parse` (parser), `expr_values` (value
semantics, paths), `expr_sort` (sort_by); this module compiles and evaluates, and is the one to import.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from prodigy.workflow.expr_parse import parse
from prodigy.workflow.expr_sort import SortKey, parse_sort, sort_items
from prodigy.workflow.expr_syntax import (
    And,
    Call,
    Compare,
    Const,
    DataPath,
    Expr,
    ExprError,
    ListOf,
    Not,
    Or,
    Segment,
    Var,
)
from prodigy.workflow.expr_values import _BINARY, _FUNCTIONS, _step, _text, resolve_path, truthy

__all__ = [
    "And", "Call", "Compare", "Const", "DataPath", "Evaluator", "Expr", "ExprError", "ListOf", "Not", "Or",
    "Segment", "SortKey", "Var", "compile_predicate", "evaluate", "parse", "parse_sort", "paths",
    "resolve_path", "sort_items", "truthy",
]

Evaluator = Callable[[Mapping[str, Any]], Any]


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
