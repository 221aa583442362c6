"""Value semantics of the expression language: truthiness, loose equality and ordering, the binary
operators and functions, and walking a data path. Evaluation never raises: a missing path is None,
and an operator that does not apply to its operands is simply false."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from prodigy.workflow.expr_syntax import _INTEGER, Segment

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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Type checks test the value's JSON type: the string "5" is a string, not a number.
_FUNCTIONS: dict[str, Callable[[Any], Any]] = dict(
    is_null=lambda v: v is None,
    is_not_null=lambda v: v is not None,
    is_empty=_is_empty,
    is_not_empty=lambda v: not _is_empty(v),
    is_number=_is_number,
    is_string=lambda v: isinstance(v, str),
    is_bool=lambda v: isinstance(v, bool),
    is_array=lambda v: isinstance(v, (list, tuple)),
    is_object=lambda v: isinstance(v, Mapping),
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
