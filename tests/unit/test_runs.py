"""--args / --map / -n: what each run gets, and the exit code of an invocation that ran several sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.errors import ExitCode, UsageError
from prodigy.execution.runs import RunEntry, _exit_code, arg_inputs, map_arg, map_inputs, plan_inputs
from prodigy.workflow.load import load_workflow


@pytest.mark.parametrize(("path", "arg"), [("specs/65-foo.md", "65"), ("65.md", "65"), ("a-b-c.txt", "a"),
                                           ("-x.md", "-x"), ("noext", "noext")])
def test_map_arg_is_the_stem_up_to_the_first_dash(path: str, arg: str) -> None:
    assert map_arg(path) == arg


def test_args_give_one_run_per_value_in_a_standard_workflow() -> None:
    runs = arg_inputs(("41", "42"), mapreduce=False)
    assert [r.label for r in runs] == ["ARG=41", "ARG=42"]
    assert runs[1].variables == {"ARG": "42", "ARG_1": "42", "PRODIGY_ARG": "42"}


def test_args_become_arg_1_to_n_of_one_mapreduce_run() -> None:
    (run,) = arg_inputs(("a", "b", "c"), mapreduce=True)
    assert run.variables == {"ARG_1": "a", "ARG_2": "b", "ARG_3": "c"}
    (single,) = arg_inputs(("a",), mapreduce=True)
    assert single.variables["ARG"] == "a" and single.variables["ARG_1"] == "a"


def test_map_inputs_match_relative_to_the_run_dir_sorted_and_once(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    for name in ("66-b.md", "65-a.md", "notes.txt"):
        (tmp_path / "specs" / name).write_text("x")
    (tmp_path / "specs" / "dir.md").mkdir()  # folders never match
    runs = map_inputs(("specs/*.md", "specs/65-*"), tmp_path)
    assert [r.label for r in runs] == ["specs/65-a.md", "specs/66-b.md"]
    assert runs[0].variables == {"ARG": "65", "ARG_1": "65", "PRODIGY_ARG": "65", "FILE": "65-a.md",
                                 "FILE_PATH": "specs/65-a.md"}


def test_a_map_pattern_that_matches_nothing_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="matches no file"):
        map_inputs(("specs/*.md",), tmp_path)


def _workflow(tmp_path: Path, text: str) -> object:
    path = tmp_path / "wf.yml"
    path.write_text(text)
    return load_workflow(path)


MAPREDUCE = """
mode: mapreduce
name: mr
map:
  input: items.json
  agent_template:
    - shell: echo ${item}
"""


def test_plan_refuses_iterations_and_map_for_mapreduce(tmp_path: Path) -> None:
    workflow = _workflow(tmp_path, MAPREDUCE)
    with pytest.raises(UsageError, match="repeats a standard workflow"):
        plan_inputs(workflow, args=(), maps=(), run_dir=tmp_path, iterations=3)
    (tmp_path / "a.md").write_text("x")
    with pytest.raises(UsageError, match="--map runs a standard workflow"):
        plan_inputs(workflow, args=(), maps=("*.md",), run_dir=tmp_path, iterations=1)
    assert len(plan_inputs(workflow, args=("1", "2"), maps=(), run_dir=tmp_path, iterations=1)) == 1


def test_plan_without_inputs_is_one_plain_run(tmp_path: Path) -> None:
    workflow = _workflow(tmp_path, "- shell: echo hi\n")
    assert plan_inputs(workflow, args=(), maps=(), run_dir=tmp_path, iterations=4) == [None]


def _entry(code: int) -> RunEntry:
    return RunEntry(label=None, iteration=None, session_id=None, exit_code=code)


@pytest.mark.parametrize(("codes", "expected"), [
    ([0, 0], 0), ([0, 3], 3), ([3, 1], 1), ([1, 130, 0], 130), ([0, 2, 1], 2), ([], 0),
])
def test_exit_code_of_several_runs(codes: list[int], expected: int) -> None:
    assert _exit_code([_entry(c) for c in codes]) == ExitCode(expected)
