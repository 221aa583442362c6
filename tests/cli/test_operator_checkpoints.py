"""`prodigy checkpoints list|show|validate` against state written by real runs, damaged in the ways a crash
or a person can damage it."""

from __future__ import annotations

import json
from pathlib import Path

import operator_state as ops
import pytest

from prodigy.state.jobs import JobStore

VALIDATE_KEYS = {"session_id", "job_id", "kind", "valid", "problems", "found_before_repair", "repaired",
                 "checked", "notes"}


@pytest.fixture
def state(tmp_path_factory: pytest.TempPathFactory, prodigy_home: Path) -> ops.Built:
    return ops.install(ops.build(tmp_path_factory.mktemp("operator-runs")), prodigy_home)


def codes(*args: str) -> tuple[int, list[str], dict]:
    code, out, err = ops.invoke("checkpoints", "validate", *args, "--json")
    data = json.loads(out)
    assert set(data) == VALIDATE_KEYS, err
    return code, [p["code"] for p in data["problems"]], data


def test_list_every_session_and_json_shape(state: ops.Built) -> None:
    code, out, err = ops.invoke("checkpoints", "list")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["SESSION", "JOB", "KIND", "STATUS", "SIZE", "MODIFIED", "PATH"]
    data = ops.json_of("checkpoints", "list")
    assert set(data) == {"checkpoints", "warnings"}
    entries = {e["session_id"]: e for e in data["checkpoints"]}
    assert set(entries) == {state.dlq_session, state.interrupted_session, state.completed_session,
                            state.standard_session}
    assert all(set(e) == {"session_id", "job_id", "kind", "status", "path", "exists", "size_bytes", "modified_at",
                          "journal_path", "journal_size_bytes"} for e in entries.values())
    assert entries[state.standard_session]["kind"] == "standard" and entries[state.standard_session]["exists"]
    job = entries[state.dlq_session]
    assert job["kind"] == "job" and job["job_id"] == state.dlq_job and job["path"].endswith("checkpoint.json")
    one = ops.json_of("checkpoints", "list", state.interrupted_job[:48])["checkpoints"]
    assert [e["session_id"] for e in one] == [state.interrupted_session]


def test_list_empty(prodigy_home: Path) -> None:
    code, out, _ = ops.invoke("checkpoints", "list")
    assert code == 0 and "No checkpoints yet" in out


def test_show_job_snapshot_and_standard_checkpoint(state: ops.Built) -> None:
    data = ops.json_of("checkpoints", "show", state.interrupted_job)
    assert set(data) == {"kind", "session_id", "job_id", "path", "exists", "size_bytes", "modified_at",
                         "journal_path", "journal_size_bytes", "offset", "records_after_snapshot", "state", "error"}
    assert data["kind"] == "job" and data["offset"] == data["journal_size_bytes"]
    assert set(data["state"]) == {"phase", "status", "item_count", "items", "setup_steps_done",
                                  "reduce_steps_done", "resumes", "error"}
    assert data["state"]["phase"] == "map" and data["state"]["status"] == "interrupted"
    assert data["state"]["items"]["pending"] == 4
    code, out, _ = ops.invoke("checkpoints", "show", state.interrupted_session)
    assert code == 0 and "Status:" in out and "interrupted" in out and "Records after it: 0" in out
    std = ops.json_of("checkpoints", "show", state.standard_session)
    assert std["kind"] == "standard" and std["state"]["completed_steps"] == [1]
    assert std["state"]["next_step"] == 2 and std["state"]["total_steps"] == 2


def test_validate_a_healthy_job(state: ops.Built) -> None:
    code, out, err = ops.invoke("checkpoints", "validate", state.dlq_job)
    assert code == 0, err
    assert f"✔ {state.dlq_job}: state is valid" in out
    code, problems, data = codes(state.standard_session)
    assert code == 0 and problems == [] and data["kind"] == "standard"


def test_validate_detects_a_truncated_journal_and_repair_fixes_the_snapshot(state: ops.Built) -> None:
    folder = ops.job_folder(state.home, state.dlq_job)
    journal = folder / "journal.jsonl"
    data = journal.read_bytes()
    journal.write_bytes(data[:-15])  # cut mid-line: the last record is torn
    code, out, _ = ops.invoke("checkpoints", "validate", state.dlq_job)
    assert code == 6
    assert "[journal_torn]" in out and "incomplete last record" in out
    assert "[snapshot_offset_beyond_journal]" in out and "(--repair fixes this)" in out
    code, out, err = ops.invoke("checkpoints", "validate", state.dlq_job[:48], "--repair")
    assert code == 0, (out, err)
    assert "Repaired: cut an incomplete last record" in out and "Repaired: rebuilt" in out
    assert journal.read_bytes() == data[: data.rstrip(b"\n").rfind(b"\n") + 1]
    snapshot = json.loads((folder / "checkpoint.json").read_text())
    assert snapshot["offset"] == journal.stat().st_size
    assert JobStore(folder).load_state().warnings == []
    assert codes(state.dlq_job)[:2] == (0, [])


def test_a_missing_snapshot_is_healthy_not_damage(state: ops.Built) -> None:
    """Right after a kill before the first snapshot there is none: loading folds the whole journal."""
    snapshot = ops.job_folder(state.home, state.completed_job) / "checkpoint.json"
    snapshot.unlink()
    code, problems, data = codes(state.completed_job)
    assert code == 0 and problems == []
    assert any("no snapshot yet" in note for note in data["notes"])


def test_validate_detects_a_snapshot_that_disagrees_with_the_journal(state: ops.Built) -> None:
    path = ops.job_folder(state.home, state.dlq_job) / "checkpoint.json"
    snapshot = json.loads(path.read_text())
    snapshot["state"]["items"]["1"][0] = "succeeded"
    snapshot["state"]["phase"] = "map"
    path.write_text(json.dumps(snapshot))
    code, out, _ = ops.invoke("checkpoints", "validate", state.dlq_job)
    assert code == 6 and "[snapshot_disagrees]" in out
    assert "1 item(s) differ (item_1)" in out and "phase: snapshot 'map' vs journal 'done'" in out
    assert codes(state.dlq_job, "--repair")[:2] == (0, [])


def test_validate_reports_unreadable_snapshots_and_broken_work_lists(state: ops.Built) -> None:
    folder = ops.job_folder(state.home, state.interrupted_job)
    (folder / "checkpoint.json").write_text("{not json")
    items = folder / "items.jsonl"
    items.write_text("\n".join(items.read_text().splitlines()[:3]) + "\n")
    code, problems, _ = codes(state.interrupted_job)
    assert code == 6 and problems == ["snapshot_unreadable", "items_count_mismatch"]
    code, problems, data = codes(state.interrupted_job, "--repair")
    assert code == 6 and problems == ["items_count_mismatch"]  # the work list cannot be rebuilt
    assert "3 line(s) but the journal froze 4 item(s)" in data["problems"][0]["message"]
    items.unlink()
    assert codes(state.interrupted_job)[1] == ["items_missing"]


def test_validate_reports_garbled_journal_lines(state: ops.Built) -> None:
    journal = ops.job_folder(state.home, state.completed_job) / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    lines.insert(3, "garbage}\n")
    journal.write_text("".join(lines))
    code, problems, data = codes(state.completed_job)
    assert code == 6 and "journal_garbled" in problems
    assert "skipped an unreadable record at byte" in data["problems"][0]["message"]
    assert not data["problems"][0]["repairable"]
