"""Reading what the original (Rust) prodigy wrote: shapes, damaged files, rotated/gzipped events, which map
items finished (job state, or events + DLQ), and which id names what (the spec's job -> session strategies)."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest

import legacy_support as rust
from prodigy.errors import ExitCode
from prodigy.legacy import discover, shapes
from prodigy.legacy.convert import _job_stamp
from prodigy.legacy.events import read_events
from prodigy.legacy.find import find, find_exact
from prodigy.legacy.recover import recover

SID = "session-7b0b7a33-2c0e-4c53-9a57-2a1f0e6d1c11"
JOB = "mapreduce-20251112_190130"


# ---------------------------------------------------------------- records and their shapes


def test_the_original_tests_checkpoint_and_session_read_as_written(prodigy_home: Path) -> None:
    variables = {"variable1": "test-value", "shell": {"output": "Command 3 output"}}
    cp = rust.write_checkpoint(prodigy_home, "session-resume-middle-67890",
                               rust.checkpoint_json("session-resume-middle-67890", 3, 5, variables))
    checkpoint = shapes.read_checkpoint(cp)
    assert (checkpoint.current_step_index, checkpoint.total_steps, checkpoint.status) == (3, 5, "Interrupted")
    assert [s.index for s in checkpoint.steps] == [0, 1, 2] and checkpoint.steps[0].duration == 1.0
    assert checkpoint.variables == variables and checkpoint.workflow_path == "test-resume-workflow.yaml"
    path = rust.write_session(prodigy_home, rust.session_json("session-resume-middle-67890", executed=3, total=5))
    session = shapes.read_session(path)
    assert (session.session_type, session.status, session.our_status) == ("Workflow", "Paused", "interrupted")
    assert session.completed_steps == (0, 1, 2) and session.worktree_name == "session-resume-middle-67890"


def test_our_session_records_are_not_mistaken_for_the_originals(prodigy_home: Path) -> None:
    from prodigy.state import sessions
    from prodigy.state.sessions import SessionRecord

    sessions.save(SessionRecord(id="session-11111111-1111-4111-8111-111111111111", kind="workflow",
                                status="interrupted", workflow_path="/w.yml", workflow_sha256="x",
                                workflow_name="w", run_dir="/"))
    rust.write_session(prodigy_home, rust.session_json(SID))
    assert discover.original_session_ids() == [SID]
    assert discover.session_path("session-11111111-1111-4111-8111-111111111111") is None


@pytest.mark.parametrize(("edit", "field"), [
    (lambda d: d["execution_state"].pop("current_step_index"), "execution_state.current_step_index"),
    (lambda d: d["completed_steps"][1].update(step_index="two"), "completed_steps[1].step_index"),
    (lambda d: d["execution_state"].update(status="Sleeping"), "execution_state.status"),
    (lambda d: d.update(variable_state=[1, 2]), "variable_state"),
])
def test_a_checkpoint_of_an_unexpected_shape_names_the_file_and_the_field(prodigy_home: Path, edit, field) -> None:
    data = rust.checkpoint_json("s1", 2, 5, {})
    edit(data)
    path = rust.write_checkpoint(prodigy_home, "s1", data)
    with pytest.raises(shapes.LegacyFormatError) as caught:
        shapes.read_checkpoint(path)
    assert f"`{field}`" in caught.value.message and str(path) in caught.value.message
    assert caught.value.exit_code == ExitCode.STATE_ERROR


def test_a_truncated_session_record_is_a_clear_error(prodigy_home: Path) -> None:
    path = rust.write_session(prodigy_home, rust.session_json(SID))
    path.write_text(path.read_text()[:40])
    with pytest.raises(shapes.LegacyFormatError, match="is not valid JSON"):
        shapes.read_session(path)


def test_a_checkpoint_from_a_newer_format_is_refused_by_version(prodigy_home: Path) -> None:
    data = rust.checkpoint_json("s1", 2, 5, {})
    data["version"] = 2
    with pytest.raises(shapes.LegacyFormatError, match="version 2"):
        shapes.read_checkpoint(rust.write_checkpoint(prodigy_home, "s1", data))


def test_an_old_checkpoint_without_the_later_optional_fields_reads(prodigy_home: Path) -> None:
    """Checkpoints from before workflow_path and retry_state existed (the spec's older versions)."""
    data = rust.checkpoint_json("s1", 1, 3, {}, workflow_path=None)
    for step in data["completed_steps"]:
        step.pop("retry_state")
        step.pop("output")
    data.pop("workflow_name")
    checkpoint = shapes.read_checkpoint(rust.write_checkpoint(prodigy_home, "s1", data))
    assert checkpoint.workflow_path is None and len(checkpoint.steps) == 1


# ---------------------------------------------------------------- events, DLQ, job state


def test_rotated_events_are_read_gzipped_or_merely_renamed_and_a_torn_line_is_skipped(prodigy_home: Path) -> None:
    lines = rust.map_events(JOB, 6, completed=[0, 1, 2, 4], failed=[3], started=[5])
    files = rust.write_events(prodigy_home, SID, JOB, lines, rotate_after=4, gzip_rotated=True)
    torn = '{"id": "x", "timestamp": "2025-11-12T19:02:00Z", "event": {"event_type": "agent_completed", "job'
    files[-1].write_text(files[-1].read_text() + torn)  # a crash mid-write
    read = read_events(discover.event_files(files[0].parent))
    assert [e.type for e in read.events].count("agent_completed") == 4
    assert any("1 unreadable line" in w for w in read.warnings)
    # The original's rotation only renamed the file: a .jsonl.gz holding plain text reads too.
    plain = rust.write_events(prodigy_home, "other", JOB, lines, rotate_after=4, gzip_rotated=False)
    assert gzip.open(files[0]).read().startswith(b"{") and plain[0].read_bytes().startswith(b"{")
    assert len(read_events(discover.event_files(plain[0].parent)).events) == len(read.events)


def test_recovery_from_events_and_dlq_items(prodigy_home: Path) -> None:
    lines = rust.map_events(JOB, 10, completed=[0, 1, 2, 4, 5], failed=[3], started=[6, 7])
    rust.write_events(prodigy_home, SID, JOB, lines, rotate_after=5)
    rust.dlq_item(prodigy_home, SID, JOB, 3, {"n": 3}, exit_code=7, attempts=2)
    recovery = recover(discover.job_files(JOB))
    assert recovery.source == "events" and recovery.total_items == 10 and recovery.recorded_input == "items.json"
    assert recovery.indexes("succeeded") == [0, 1, 2, 4, 5]
    assert recovery.indexes("failed") == [3]
    assert [(a.attempt, a.exit_code) for a in recovery.attempts[3]] == [(1, 7), (2, 7)]  # the DLQ's history
    assert recovery.started_unfinished == [6, 7]
    assert recovery.dlq_data == {3: {"n": 3}}
    assert any("item_3.json" in f for f in recovery.files) and any(f.endswith(".jsonl.gz") for f in recovery.files)


def test_a_dlq_entry_of_an_item_that_completed_later_is_ignored(prodigy_home: Path) -> None:
    """The original never cleared DLQ entries when a retry succeeded."""
    lines = rust.map_events(JOB, 3, completed=[0, 1, 2])
    rust.write_events(prodigy_home, SID, JOB, lines)
    path = rust.dlq_item(prodigy_home, SID, JOB, 1, {"n": 1})
    data = json.loads(path.read_text())
    data["last_attempt"] = "2025-11-12T19:00:00Z"  # before its completion
    path.write_text(json.dumps(data))
    recovery = recover(discover.job_files(JOB))
    assert recovery.indexes("succeeded") == [0, 1, 2] and not recovery.indexes("failed")
    assert any("item_1: its DLQ entry" in n for n in recovery.notes)


def test_an_agent_known_only_by_its_agent_id_and_a_merged_worktree_counts(prodigy_home: Path) -> None:
    lines = rust.map_events(JOB, 3, completed=[0], started=[1, 2])
    lines = [line for line in lines if not (line["event"]["event_type"] == "agent_started"
                                            and line["event"]["item_id"] == "item_0")]  # the start was lost
    lines.append(rust.event("worktree_merged", rust.NOW + timedelta(minutes=1), job_id=JOB, agent_id=f"{JOB}_agent_2", target_branch="x"))
    rust.write_events(prodigy_home, SID, JOB, lines)
    recovery = recover(discover.job_files(JOB))
    assert recovery.indexes("succeeded") == [0, 2] and recovery.started_unfinished == [1]
    assert recovery.attempts[2][0].merged_only


def test_job_state_file_is_preferred_and_a_damaged_latest_version_falls_back(prodigy_home: Path) -> None:
    items = [{"n": i} for i in range(5)]
    rust.job_state(prodigy_home, "proj", JOB, items, succeeded=[0], version=6)
    latest = rust.job_state(prodigy_home, "proj", JOB, items, succeeded=[0, 1], failed=[2], running=[3], version=7)
    recovery = recover(discover.job_files(JOB))
    assert recovery.source == "job state" and recovery.work_items == items
    assert recovery.indexes("succeeded") == [0, 1] and recovery.indexes("failed") == [2]
    assert recovery.started_unfinished == [3]
    latest.write_text("{truncated")
    recovery = recover(discover.job_files(JOB))
    assert recovery.indexes("succeeded") == [0] and any("tried the previous version" in w for w in recovery.warnings)


# ---------------------------------------------------------------- which id names what


def test_job_ids_resolve_to_their_session_by_each_strategy(prodigy_home: Path) -> None:
    rust.write_session(prodigy_home, rust.session_json(SID))
    # events under the session's folder (the original used the worktree name as {repo})
    rust.write_events(prodigy_home, SID, JOB, rust.map_events(JOB, 1, completed=[0]))
    assert discover.session_of_job(JOB) == (SID, f"the folder its events/DLQ are under ({SID})")
    # mapreduce_data.job_id of a session record
    other = "session-0f0f0f0f-0000-4000-8000-000000000000"
    epoch_job = "mapreduce-1731438090123"
    rust.write_session(prodigy_home, rust.session_json(other, session_type="MapReduce", mapreduce_data={
        "job_id": epoch_job, "total_items": 1, "processed_items": 0, "failed_items": 0, "agent_count": 0,
        "phase": "Map", "reduce_results": None}))
    rust.write_events(prodigy_home, "proj", epoch_job, rust.map_events(epoch_job, 1, completed=[0]))
    assert discover.session_of_job(epoch_job)[0] == other
    # a mapping file wins over the scan
    rust.write_json(prodigy_home / "state" / "proj" / "mappings" / f"{epoch_job}.json",
                    {"session_id": SID, "job_id": epoch_job, "workflow_name": "w", "created_at": "x"})
    assert discover.session_of_job(epoch_job)[0] == SID
    # session-mapreduce-...: the session id is in the job id
    legacy = "session-mapreduce-20251001_101010"
    rust.write_session(prodigy_home, rust.session_json(legacy))
    rust.write_events(prodigy_home, "proj", legacy, rust.map_events(legacy, 1, completed=[0]))
    assert discover.session_of_job(legacy) == (legacy, "the session id in the job id")


def test_a_workflow_checkpoint_id_finds_its_session_and_prefixes_work(prodigy_home: Path) -> None:
    rust.write_session(prodigy_home, rust.session_json(SID))
    rust.write_checkpoint(prodigy_home, SID, rust.checkpoint_json("workflow-1731438090123", 1, 3, {}))
    found = find_exact("workflow-1731438090123")
    assert found is not None and found.key == SID and "checkpoint" in found.named_by
    assert find("session-7b0b").key == SID
    assert find_exact("session-7b0b") is None


def test_job_id_stamps_for_each_of_the_originals_forms() -> None:
    assert _job_stamp("mapreduce-20251112_190130", None).strftime("%Y%m%d_%H%M%S") == "20251112_190130"
    assert _job_stamp("session-mapreduce-20251001_101010", None).year == 2025
    assert _job_stamp("mapreduce-1731438090123", None).year == 2024
