"""Behaviour of the filter / when / sort_by expression language."""

from __future__ import annotations

import pickle
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodigy.workflow.expr import (
    ExprError,
    SortKey,
    compile_predicate,
    evaluate,
    parse,
    parse_sort,
    paths,
    resolve_path,
    sort_items,
    truthy,
)


def check(text: str, data: dict[str, Any] | None = None) -> bool:
    return compile_predicate(text)(data or {})


# --- the examples from the workflow docs, on realistic items ---------------------------------

ISSUES = [
    {
        "id": 1,
        "severity": "high",
        "n": 9,
        "path": "src/main.rs",
        "has_issues": True,
        "status": "open",
        "owner": "ana",
    },
    {
        "id": 2,
        "severity": "high",
        "n": 5,
        "path": "src/lib.rs",
        "has_issues": False,
        "status": "triaged",
        "owner": None,
    },
    {
        "id": 3,
        "severity": "low",
        "n": 50,
        "path": "src/main.rsx",
        "has_issues": "true",
        "status": "closed",
        "owner": "bo",
    },
    {"id": 4, "severity": "high", "n": "12", "path": "README.md", "has_issues": True, "status": "triaged"},
    {
        "id": 5,
        "severity": "high",
        "n": None,
        "path": "src/x.rs",
        "has_issues": "True",
        "status": "open",
        "owner": "cy",
    },
]


def ids(text: str) -> list[int]:
    predicate = compile_predicate(text, kind="filter")
    return [item["id"] for item in ISSUES if predicate(item)]


def test_severity_and_count_filter() -> None:
    # id 2 has n == 5 (not > 5); id 4 has the numeric string "12"; id 5 has no count.
    assert ids("severity == 'high' && n > 5") == [1, 4]


def test_regex_path_filter_from_yaml_double_quotes() -> None:
    # YAML "path matches '\\.rs$'" arrives here as the text  path matches '\.rs$'
    assert ids("path matches '\\.rs$' && has_issues == true") == [1, 5]


def test_membership_and_null_check_filter() -> None:
    # id 2's owner is null and id 4 has no owner key at all.
    assert ids("status in ['open', 'triaged'] && !is_null(owner)") == [1, 5]


def test_when_conditions() -> None:
    assert check("${build.success} == true", {"build": {"success": True}})
    assert not check("${build.success} == true", {"build": {"success": False}})
    assert not check("${build.success} == true", {})
    assert check("tests_passed", {"tests_passed": True})
    assert not check("tests_passed", {"tests_passed": "false"})
    assert not check("tests_passed", {})
    assert check("${branch} == 'main'", {"branch": "main"})
    assert not check("${branch} == 'main'", {"branch": "dev"})


