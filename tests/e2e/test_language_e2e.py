"""The workflow language's documented features, each through the installed CLI with a small workflow written
from the original's own book examples (issue 15). Each test asserts what ran (a ledger), what the variables
held, and where it matters, what a resume after a kill ran again."""

from __future__ import annotations

import json
from pathlib import Path

import mr_support as mr
import pytest
from mr_support import run

import support

pytestmark = pytest.mark.e2e


def test_filter_words_functions_and_multi_key_sort(work: Path) -> None:
    # Items and expressions from docs/mapreduce/work-distribution/filtering-sorting.md.
    rows = [
        {"id": 1, "severity": "high", "priority": 7, "score": 60, "path": "src/a.rs", "tags": ["x"]},
        {"id": 2, "severity": "critical", "priority": 9, "score": "88", "path": "src/b.rs", "tags": []},
        {"id": 3, "severity": "high", "priority": 7, "score": 75, "path": "docs/c.md", "tags": ["y"]},
        {"id": 4, "severity": "low", "priority": 2, "score": 99, "path": "src/d.rs"},
        {"id": 5, "severity": "critical", "priority": 9, "score": 51, "path": "src/e.rs", "tags": ["z"]},
        {"id": 6, "severity": "high", "priority": 3, "score": None, "path": "src/f.rs"},
    ]
    (work / "items.json").write_text(json.dumps({"items": rows}))
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        name: filter-sort
        mode: mapreduce
        map:
          input: items.json
          json_path: "$.items[*]"
          filter: "severity in ['high', 'critical'] AND (is_number(score) OR is_null(score)) AND NOT ends_with(path, '.md')"
          sort_by: "priority DESC, score ASC NULLS FIRST"
          max_parallel: 1
          agent_template:
            - shell: echo "${{item.id}}" >> "{ledger}"
        """)
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 0, out + err
    # kept: 1 (p7, 60), 5 (p9, 51), 6 (p3, null); 2 has a string score, 3 is .md, 4 is low
    assert mr.ledger(ledger) == ["5", "1", "6"]


def test_when_with_the_whole_condition_inside_braces_and_word_operators(work: Path) -> None:
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        - shell: "exit 3"
          capture: unit
          on_failure: "true"
        - shell: "true"
          capture: fmt
        - shell: echo "analyze unit" >> "{ledger}"
          when: "${{unit.exit_code != 0}}"
        - shell: echo "build" >> "{ledger}"
          when: "${{unit.exit_code == 0 && fmt.exit_code == 0}}"
        - shell: echo "either" >> "{ledger}"
          when: "${{unit.success}} OR ${{fmt.success}}"
        """)
    code, out, err = run("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 0, out + err
    assert mr.ledger(ledger) == ["analyze unit", "either"]
