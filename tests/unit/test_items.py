"""Work items: input file or command -> json_path -> filter -> sort -> distinct -> offset -> max_items."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from prodigy.errors import UsageError
from prodigy.workflow.expr import ExprError
from prodigy.workflow.items import InputError, resolve_items
from prodigy.workflow.model import MapPhase


def spec(input: str, **fields: Any) -> MapPhase:
    return MapPhase(input=input, agent_template=(), **fields)


def resolve(work: Path, input: str, variables: dict[str, Any] | None = None, **fields: Any):
    return resolve_items(spec(input, **fields), run_dir=work, variables=variables or {}, env=dict(os.environ))


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_json_file_of_objects(work: Path) -> None:
    write(work / "items.json", [{"n": 1}, {"n": 2}])
    result = resolve(work, "items.json")
    assert result.items == [{"n": 1}, {"n": 2}] and result.found == 2 and result.warnings == []
    assert result.source == f"file {work / 'items.json'}"


def test_an_absolute_path_and_a_variable_in_the_path(work: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "elsewhere.json", ["a"])
    assert resolve(work, str(path)).items == ["a"]
    assert resolve(work, "${DIR}/elsewhere.json", {"DIR": str(tmp_path)}).items == ["a"]


def test_a_json_lines_file(work: Path) -> None:
    (work / "items.jsonl").write_text('{"n": 1}\n\n{"n": 2}\n"three"\n', encoding="utf-8")
    assert resolve(work, "items.jsonl").items == [{"n": 1}, {"n": 2}, "three"]


def test_a_command_printing_a_json_array(work: Path) -> None:
    result = resolve(work, "echo '[{\"n\": 1}, {\"n\": 2}]'")
    assert result.items == [{"n": 1}, {"n": 2}]
    assert result.source.startswith("command echo")


def test_a_command_printing_json_lines(work: Path) -> None:
    assert resolve(work, "printf '{\"n\": 1}\\n{\"n\": 2}\\n'").items == [{"n": 1}, {"n": 2}]


def test_a_command_printing_plain_lines(work: Path) -> None:
    (work / "b.txt").touch()
    (work / "a.txt").touch()
    assert resolve(work, "ls *.txt").items == ["a.txt", "b.txt"]
    assert resolve(work, "printf '  x y \\n\\n42\\n'").items == ["x y", "42"]  # numbers in plain lines stay text


def test_a_command_printing_nothing_has_no_items(work: Path) -> None:
    assert resolve(work, "true").items == []


def test_the_command_runs_in_the_run_directory_with_variables(work: Path) -> None:
    result = resolve(work, "echo \"[\\\"$(basename \"$PWD\")\\\", \\\"${name}\\\"]\"", {"name": "it's"})
    assert result.items == [work.name, "it's"]


def test_json_path_selects_through_jsonpath_ng(work: Path) -> None:
    write(work / "data.json", {"items": [{"n": 1, "tags": ["a"]}, {"n": 5, "tags": ["b", "c"]}], "other": 1})
    assert resolve(work, "data.json", json_path="$.items[*]").items == [{"n": 1, "tags": ["a"]},
                                                                        {"n": 5, "tags": ["b", "c"]}]
    assert resolve(work, "data.json", json_path="$.items[*].tags[*]").items == ["a", "b", "c"]
    assert resolve(work, "data.json", json_path="$.items[?(@.n > 2)].n").items == [5]


def test_json_path_matching_nothing_warns_and_gives_no_items(work: Path) -> None:
    write(work / "data.json", {"items": []})
    result = resolve(work, "data.json", json_path="$.nothing[*]")
    assert result.items == [] and result.found == 0
    assert len(result.warnings) == 1 and "matched nothing" in result.warnings[0]


def test_an_invalid_json_path_is_an_input_error(work: Path) -> None:
    write(work / "data.json", [1])
    with pytest.raises(InputError, match="Invalid map.json_path"):
        resolve(work, "data.json", json_path="$[[[")


def test_an_object_without_json_path_is_one_item_with_a_warning(work: Path) -> None:
    write(work / "data.json", {"items": [1, 2]})
    result = resolve(work, "data.json")
    assert result.items == [{"items": [1, 2]}]
    assert "json_path" in result.warnings[0]


ROWS = [
    {"id": "a", "priority": 3, "status": "open", "group": 1},
    {"id": "b", "priority": 1, "status": "open", "group": 1},
    {"id": "c", "priority": 5, "status": "closed", "group": 2},
    {"id": "d", "priority": 4, "status": "open", "group": 2},
    {"id": "e", "priority": None, "status": "open", "group": 3},
    {"id": "f", "priority": 2, "status": "open", "group": 3},
    {"id": "g", "priority": 4, "status": "open", "group": 4},
]


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def test_filter_sort_distinct_offset_and_max_items_apply_in_that_order(work: Path) -> None:
    write(work / "rows.json", ROWS)
    assert ids(resolve(work, "rows.json", filter="status == 'open' && priority >= 2").items) == ["a", "d", "f", "g"]
    assert ids(resolve(work, "rows.json", sort_by="priority DESC NULLS LAST, id DESC").items) == [
        "c", "g", "d", "a", "f", "b", "e"]
    assert ids(resolve(work, "rows.json", distinct="group").items) == ["a", "c", "e", "g"]
    result = resolve(work, "rows.json", filter="status == 'open'", sort_by="priority DESC NULLS LAST, id ASC",
                     distinct="group", offset=1, max_items=2)
    # open: a b d e f g; sorted: d g a f b e; distinct group: d(2) g(4) a(1) f(3); offset 1: g a f; max 2
    assert ids(result.items) == ["g", "a"]
    assert result.found == len(ROWS)
    assert resolve(work, "rows.json", offset=10).items == []
    assert resolve(work, "rows.json", max_items=0).items == []


def test_filters_reach_scalar_items_through_item(work: Path) -> None:
    write(work / "words.json", ["apple", "banana", "avocado", 3])
    assert resolve(work, "words.json", filter="item starts_with 'a'").items == ["apple", "avocado"]


def test_an_invalid_filter_raises_with_its_column(work: Path) -> None:
    write(work / "rows.json", ROWS)
    with pytest.raises(ExprError) as info:
        resolve(work, "rows.json", filter="priority >> 2")
    assert info.value.column == 11 and "column 11" in str(info.value)


def test_a_missing_input_file(work: Path) -> None:
    with pytest.raises(InputError, match="Map input file not found") as info:
        resolve(work, "missing.json")
    assert str(work / "missing.json") in str(info.value)
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


def test_an_input_file_that_is_not_json(work: Path) -> None:
    (work / "bad.json").write_text("this is {not json\n", encoding="utf-8")
    with pytest.raises(InputError, match="is not JSON"):
        resolve(work, "bad.json")


def test_an_input_file_that_is_not_utf8(work: Path) -> None:
    (work / "bad.json").write_bytes(b'["\xff\xfe"]')
    with pytest.raises(InputError, match="Cannot read map input"):
        resolve(work, "bad.json")


def test_a_failing_input_command(work: Path) -> None:
    with pytest.raises(InputError) as info:
        resolve(work, "echo oops >&2; exit 3")
    text = str(info.value)
    assert "exit code 3" in text and "oops" in text


def test_ten_thousand_items(work: Path) -> None:
    write(work / "many.json", [{"n": i, "even": i % 2 == 0} for i in range(10_000)])
    started = time.monotonic()
    result = resolve(work, "many.json", json_path="$[*]", filter="even == true", sort_by="n DESC",
                     max_items=4000)
    assert time.monotonic() - started < 5
    assert result.found == 10_000 and len(result.items) == 4000
    assert result.items[0] == {"n": 9998, "even": True} and result.items[-1]["n"] == 9998 - 2 * 3999
    assert len(resolve(work, "seq 0 9999").items) == 10_000