# --- operators -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("a == 5", {"a": 5}, True),
        ("a = 5", {"a": 5}, True),
        ("a == 5", {"a": "5"}, True),
        ("a == 5", {"a": "5.0"}, True),
        ("a == 5.0", {"a": 5}, True),
        ("a == '5'", {"a": 5}, True),
        ("a == 5", {"a": "five"}, False),
        ("a == 'x'", {"a": "x"}, True),
        ("a == 'X'", {"a": "x"}, False),
        ("a == true", {"a": "TRUE"}, True),
        ("a == false", {"a": "False"}, True),
        ("a == true", {"a": "yes"}, False),
        ("a == null", {}, True),
        ("a == null", {"a": None}, True),
        ("a == null", {"a": 0}, False),
        ("a == b", {}, True),
        ("a == b", {"a": [1, 2], "b": [1, 2]}, True),
        ("a != 5", {"a": 6}, True),
        ("a != 5", {"a": "5"}, False),
        ("a != null", {}, False),
        ("a != null", {"a": ""}, True),
    ],
)
def test_equality(text: str, data: dict[str, Any], expected: bool) -> None:
    assert check(text, data) is expected


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("a > 5", {"a": 6}, True),
        ("a > 5", {"a": 5}, False),
        ("a >= 5", {"a": 5}, True),
        ("a < 5", {"a": 4.5}, True),
        ("a <= 5", {"a": 5}, True),
        ("a <= 5", {"a": 5.01}, False),
        ("a > 9", {"a": "10"}, True),  # numeric strings order as numbers, not text
        ("a > '9'", {"a": "10"}, True),
        ("a > -5", {"a": -4}, True),
        ("a < -1.5", {"a": -2}, True),
        ("a < 1e3", {"a": 999}, True),
        ("a > 'apple'", {"a": "banana"}, True),
        ("a < 'apple'", {"a": "banana"}, False),
        ("a > 5", {}, False),
        ("a < 5", {}, False),
        ("a > 5", {"a": "lots"}, False),
        ("a > 0", {"a": True}, False),  # booleans are not numbers
        ("a > 0", {"a": [1]}, False),
    ],
)
def test_ordering(text: str, data: dict[str, Any], expected: bool) -> None:
    assert check(text, data) is expected


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("a contains 'ell'", {"a": "hello"}, True),
        ("a contains 'xyz'", {"a": "hello"}, False),
        ("a contains 'x'", {"a": ["x", "y"]}, True),
        ("a contains 5", {"a": ["5"]}, True),
        ("a contains 'k'", {"a": {"k": 1}}, True),
        ("a contains 'v'", {"a": {"k": "v"}}, False),
        ("a contains 'x'", {}, False),
        ("a contains 1", {"a": 123}, False),
        ("a starts_with 'src/'", {"a": "src/main.rs"}, True),
        ("a starts_with 'lib/'", {"a": "src/main.rs"}, False),
        ("a starts_with 1", {"a": 123}, True),
        ("a starts_with 'x'", {}, False),
        ("a ends_with '.rs'", {"a": "src/main.rs"}, True),
        ("a ends_with '.py'", {"a": "src/main.rs"}, False),
        ("a ends_with 'x'", {"a": None}, False),
        ("a matches '^src/.*\\.rs$'", {"a": "src/main.rs"}, True),
        ("a matches 'main'", {"a": "src/main.rs"}, True),  # search, not a full match
        ("a matches '^main'", {"a": "src/main.rs"}, False),
        ("a matches '\\d+'", {"a": 42}, True),
        ("a matches 'x'", {}, False),
        ("a matches p", {"a": "abc", "p": "b"}, True),
        ("a matches p", {"a": "abc", "p": "("}, False),  # a bad pattern from data matches nothing
        ("a in ['open', 'triaged']", {"a": "open"}, True),
        ("a in ['open', 'triaged']", {"a": "closed"}, False),
        ("a in [1, 2, 3]", {"a": "2"}, True),
        ("a in []", {"a": 1}, False),
        ("a in [1, null]", {}, True),
        ("a in b", {"a": 2, "b": [1, 2]}, True),
        ("a in b", {"a": 2}, False),
        ("a in 'abc'", {"a": "b"}, True),
        ("a not in ['x', 'y']", {"a": "z"}, True),
        ("a not in ['x', 'y']", {"a": "x"}, False),
        ("a in [b, 'z']", {"a": "q", "b": "q"}, True),
    ],
)
def test_word_operators(text: str, data: dict[str, Any], expected: bool) -> None:
    assert check(text, data) is expected


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("is_null(a)", {}, True),
        ("is_null(a)", {"a": 0}, False),
        ("is_not_null(a)", {"a": 0}, True),
        ("is_empty(a)", {}, True),
        ("is_empty(a)", {"a": ""}, True),
        ("is_empty(a)", {"a": []}, True),
        ("is_empty(a)", {"a": {}}, True),
        ("is_empty(a)", {"a": 0}, False),
        ("is_empty(a)", {"a": " "}, False),
        ("length(a) == 3", {"a": "abc"}, True),
        ("len(a) == 2", {"a": [1, 2]}, True),
        ("len(a) == 1", {"a": {"k": 1}}, True),
        ("len(a) == 0", {}, True),
        ("len(a) > 0", {"a": 7}, False),
        ("len(a.b) >= 2 && is_not_null(a)", {"a": {"b": "xy"}}, True),
    ],
)
def test_functions(text: str, data: dict[str, Any], expected: bool) -> None:
    assert check(text, data) is expected


