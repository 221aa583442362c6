"""The workflows `exec` and `batch` generate, and which files a batch pattern selects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prodigy.errors import UsageError
from prodigy.workflow.generate import batch_files, batch_workflow, exec_workflow, parse_command
from prodigy.workflow.load import load_workflow


@pytest.mark.parametrize(("text", "expected"), [
    ("claude: /refactor app.py", ("claude", "/refactor app.py")),
    ("shell: npm test", ("shell", "npm test")),
    ("/add-types", ("claude", "/add-types")),
    ("cargo test", ("shell", "cargo test")),
    ("  shell:   make  ", ("shell", "make")),
])
def test_parse_command(text: str, expected: tuple[str, str]) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "shell:", "claude:  "])
def test_empty_commands_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_command(text)


def _load(tmp_path: Path, data: dict):
    path = tmp_path / "generated.yml"
    path.write_text(yaml.safe_dump(data))
    return load_workflow(path)


def test_exec_workflow_applies_retry_and_timeout(tmp_path: Path) -> None:
    workflow = _load(tmp_path, exec_workflow("shell: make test", retry=3, timeout=60))
    (step,) = workflow.steps
    assert (step.kind, step.command, step.timeout) == ("shell", "make test", 60.0)
    assert step.on_failure is not None and step.on_failure.max_attempts == 3
    plain = _load(tmp_path, exec_workflow("/lint"))
    assert plain.steps[0].kind == "claude" and plain.steps[0].on_failure is None


def test_batch_workflow_is_a_mapreduce_over_the_items_file(tmp_path: Path) -> None:
    items = tmp_path / "items.json"
    workflow = _load(tmp_path, batch_workflow("claude: /types ${item}", items, pattern="*.py", parallel=0,
                                              retry=2, timeout=30))
    assert workflow.is_mapreduce and workflow.map.input == str(items)
    assert workflow.map.max_parallel == 5  # 0 means 5, as in the original
    assert workflow.map.agent_template[0].command == "/types ${item}"
    assert workflow.map.agent_template[0].timeout == 30.0
    assert workflow.error_policy.retry_attempts == 2


def test_batch_files_without_a_slash_match_names_in_every_folder(tmp_path: Path) -> None:
    for rel in ("a.py", "pkg/b.py", "pkg/deep/c.py", "pkg/readme.md", ".git/hooks/x.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert batch_files("*.py", tmp_path) == ["a.py", "pkg/b.py", "pkg/deep/c.py"]
    assert batch_files("pkg/*.py", tmp_path) == ["pkg/b.py"]
    assert batch_files("pkg/**/*.py", tmp_path) == ["pkg/b.py", "pkg/deep/c.py"]


def test_batch_files_that_match_nothing_are_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="No file matches"):
        batch_files("*.rs", tmp_path)
    with pytest.raises(UsageError):
        batch_files(" ", tmp_path)
