"""`prodigy progress` in process against state written by real runs: the snapshot, the export, the text view
of finished and interrupted jobs, and its errors. Watching never changes the state."""

from __future__ import annotations

import json
from pathlib import Path

import operator_state as ops
import pytest


@pytest.fixture
def state(tmp_path_factory: pytest.TempPathFactory, prodigy_home: Path) -> ops.Built:
    return ops.install(ops.build(tmp_path_factory.mktemp("operator-runs")), prodigy_home)


def test_json_snapshot_of_a_finished_job(state: ops.Built) -> None:
    before = ops.tree(state.home)
    code, out, err = ops.invoke("progress", state.dlq_job, "--format", "json")
    assert code == 0, err
    snap = json.loads(out)
    assert snap["job_id"] == state.dlq_job and snap["session_id"] == state.dlq_session
    assert snap["counts"] == {"total": 4, "succeeded": 2, "failed": 2, "dlq": 2, "skipped": 0, "running": 0,
                              "pending": 0, "retried": 0, "retrying": 0, "finished": 4}
    assert (snap["status"], snap["phase"], snap["live"], snap["ended"]) == ("completed", "done", False, True)
    assert snap["next_command"] == f"prodigy resume-job {state.dlq_job} --force" and snap["resume_command"] is None
    by_session = json.loads(ops.invoke("progress", state.dlq_session[:20], "--json")[1])
    assert {**by_session, "generated_at": None} == {**snap, "generated_at": None}
    assert ops.tree(state.home) == before  # read-only


def test_follow_on_a_finished_job_prints_one_line_and_ends(state: ops.Built) -> None:
    code, out, err = ops.invoke("progress", state.completed_job, "--format", "json", "--follow")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["counts"]["succeeded"] == 4


def test_text_view_of_a_finished_job(state: ops.Built) -> None:
    code, out, err = ops.invoke("progress", state.completed_session)
    assert code == 0, err
    assert f"Job:     {state.completed_job}" in out
    assert "Map    4 item(s), 4 already finished" in out
    assert "Job completed: 4 succeeded, 0 failed" in out and "\x1b" not in out


def test_text_view_of_an_interrupted_job_names_the_resume_command(state: ops.Built) -> None:
    code, out, err = ops.invoke("progress", state.interrupted_job)
    assert code == 0, err
    assert "Job interrupted in the map phase: 0 succeeded, 0 failed, 4 not finished" in out
    assert f"Next: prodigy resume {state.interrupted_session}" in out


def test_export_writes_valid_json_with_every_item(state: ops.Built, tmp_path: Path) -> None:
    target = tmp_path / "progress.json"
    code, out, err = ops.invoke("progress", state.dlq_job, "--export", str(target))
    assert code == 0, err
    assert f"Wrote the progress of {state.dlq_job} (4 item(s), completed, phase done) to {target}" in out
    data = json.loads(target.read_text())
    assert [r["item_id"] for r in data["items"]] == ["item_0", "item_1", "item_2", "item_3"]
    failed = [r for r in data["items"] if r["status"] == "dlq"]
    assert len(failed) == 2 and all("exited with code 1" in r["error"] for r in failed)
    assert data["snapshot"]["counts"]["dlq"] == 2 and data["timeline"]["points"][-1][1:] == [2, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.json"]  # no temp file left
    code, out, _err = ops.invoke("progress", state.dlq_job, "--export", "-")
    assert code == 0 and json.loads(out)["snapshot"]["job_id"] == state.dlq_job


def test_without_an_id_the_most_recent_job_is_shown(state: ops.Built) -> None:
    code, out, err = ops.invoke("progress", "--json")
    assert code == 0, err
    assert json.loads(out)["job_id"] == state.completed_job  # the newest MapReduce session; none runs
    assert f"No job is running; showing the most recent one: {state.completed_job}" in err


@pytest.mark.parametrize(("args", "message"), [
    (["nope-123"], "no session or job id matches"),
    (["../../etc"], "Invalid"),
    (["--web", "1", "--json"], "does not combine"),
    (["--host", "0.0.0.0"], "--host only applies with --web"),
])
def test_bad_input_is_a_usage_error(state: ops.Built, args: list[str], message: str) -> None:
    code, out, err = ops.invoke("progress", *args)
    assert code == 2 and message in err, (out, err)


def test_a_standard_session_has_no_job_to_watch(state: ops.Built) -> None:
    code, _out, err = ops.invoke("progress", state.standard_session)
    assert code == 2 and "standard workflow" in err


def test_an_export_that_cannot_be_written(state: ops.Built, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _out, err = ops.invoke("progress", state.dlq_job, "--export", str(blocker / "p.json"))
    assert code == 2 and "Cannot write" in err
    code, _out, err = ops.invoke("progress", state.dlq_job, "--export", str(tmp_path / "missing" / "p.json"))
    assert code == 2 and "does not exist" in err