# --- logic and precedence --------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    data = {"a": True, "b": False, "c": False}
    assert check("a || b && c", data)  # a || (b && c)
    assert not check("(a || b) && c", data)
    assert check("b && c || a", data)
    assert check("a or b and c", data)


def test_not_binds_tighter_than_and_but_looser_than_comparison() -> None:
    assert not check("!a && b", {"a": False, "b": False})
    assert check("!(a && b)", {"a": False, "b": False})
    assert check("not a == 1", {"a": 2})
    assert check("!!a", {"a": 1})
    assert check("not not a", {"a": 1})
    assert check("! a", {})


def test_word_and_symbol_operators_mix() -> None:
    assert check("a == 1 and b == 2 || c", {"a": 1, "b": 2})
    assert check("(a == 1 && (b == 2 or (c)))", {"a": 1, "c": "yes"})


def test_logical_operators_short_circuit_to_bools() -> None:
    assert evaluate(parse("a && b"), {"a": "x", "b": "y"}) is True
    assert evaluate(parse("a || b"), {}) is False


# --- literals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("3.25", 3.25),
        ("-0.5", -0.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("'single'", "single"),
        ('"double"', "double"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'a\\nb\\tc'", "a\nb\tc"),
        ("'back\\\\slash'", "back\\slash"),
        ("'\\.rs$'", "\\.rs$"),  # unknown escapes keep the backslash
        ("'\\d+'", "\\d+"),
        ('"it\'s"', "it's"),
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("null", None),
        ("None", None),
        ("NULL", None),
        ("[1, 'b', 2.5, null]", [1, "b", 2.5, None]),
        ("[]", []),
        ("[1, 2,]", [1, 2]),
    ],
)
def test_literals(text: str, value: Any) -> None:
    result = evaluate(parse(text), {})
    assert result == value
    assert type(result) is type(value)


def test_true_and_one_are_different_literals() -> None:
    assert not check("a == true", {"a": "1"})
    assert check("a == 1", {"a": "1"})


# --- paths -----------------------------------------------------------------------------------

NESTED = {
    "a": {"b": [{"c": "deep"}, {"c": "second"}]},
    "item": {"path": "src/x.rs", "tags": ["x", "y"]},
    "numbered": {"0": "zero"},
    "odd": {"key with space": 1, "0": "str zero"},
    "n": 3,
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a.b[0].c", "deep"),
        ("a.b[1].c", "second"),
        ("a.b[-1].c", "second"),
        ("a.b.1.c", "second"),
        ("${a.b[0].c}", "deep"),
        ("${ a.b[1].c }", "second"),
        ("item.path", "src/x.rs"),
        ("item.tags[1]", "y"),
        ("numbered[0]", "zero"),  # an integer index reaches a string key "0"
        ("odd['key with space']", 1),
        ('odd["0"]', "str zero"),
        ("a.b[5].c", None),
        ("a.x.y.z", None),
        ("n.m", None),  # walking into a number
        ("item.path.x", None),  # walking into a string
        ("item.tags.name", None),
        ("missing", None),
        ("${and}", None),  # keywords are ordinary names inside ${}
    ],
)
def test_path_values(text: str, value: Any) -> None:
    assert evaluate(parse(text), NESTED) == value


def test_braced_and_bare_paths_are_the_same() -> None:
    assert parse("${a.b[0]}") == parse("a.b[0]")
    assert parse("${item-count}") == parse("${item-count}")
    assert evaluate(parse("${item-count}"), {"item-count": 3}) == 3


def test_words_after_dots_are_fields() -> None:
    assert evaluate(parse("x.in"), {"x": {"in": 1}}) == 1
    assert evaluate(parse("x.true"), {"x": {"true": 2}}) == 2
    assert evaluate(parse("length"), {"length": 9}) == 9  # a function name without '(' is a field


