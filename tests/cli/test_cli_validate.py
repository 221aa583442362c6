"""`prodigy validate`: every problem at once, exit 2 on errors, 0 for valid files; the real workflow files."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL = Path("/work/shared/prodigy-workflows")
INVALID_REAL = {"mapreduce-json-input.yml"}
REAL_FILES = sorted(p.name for p in REAL.glob("*.yml")) if REAL.is_dir() else []


def test_valid_file(invoke, write_workflow) -> None:
    path = write_workflow("- shell: echo hi\n- shell: echo there\n")
    code, out, _ = invoke("validate", str(path))
    assert code == 0 and "valid standard workflow 'workflow' with 2 steps" in out


def test_all_problems_are_reported_and_exit_2(invoke, write_workflow) -> None:
    path = write_workflow("""
        - shell: echo hi
          captur: x
        - name: nothing
        - shell: a
          claude: /b
        - shell: x
          capture: X
          capture_format: xml
    """)
    code, out, _ = invoke("validate", str(path))
    assert code == 2
    assert f"{path}:2: commands[0].captur: unknown key; did you mean 'capture'?" in out
    assert f"{path}:3: commands[1]: no command" in out
    assert f"{path}:4: commands[2]: two commands in one step" in out
    assert f"{path}:8: commands[3].capture_format" in out
    assert "4 error(s)" in out


def test_several_files_are_all_checked(invoke, write_workflow) -> None:
    good = write_workflow("- shell: echo\n", "good.yml")
    bad = write_workflow("- shell: echo id: 1\n", "bad.yml")
    code, out, _ = invoke("validate", str(bad), str(good))
    assert code == 2
    assert f"{bad}:1:17: invalid YAML" in out and "Quote" in out
    assert f"{good}: valid" in out


def test_warnings_alone_exit_0(invoke, write_workflow) -> None:
    path = write_workflow("- shell: echo\n  capture_format: json\n")
    code, out, _ = invoke("validate", str(path))
    assert code == 0 and "warning" in out and "has no effect without `capture:`" in out


def test_missing_file(invoke, work: Path) -> None:
    code, out, _ = invoke("validate", str(work / "nope.yml"))
    assert code == 2 and "Workflow file not found" in out


@pytest.mark.skipif(not REAL_FILES, reason="the shared workflow files are not available")
@pytest.mark.parametrize("name", REAL_FILES)
def test_real_workflow_files(invoke, name: str) -> None:
    code, out, _ = invoke("validate", str(REAL / name))
    if name in INVALID_REAL:
        assert code == 2, out
    elif name == "environment-example.yml" and code == 2:
        pass  # either outcome is allowed by EXPECTED.md: see test_environment_example_parses_or_names_...
    elif name == "capture-json-processing.yml" and code == 2:
        # EXPECTED.md allows `${x|length:100}` (an unsupported filter form) to be a clear validation error.
        assert ":57: commands[5].shell:" in out and "length" in out and "1 error(s)" in out, out
    else:
        assert code == 0, out
        assert "valid" in out


@pytest.mark.skipif(not REAL_FILES, reason="the shared workflow files are not available")
def test_real_files_count() -> None:
    assert len(REAL_FILES) == 14


@pytest.mark.skipif(not REAL_FILES, reason="the shared workflow files are not available")
def test_mapreduce_json_input_reports_line_30_and_a_column(invoke) -> None:
    code, out, _ = invoke("validate", str(REAL / "mapreduce-json-input.yml"))
    assert code == 2
    assert f"{REAL / 'mapreduce-json-input.yml'}:30:46: invalid YAML" in out
    assert "Quote the whole command" in out


@pytest.mark.skipif(not REAL_FILES, reason="the shared workflow files are not available")
def test_environment_example_parses_or_names_what_is_unsupported(invoke) -> None:
    code, out, _ = invoke("validate", str(REAL / "environment-example.yml"))
    if code == 0:
        assert "valid standard workflow 'environment-example' with 5 steps" in out
    else:
        errors = [line for line in out.splitlines() if line.startswith("error")]
        assert code == 2 and errors and all("not supported" in line for line in errors), out


def test_files_a_run_worktree_would_not_have_are_warned_about(invoke, git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "items.json").write_text("[]")
    (git_repo / "check.sh").write_text("true")
    workflow = tmp_path / "wf.yml"
    workflow.write_text("name: v\nmode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n"
                        "    - shell: sh check.sh && cat README.md\n")
    code, out, _ = invoke("validate", str(workflow), "-p", str(git_repo))
    assert code == 0, out
    assert ("warning items.json, check.sh are not committed: a run in this git repository uses a worktree of the "
            "last commit, which will not have them unless a step creates them. Commit, or run with --no-worktree."
            ) in out
    assert "README.md" not in out.split("warning", 1)[1].split("\n")[0]  # committed: fine
    code, out, _ = invoke("validate", str(workflow), "-p", str(tmp_path))  # not a repository: no worktree
    assert code == 0 and "warning" not in out
