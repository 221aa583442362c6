"""--repo-transfer and the other cluster options through the real CLI handler (no cluster needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def workflow(work: Path) -> Path:
    (work / "items.json").write_text(json.dumps([1, 2]))
    path = work / "wf.yml"
    path.write_text("name: t\nmode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: 'true'\n"
                    "reduce: []\n")
    return path


def test_repo_transfer_goes_with_the_dask_executor(invoke, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    code, out, err = invoke("run", str(workflow(work)), "--repo-transfer", "git")
    assert code == 2 and "--repo-transfer go with --executor dask" in err
    assert not (work / "ledger").exists()
    code, _out, err = invoke("run", str(workflow(work)), "--repo-transfer", "ftp")
    assert code == 2 and "'ftp' is not one of 'shared', 'git'" in err


def test_repo_transfer_is_offered_wherever_the_executor_is(invoke) -> None:
    for command in (["run"], ["resume"], ["resume-job"], ["dlq", "retry"]):
        code, out, _ = invoke(*command, "--help")
        assert code == 0 and "--repo-transfer [shared|git]" in out, command


def test_the_executor_choice_carries_the_transfer_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    from prodigy.execution.mapreduce.executor_choice import executor_choice

    assert executor_choice("dask", None, 2, "git") == {"kind": "dask", "scheduler": None, "local_workers": 2,
                                                       "repo_transfer": "git"}
    assert "repo_transfer" not in executor_choice("dask", None, 2, "shared")
    assert executor_choice("local", None, None, "shared") == {"kind": "local"}