def test_resolve_path() -> None:
    assert resolve_path(NESTED, ("a", "b", 0, "c")) == "deep"
    assert resolve_path(NESTED, ("a", "b", "1", "c")) == "second"
    assert resolve_path(NESTED, ("a", "nope", 0)) is None
    assert resolve_path([10, 20], (5,)) is None
    assert resolve_path(None, ("a",)) is None
    assert resolve_path(NESTED, ()) is NESTED


def test_paths_lists_every_variable_once_in_order() -> None:
    expr = parse("b.c > 1 && (a || !is_null(${b.c})) && x in [y[0], 'lit'] && a")
    assert paths(expr) == [("b", "c"), ("a",), ("x",), ("y", 0)]
    assert paths(parse("1 == 1")) == []


def test_bare_path_evaluates_to_its_raw_value() -> None:
    assert evaluate(parse("item.tags"), NESTED) == ["x", "y"]


# --- truthiness ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, False, 0, 0.0, "", "  ", [], {}, "false", "FALSE", "0", "no", "No"])
def test_falsy_values(value: Any) -> None:
    assert truthy(value) is False


@pytest.mark.parametrize("value", [True, 1, -1, 0.1, "x", "true", "yes", "00", [0], {"a": None}])
def test_truthy_values(value: Any) -> None:
    assert truthy(value) is True


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("severity == && n > 5", 13, "expected a value after '==', found '&&'"),
        ("a == 1 &&", 10, "expected a value after '&&'"),
        ("name == 'abc", 9, "unterminated string"),
        ("a @ b", 3, "unexpected character '@'"),
        ("a & b", 3, "did you mean '&&'?"),
        ("(a == 1", 1, "unclosed '('"),
        ("((a == 1) || b", 1, "unclosed '('"),
        ("(a == 1 b)", 9, "expected ')'"),
        ("a == 1)", 7, "unmatched ')'"),
        ("a == 1 b", 8, "expected an operator before 'b'"),
        ("a == 1 'x'", 8, "expected an operator before 'x'"),
        ("a == b == c", 8, "comparisons cannot be chained"),
        ("a AND", 6, "expected a value after 'AND'"),
        ("contains(a) && b", 11, "contains() takes two arguments"),
        ("starts_with(a, 'x', 'y')", 19, "takes two arguments"),
        ("matches(p, '(bad')", 12, "invalid regular expression"),
        ("${a.exit_code != 0", 1, "expected '}'"),
        (
            "frob(x) && y",
            1,
            "unknown function 'frob' (known functions: contains, ends_with, is_array, is_bool, is_empty, "
            "is_not_empty, is_not_null, is_null, is_number, is_object, is_string, len, length, matches, "
            "starts_with)",
        ),
        ("x && len()", 10, "len() takes exactly one argument"),
        ("path matches '(unclosed'", 14, "invalid regular expression"),
        ("", 1, "empty expression"),
        ("   ", 1, "empty expression"),
        ("[1, 2", 1, "unclosed '['"),
        ("x in [1,, 2]", 9, "expected a value after ','"),
        ("${a.b", 1, "expected '}'"),
        ("a. == 1", 3, "expected a field name after '.'"),
        ("a[x] == 1", 2, "expected an integer index or a quoted key"),
        ("()", 2, "expected a value after '(', found ')'"),
        ("a ==\n 1 @", 9, "unexpected character '@'"),
    ],
)
def test_error_column_reason_and_caret(text: str, column: int, reason: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(text, kind="filter")
    error = info.value
    assert error.column == column
    assert reason in error.reason
    assert error.expression == text
    lines = str(error).splitlines()
    assert lines[0] == f"invalid filter expression: {error.reason} at column {column}"
    assert lines[1] == "  " + text.replace("\n", " ")
    assert lines[2] == "  " + " " * (column - 1) + "^"


def test_error_message_matches_the_documented_shape() -> None:
    with pytest.raises(ExprError) as info:
        compile_predicate("severity == && n > 5", kind="filter")
    assert str(info.value) == (
        "invalid filter expression: expected a value after '==', found '&&' at column 13\n"
        "  severity == && n > 5\n"
        "              ^"
    )


def test_error_kind_defaults_to_expression_and_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="^invalid expression: empty expression"):
        parse("")


