"""State that never crashes a reader and never writes where it should not: typed records read from disk,
private modes, symlinked folders, failed and short writes, stale temp files."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from prodigy import paths
from prodigy.errors import ExitCode, StateError, StateWriteError
from prodigy.state import records, sessions, storage
from prodigy.state.jobs import PENDING, SUCCEEDED, JobMeta, JobStore
from prodigy.state.journal import Journal, read_journal

JOB = "mapreduce-20260101_120000_session-00000000-0000-4000-8000-000000000002"
SESSION = "session-00000000-0000-4000-8000-000000000002"


def new_store() -> JobStore:
    meta = JobMeta(job_id=JOB, session_id=SESSION, workflow_path="/w/workflow.yml", workflow_sha256="abc",
                   run_dir="/w", repo="repo", created_at="2026-01-01T00:00:00Z")
    return JobStore.create(meta, "name: t\n")


# ---------------------------------------------------------------- typed records


@pytest.mark.parametrize("bad", [
    {"t": "done"},  # no item index
    {"t": "done", "i": "3"},
    {"t": "done", "i": -1},
    {"t": "done", "i": 1, "a": 0},
    {"t": "items_frozen", "count": "many"},
    {"t": "items_frozen", "count": 10**12},
    {"t": "setup_step", "index": None},
    {"t": "start", "i": 1, "pid": "x", "st": 1.0},
    {"t": "proc", "pid": 3, "st": 1.0},  # neither an item nor a phase step
    {"t": "dlq_retry", "items": ["item_1"]},
    {"t": "done", "i": 2, "s": "exploded"},
    {"t": "job_status"},
])
def test_a_journal_record_of_the_wrong_shape_is_skipped_with_file_and_byte_offset(bad: dict) -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 3})
    store.close()
    good = store.journal_path.stat().st_size
    with open(store.journal_path, "ab") as handle:
        handle.write(json.dumps(bad).encode() + b"\n")
        handle.write(b'{"t":"done","i":0}\n')
    state = JobStore(store.folder).load_state()
    assert state.status_of(0) == SUCCEEDED and state.item_count == 3
    assert len(state.warnings) == 1, state.warnings
    assert str(store.journal_path) in state.warnings[0] and f"at byte {good}" in state.warnings[0]


def test_unknown_record_types_still_pass_for_newer_writers() -> None:
    line = b'{"t":"from_the_future","i":"whatever"}\n'
    assert records.decode_journal_line(line) == {"t": "from_the_future", "i": "whatever"}


def test_a_record_with_nan_written_by_python_json_is_read() -> None:
    assert records.decode_journal_line(b'{"t":"setup_step","index":0,"vars":{"x":NaN}}\n')["index"] == 0
    with pytest.raises(records.BadRecord):
        records.decode_journal_line(b'{"t":"setup_step","index":"0","vars":{"x":NaN}}\n')


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(state={**d["state"], "items": []}),
    lambda d: d.update(offset=-5),
    lambda d: d.update(state={**d["state"], "succeeded": [0, 1]}),
    lambda d: d.update(state={**d["state"], "phase": 7}),
    lambda d: d.update(state={**d["state"], "items": {"1": ["running", 1, None, None, ["x", 1, 2.0], None, 0, 0]}}),
    lambda d: d.pop("state"),
])
def test_a_snapshot_of_the_wrong_shape_is_rebuilt_from_the_journal(mutate) -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 2})
    store.append({"t": "done", "i": 1})
    store.close()
    data = json.loads(store.snapshot_path.read_text())
    mutate(data)
    store.snapshot_path.write_text(json.dumps(data))
    state = JobStore(store.folder).load_state()
    assert [state.status_of(0), state.status_of(1)] == [PENDING, SUCCEEDED]
    assert "is unreadable" in state.warnings[0] and "rebuilt the job state from the journal" in state.warnings[0]


@pytest.mark.parametrize("field,value", [("status", 5), ("progress", {"done": "x"}), ("resumes", "two"),
                                         ("kind", "spaceship"), ("id", None)])
def test_a_session_record_with_a_field_of_the_wrong_type_is_a_state_error(field: str, value: object) -> None:
    record = sessions.SessionRecord(id=SESSION, kind="mapreduce", status="failed", workflow_path="/w.yml",
                                    workflow_sha256="x", workflow_name="w", run_dir="/w")
    sessions.save(record)
    path = paths.session_file(SESSION)
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(StateError) as exc:
        sessions.load(SESSION)
    assert exc.value.exit_code == ExitCode.STATE_ERROR and str(path) in exc.value.message
    assert "damaged" in exc.value.message


def test_job_metadata_of_the_wrong_type_is_a_state_error() -> None:
    store = new_store()
    data = json.loads(store.meta_path.read_text())
    data["run_dir"] = ["/w"]
    store.meta_path.write_text(json.dumps(data))
    with pytest.raises(StateError, match="job metadata .* is damaged"):
        store.meta()


# ---------------------------------------------------------------- modes and confinement


def test_state_files_are_0600_and_folders_0700() -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 1})
    store.close()
    found = 0
    for root, dirs, files in os.walk(paths.home()):
        for name in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o700, name
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o600, name
            found += 1
    assert found >= 4  # job.json, workflow.yml, journal.jsonl, checkpoint.json


def test_a_job_folder_replaced_by_a_symlink_leading_out_is_refused(tmp_path: Path) -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 1})
    store.close()
    outside = tmp_path / "elsewhere"
    store.folder.rename(outside)
    store.folder.symlink_to(outside)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    again = JobStore(store.folder)
    again.load_state()
    with pytest.raises(StateError, match="symbolic link") as exc:
        again.append({"t": "done", "i": 0})
    assert exc.value.exit_code == ExitCode.STATE_ERROR
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


def test_a_symlink_that_stays_inside_prodigy_home_is_fine() -> None:
    store = new_store()
    store.close()
    inside = paths.home() / "moved-job"
    store.folder.rename(inside)
    store.folder.symlink_to(inside)
    JobStore(store.folder).append({"t": "items_frozen", "count": 1})
    assert read_journal(inside / "journal.jsonl").records[-1]["count"] == 1


def test_a_state_file_that_is_a_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("keep me\n")
    path = paths.home() / "state" / "journal.jsonl"
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    with pytest.raises(StateError, match="symbolic link"):
        Journal(path)
    assert target.read_text() == "keep me\n"


# ---------------------------------------------------------------- failed and short writes


def test_a_write_that_fails_midway_leaves_whole_records_and_stops_appends(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append({"t": "done", "i": 0})
    real = storage._write
    calls = []

    def half_then_full(fd: int, data: memoryview) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, data[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage, "_write", half_then_full)
    with pytest.raises(StateWriteError, match="No space left") as exc:
        journal.append({"t": "done", "i": 1})
    assert str(path) in exc.value.message and "Free space" in (exc.value.hint or "")
    monkeypatch.setattr(storage, "_write", real)
    with pytest.raises(StateWriteError):  # no record may follow a failed one, even once space is back
        journal.append({"t": "done", "i": 2})
    journal.close()
    read = read_journal(path)
    assert read.records == [{"t": "done", "i": 0}] and read.warnings == []


def test_short_writes_are_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = storage._write
    monkeypatch.setattr(storage, "_write", lambda fd, data: real(fd, data[:3]))
    with Journal(tmp_path / "journal.jsonl") as journal:
        journal.append({"t": "done", "i": 7, "out": "x" * 100})
    assert read_journal(tmp_path / "journal.jsonl").records[0]["out"] == "x" * 100


def test_stale_snapshot_temp_files_are_removed_when_the_journal_is_opened() -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 1})
    store.close()
    stale = store.folder / ".checkpoint.json.abc123.tmp"
    stale.write_bytes(b"x" * 1000)
    other = store.folder / "notes.tmp"
    other.write_text("not ours")
    again = JobStore(store.folder)
    again.load_state()
    again.append({"t": "done", "i": 0})
    assert not stale.exists() and other.exists()
