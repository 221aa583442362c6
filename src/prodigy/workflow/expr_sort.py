"""`sort_by:`: parse "a DESC, b.c ASC NULLS FIRST" into sort keys and sort items by them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prodigy.workflow.expr_syntax import ExprError, _Fail, _Token, _tokenize
from prodigy.workflow.expr_values import _as_number, resolve_path


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