def test_error_survives_pickling() -> None:
    with pytest.raises(ExprError) as info:
        parse("a ==", kind="when")
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.reason, copy.column, copy.kind, str(copy)) == (
        info.value.reason,
        info.value.column,
        "when",
        str(info.value),
    )


def test_deep_nesting_is_an_expr_error_not_a_recursion_error() -> None:
    with pytest.raises(ExprError, match="nested more than"):
        parse("(" * 500 + "a" + ")" * 500)
    with pytest.raises(ExprError, match="nested more than"):
        parse("!" * 5000 + "a")
    assert check("(" * 20 + "a" + ")" * 20, {"a": 1})


KEYWORDS_AND_BITS = [
    "a",
    "b.c",
    "x[0]",
    "${y.z}",
    "'s'",
    '"d"',
    "1",
    "-2.5",
    "true",
    "null",
    "None",
    "==",
    "=",
    "!=",
    ">",
    "<",
    ">=",
    "<=",
    "&&",
    "||",
    "!",
    "and",
    "or",
    "not",
    "in",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "(",
    ")",
    "[",
    "]",
    ",",
    "is_null(",
    "len(",
    "'('",
    "'\\.rs$'",
    "frob(",
    "$",
    "{",
    "}",
    "'",
    "\\",
]


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_parse_raises_only_expr_error_on_arbitrary_text(text: str) -> None:
    try:
        parse(text)
    except ExprError as error:
        assert 1 <= error.column <= len(text) + 1


DATA_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abcxyz"), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(KEYWORDS_AND_BITS), max_size=12).map(" ".join),
    st.dictionaries(st.sampled_from(["a", "b", "x", "y"]), DATA_VALUES, max_size=4),
)
def test_token_soup_parses_or_errors_and_evaluation_never_raises(text: str, data: dict[str, Any]) -> None:
    try:
        expr = parse(text)
    except ExprError as error:
        assert 1 <= error.column <= len(text) + 1
        return
    truthy(evaluate(expr, data))
    paths(expr)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_sort_raises_only_expr_error(text: str) -> None:
    try:
        parse_sort(text)
    except ExprError:
        pass


# --- sort_by ---------------------------------------------------------------------------------


def test_parse_sort_defaults_and_modifiers() -> None:
    assert parse_sort("priority DESC, name ASC NULLS FIRST") == [
        SortKey(("priority",), descending=True, nulls_first=False),
        SortKey(("name",), descending=False, nulls_first=True),
    ]
    assert parse_sort("a") == [SortKey(("a",), False, False)]
    assert parse_sort("a desc nulls last, ${b.c[0]} Nulls First") == [
        SortKey(("a",), True, False),
        SortKey(("b", "c", 0), False, True),
    ]


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("", 1, "empty sort specification"),
        ("a DESC,", 8, "expected a field name after ','"),
        ("a, , b", 4, "expected a field name, found ','"),
        ("a DOWN", 3, "found 'DOWN'"),
        ("a NULLS", 8, "expected FIRST or LAST after NULLS"),
        ("a NULLS SOMETIMES", 9, "expected FIRST or LAST after NULLS"),
        ("in DESC", 1, "write '${in}'"),
        ("a @", 3, "unexpected character '@'"),
    ],
)
def test_parse_sort_errors(text: str, column: int, reason: str) -> None:
    with pytest.raises(ExprError) as info:
        parse_sort(text, kind="sort_by")
    assert info.value.column == column
    assert reason in info.value.reason
    assert str(info.value).startswith("invalid sort_by expression: ")
    assert str(info.value).splitlines()[2] == "  " + " " * (column - 1) + "^"


def sort_ids(items: list[dict[str, Any]], spec: str) -> list[Any]:
    return [item["id"] for item in sort_items(items, parse_sort(spec))]


ROWS = [
    {"id": "a", "p": 2, "name": "x"},
    {"id": "b", "p": None, "name": "y"},
    {"id": "c", "p": 10, "name": "x"},
    {"id": "d", "name": "z"},
    {"id": "e", "p": 2, "name": "w"},
]


