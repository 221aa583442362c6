"""Hostile item data: a NUL byte is named by item and field; a working_dir built from item data stays inside
the worktree (`|raw` is the deliberate opt-out)."""

from __future__ import annotations

import json
from pathlib import Path

import support
from prodigy.state.jobs import open_store


def _job_errors(home: Path) -> dict[int, str]:
    session = json.loads(next((home / "sessions").glob("*.json")).read_text())
    store = open_store(session["job_id"], session["repo"])
    state = store.load_state()
    errors = {}
    for index, item in state.items.items():
        if item.offset is not None:
            record = store.record_at(item.offset)
            if record and record.get("err"):
                errors[index] = record["err"]
    return errors


def test_an_item_with_a_nul_byte_is_named_by_item_and_field(invoke, work: Path, prodigy_home: Path) -> None:
    (work / "items.json").write_text(json.dumps([{"name": "ok"}, {"name": "a\u0000b"}]))
    support.write_workflow(work, """
        name: nul
        mode: mapreduce
        map:
          input: items.json
          json_path: "$[*]"
          agent_template:
            - shell: "echo ${item.name}"
        """)
    code, out, err = invoke("run", str(work / "workflow.yml"), "--no-worktree", "-p", str(work))
    assert code == 3, (out, err)
    errors = _job_errors(prodigy_home)
    assert list(errors) == [1]
    assert errors[1].startswith("item_1: ${item.name} at position 5 holds a NUL byte"), errors[1]


def test_working_dir_from_item_data_cannot_leave_the_worktree(invoke, work: Path, prodigy_home: Path,
                                                              tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (work / "inside").mkdir()
    (work / "items.json").write_text(json.dumps([{"dir": "inside"}, {"dir": "../outside"}, {"dir": str(outside)}]))
    support.write_workflow(work, """
        name: dirs
        mode: mapreduce
        map:
          input: items.json
          json_path: "$[*]"
          agent_template:
            - write_file:
                path: written.txt
                content: "from ${item.dir}"
              working_dir: "${item.dir}"
        """)
    code, out, err = invoke("run", str(work / "workflow.yml"), "--no-worktree", "-p", str(work))
    assert code == 3, (out, err)
    assert (work / "inside" / "written.txt").exists()
    assert not (outside / "written.txt").exists()
    errors = _job_errors(prodigy_home)
    assert sorted(errors) == [1, 2]
    assert all("outside the worktree" in e and "${item.dir|raw}" in e for e in errors.values()), errors


def test_raw_is_the_opt_out_for_a_path_the_workflow_means(invoke, work: Path, tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (work / "items.json").write_text(json.dumps([{"dir": str(outside)}]))
    support.write_workflow(work, """
        name: dirs
        mode: mapreduce
        map:
          input: items.json
          json_path: "$[*]"
          agent_template:
            - shell: "pwd > here.txt"
              working_dir: "${item.dir|raw}"
        """)
    code, out, err = invoke("run", str(work / "workflow.yml"), "--no-worktree", "-p", str(work))
    assert code == 0, (out, err)
    assert (outside / "here.txt").read_text().strip() == str(outside)
