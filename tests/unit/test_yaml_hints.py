"""YAML errors that name the likely cause and the line where the problem starts (issue 15)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy.errors import WorkflowFileError
from prodigy.workflow.load import check_workflow, load_workflow


def _error(tmp_path: Path, text: str) -> WorkflowFileError:
    path = tmp_path / "wf.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    with pytest.raises(WorkflowFileError) as info:
        load_workflow(path)
    return info.value


def test_a_block_scalar_not_indented_under_its_key_points_at_its_first_line(tmp_path: Path) -> None:
    # The shape of the original's examples/capture-parallel-analysis.yml (reduce, "Generate final report").
    error = _error(tmp_path, """
        name: report
        mode: mapreduce
        map:
          input: items.json
          agent_template:
            - shell: echo ${item}
        reduce:
          commands:
            - shell: |
              cat << EOF
              Summary: ${map.successful}/${map.total}
              EOF
            - shell: echo done
        """)
    assert error.message.startswith(f"{tmp_path / 'wf.yml'}:10:7: invalid YAML: the block scalar of `shell:` "
                                    "(line 9) is not indented under its key")
    assert "the YAML parser says: could not find expected ':'" in error.message
    assert "Indent every line of the block more than `shell:`" in error.hint


def test_a_key_after_a_list_at_the_same_level(tmp_path: Path) -> None:
    error = _error(tmp_path, """
        name: x
        mode: mapreduce
        setup:
          - shell: ./list.sh > items.json
          timeout: 60
        map:
          input: items.json
          agent_template: [{shell: "true"}]
        """)
    assert ":5:3: invalid YAML: `timeout:` follows the list that starts at line 4 at the same indentation" in error.message
    assert "commands:" in error.hint


def test_an_unquoted_colon_space(tmp_path: Path) -> None:
    error = _error(tmp_path, """
        - shell: echo "processing" item: 1
        """)
    assert ":1:" in error.message and "an unquoted ': ' inside a value" in error.message
    assert "mapping values are not allowed here" in error.message
    assert "Quote the whole command" in error.hint


def test_a_tab_in_the_indentation(tmp_path: Path) -> None:
    error = _error(tmp_path, "commands:\n\t- shell: make\n")
    assert ":2:1: invalid YAML: a tab character in the indentation" in error.message
    assert "spaces" in error.hint


def test_a_list_item_that_does_not_line_up(tmp_path: Path) -> None:
    error = _error(tmp_path, """
        map:
          agent_template:
            - shell: a
          - shell: b
        """)
    assert ":4:3: invalid YAML: a list item (`-`) that does not line up" in error.message


def test_an_unquoted_hash_that_cut_the_command_short_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "wf.yml"
    path.write_text('- shell: echo #1 done\n- shell: "echo #2"\n- shell: echo three  # a comment\n')
    result = check_workflow(path)
    assert not result.errors
    assert [(w.line, w.key) for w in result.warnings] == [(1, "commands[0].shell")]
    assert "the command is 'echo'" in result.warnings[0].message