def test_sort_ascending_puts_nulls_last_and_is_stable() -> None:
    assert sort_ids(ROWS, "p") == ["a", "e", "c", "b", "d"]


def test_sort_descending_also_puts_nulls_last_by_default() -> None:
    assert sort_ids(ROWS, "p DESC") == ["c", "a", "e", "b", "d"]


def test_sort_nulls_first_in_both_directions() -> None:
    assert sort_ids(ROWS, "p ASC NULLS FIRST") == ["b", "d", "a", "e", "c"]
    assert sort_ids(ROWS, "p DESC NULLS FIRST") == ["b", "d", "c", "a", "e"]


def test_sort_by_several_keys() -> None:
    assert sort_ids(ROWS, "p DESC, name ASC") == ["c", "e", "a", "b", "d"]
    assert sort_ids(ROWS, "name, p DESC") == ["e", "c", "a", "b", "d"]


def test_sort_mixed_types_never_raises_and_puts_numbers_before_strings() -> None:
    rows = [
        {"id": 1, "v": "beta"},
        {"id": 2, "v": 3},
        {"id": 3, "v": "alpha"},
        {"id": 4, "v": "10"},
        {"id": 5, "v": None},
        {"id": 6, "v": [1]},
        {"id": 7, "v": 2.5},
        {"id": 8, "v": True},
        {"id": 9, "v": {"k": 1}},
        {"id": 10, "v": float("nan")},
    ]
    # Numbers (numeric strings included) before strings, then booleans, then anything else;
    # NaN cannot be ordered, so it goes with the nulls.
    assert sort_ids(rows, "v") == [7, 2, 4, 3, 1, 8, 6, 9, 5, 10]
    assert sort_ids(rows, "v DESC") == [9, 6, 8, 1, 3, 4, 2, 7, 5, 10]


def test_sort_by_nested_path_and_non_dict_items() -> None:
    items = [{"id": 1, "m": {"s": [3]}}, {"id": 2, "m": {"s": [1]}}, {"id": 3}]
    assert sort_ids(items, "m.s[0]") == [2, 1, 3]
    assert sort_items(["x", 3], parse_sort("a")) == ["x", 3]


def test_sort_returns_a_new_list() -> None:
    rows = list(ROWS)
    sort_items(rows, parse_sort("p"))
    assert rows == ROWS


# --- performance -----------------------------------------------------------------------------


def test_filter_over_100k_items_is_fast() -> None:
    items = [
        {
            "severity": ("high", "low", "medium")[i % 3],
            "n": i % 10,
            "path": f"src/f{i}.rs",
            "status": ("open", "closed", "triaged")[i % 3],
            "owner": None if i % 7 == 0 else "me",
        }
        for i in range(100_000)
    ]
    predicate = compile_predicate(
        "severity == 'high' && n > 5 || status in ['open', 'triaged'] && !is_null(owner)"
    )
    started = time.perf_counter()
    kept = [item for item in items if predicate(item)]
    elapsed = time.perf_counter() - started
    assert len(kept) == sum(
        1 for i in range(100_000) if (i % 3 == 0 and i % 10 > 5) or (i % 3 != 1 and i % 7 != 0)
    )
    assert elapsed < 1.0


# --- the documented additions (docs/mapreduce/work-distribution/filtering-sorting.md) -------------


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("severity == 'high' AND priority > 5", {"severity": "high", "priority": 6}, True),
        ("severity == 'high' AND priority > 5", {"severity": "high", "priority": 5}, False),
        ("severity == 'high' OR severity == 'critical'", {"severity": "critical"}, True),
        ("NOT (status == 'archived')", {"status": "active"}, True),
        ("a Or b", {"a": False, "b": True}, True),
        ("x IN ['a', 'b']", {"x": "b"}, True),
        ("x Not In ['a', 'b']", {"x": "c"}, True),
        ("contains(name, 'test')", {"name": "a test file"}, True),
        ("contains(tags, 'x')", {"tags": ["x", "y"]}, True),
        ("starts_with(path, '/usr')", {"path": "/usr/bin"}, True),
        ("ends_with(filename, '.rs')", {"filename": "main.py"}, False),
        ("matches(email, '^[a-z]+@[a-z]+\\.[a-z]{2,}$')", {"email": "ab@cd.io"}, True),
        ("matches(path, '\\.rs$') && has_issues == true", {"path": "a.rs", "has_issues": True}, True),
        ("is_number(score) && score > 50", {"score": 60}, True),
        ("is_number(score)", {"score": "60"}, False),  # a numeric string is a string
        ("is_string(name)", {"name": "x"}, True),
        ("is_bool(active)", {"active": False}, True),
        ("is_bool(active)", {"active": "false"}, False),
        ("is_array(tags)", {"tags": []}, True),
        ("is_object(metadata)", {"metadata": {}}, True),
        ("is_object(metadata)", {"metadata": []}, False),
        ("is_not_null(required_field)", {"required_field": 0}, True),
        ("!is_null(optional_field)", {}, False),
        ("length(tags) == 3", {"tags": [1, 2, 3]}, True),
        ("unified_score.final_score >= 5 && debt_type.category == 'complexity'",
         {"unified_score": {"final_score": 7}, "debt_type": {"category": "complexity"}}, True),
        ("location.coordinates.lat > 40.0", {"location": {"coordinates": {"lat": 41.5}}}, True),
    ],
)
def test_documented_filter_forms(text: str, data: dict[str, Any], expected: bool) -> None:
    assert compile_predicate(text, kind="filter")(data) is expected


def test_function_forms_mean_the_same_as_the_word_operators() -> None:
    assert parse("contains(a, 'x')") == parse("a contains 'x'")
    assert parse("matches(a, 'x$')") == parse("a matches 'x$'")
    assert parse("a AND b OR NOT c") == parse("a and b or not c")


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        # book/src/advanced/step-identification.md: the whole condition inside ${...}, hyphenated ids
        ("${unit-tests.exit_code != 0}", {"unit-tests.exit_code": 1}, True),
        ("${unit-tests.exit_code != 0}", {"unit-tests.exit_code": 0}, False),
        ("${clippy-check.exit_code == 0 && format-check.exit_code == 0}",
         {"clippy-check.exit_code": 0, "format-check.exit_code": 0}, True),
        ("${clippy-check.exit_code == 0 && format-check.exit_code == 0}",
         {"clippy-check.exit_code": 0, "format-check.exit_code": 2}, False),
        ("${tests_passed} && ${coverage_percent} >= 80", {"tests_passed": True, "coverage_percent": 85}, True),
        ("${build.exit_code} != 0", {"build.exit_code": 0}, False),
        ("!${x.success}", {"x.success": False}, True),
    ],
)
def test_when_conditions_from_the_book(text: str, variables: dict[str, Any], expected: bool) -> None:
    assert compile_predicate(text, kind="when")(variables) is expected


def test_hyphenated_names_are_one_field_because_there_is_no_minus() -> None:
    assert paths(parse("format-check.exit_code == 0")) == [("format-check", "exit_code")]
    assert evaluate(parse("x > -1"), {"x": 0}) is True


def test_multi_key_sort_with_nulls_from_the_page() -> None:
    from prodigy.workflow.expr import parse_sort, sort_items

    keys = parse_sort("File.score DESC NULLS LAST, Function.unified_score.final_score DESC NULLS LAST")
    items = [{"Function": {"unified_score": {"final_score": 3}}}, {"File": {"score": 9}},
             {"File": {"score": 4}}, {"Function": {"unified_score": {"final_score": 8}}}, {}]
    ordered = sort_items(items, keys)
    assert ordered[:2] == [{"File": {"score": 9}}, {"File": {"score": 4}}]
    assert ordered[2:4] == [{"Function": {"unified_score": {"final_score": 8}}},
                            {"Function": {"unified_score": {"final_score": 3}}}]
    assert ordered[4] == {}
    assert sort_items([{"s": None}, {"s": 1}], parse_sort("s DESC NULLS FIRST")) == [{"s": None}, {"s": 1}]
