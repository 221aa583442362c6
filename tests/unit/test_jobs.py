"""The job journal fold (JobState), its snapshot, and the job folder's frozen work list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from journal_fold import JOB, fold

from prodigy.errors import StateError
from prodigy.state import jobs
from prodigy.state.jobs import (
    DLQ,
    PENDING,
    PURGED,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    JobMeta,
    JobState,
    JobStore,
    apply,
    item_id,
    item_index,
)
from prodigy.state.journal import read_journal


def new_store() -> JobStore:
    meta = JobMeta(job_id=JOB, session_id="session-00000000-0000-4000-8000-000000000001",
                   workflow_path="/w/workflow.yml", workflow_sha256="abc", run_dir="/w", repo="repo",
                   created_at="2026-01-01T00:00:00Z")
    return JobStore.create(meta, "name: t\n")


def dump(state: JobState) -> dict[str, Any]:
    return jobs.dump_state(state)


# ---------------------------------------------------------------- item records


def test_start_marks_an_item_running_with_its_attempt() -> None:
    state = fold({"t": "items_frozen", "count": 3}, {"t": "start", "i": 1, "a": 1})
    item = state.items[1]
    assert (item.status, item.attempts, item.round_attempts, item.interrupted) == (RUNNING, 1, 0, False)
    assert state.status_of(0) == PENDING and 0 not in state.items  # never started: not materialised
    assert state.indexes(PENDING) == [0, 2]
    assert state.indexes(RUNNING) == [1]


def test_a_second_start_without_an_end_means_the_previous_attempt_crashed() -> None:
    state = fold({"t": "start", "i": 0, "a": 1}, {"t": "start", "i": 0, "a": 2})
    item = state.items[0]
    # an attempt counts against the retry budget when it ends, so a crashed one costs nothing
    assert (item.status, item.attempts, item.interrupted, item.round_attempts) == (RUNNING, 2, True, 0)


def test_proc_records_the_running_command_of_an_item_or_a_phase_step() -> None:
    state = fold({"t": "start", "i": 4, "a": 1}, {"t": "proc", "i": 4, "a": 1, "pid": 10, "pg": 10, "st": 1.5})
    assert state.items[4].proc == [10, 10, 1.5]
    apply(state, {"t": "proc", "ph": "setup", "k": 1, "pid": 20, "pg": 21, "st": 2.5}, 500)
    assert state.step_proc == ["setup", 1, 20, 21, 2.5]
    apply(state, {"t": "setup_step", "index": 1, "vars": {}}, 600)
    assert state.step_proc is None
    apply(state, {"t": "done", "i": 4, "a": 1, "s": "succeeded"}, 700)
    assert state.items[4].proc is None


def test_done_succeeded_is_terminal_and_keeps_its_offset() -> None:
    state = fold({"t": "start", "i": 0, "a": 1}, {"t": "done", "i": 0, "a": 1, "s": "succeeded", "x": 0})
    item = state.items[0]
    assert (item.status, item.offset, item.failures, item.interrupted) == (SUCCEEDED, 100, None, False)
    assert item.round_attempts == 1
    assert state.count(SUCCEEDED) == 1


def test_done_interrupted_returns_the_item_to_pending_as_interrupted() -> None:
    state = fold({"t": "start", "i": 0, "a": 1}, {"t": "done", "i": 0, "a": 1, "s": "interrupted"})
    item = state.items[0]
    assert (item.status, item.interrupted, item.offset, item.failures) == (PENDING, True, None, None)
    assert item.round_attempts == 0  # an interrupted attempt uses no retry


def test_a_failure_without_final_waits_for_its_retry() -> None:
    state = fold({"t": "start", "i": 0, "a": 1}, {"t": "done", "i": 0, "a": 1, "s": "failed", "err": "x"})
    item = state.items[0]
    assert (item.status, item.failures, item.offset) == (PENDING, [100], 100)
    assert not item.interrupted


@pytest.mark.parametrize(("final", "status"), [("dlq", DLQ), ("skip", SKIPPED)])
def test_a_final_failure_goes_to_the_dlq_or_is_skipped(final: str, status: str) -> None:
    state = fold({"t": "start", "i": 0, "a": 1}, {"t": "done", "i": 0, "a": 1, "s": "failed", "err": "e1"},
                 {"t": "start", "i": 0, "a": 2},
                 {"t": "done", "i": 0, "a": 2, "s": "timed_out", "err": "e2", "final": final})
    item = state.items[0]
    assert (item.status, item.attempts, item.failures, item.offset) == (status, 2, [100, 300], 300)


def test_dlq_retry_reopens_only_dlq_items_with_a_budget() -> None:
    state = fold({"t": "start", "i": 0, "a": 1}, {"t": "done", "i": 0, "a": 1, "s": "failed", "final": "dlq"},
                 {"t": "start", "i": 1, "a": 1}, {"t": "done", "i": 1, "a": 1, "s": "succeeded"},
                 {"t": "dlq_retry", "items": [0, 1], "budget": 3})
    assert (state.items[0].status, state.items[0].retry_budget, state.items[0].round_attempts) == (PENDING, 3, 0)
    assert state.items[0].failures == [100]  # the failure history stays
    assert (state.items[1].status, state.items[1].retry_budget) == (SUCCEEDED, None)
    apply(state, {"t": "start", "i": 0, "a": 2}, 600)
    assert (state.items[0].attempts, state.items[0].round_attempts) == (2, 0)
    apply(state, {"t": "done", "i": 0, "a": 2, "s": "succeeded"}, 700)
    assert (state.items[0].status, state.items[0].retry_budget) == (SUCCEEDED, None)


def test_dlq_purge_drops_dlq_items_only() -> None:
    state = fold({"t": "start", "i": 0, "a": 1}, {"t": "done", "i": 0, "a": 1, "s": "failed", "final": "dlq"},
                 {"t": "start", "i": 1, "a": 1}, {"t": "done", "i": 1, "a": 1, "s": "succeeded"},
                 {"t": "dlq_purge", "items": [0, 1]})
    assert (state.items[0].status, state.items[1].status) == (PURGED, SUCCEEDED)
    assert state.count(DLQ) == 0


def test_phase_records_move_the_job_through_its_phases() -> None:
    state = fold({"t": "setup_step", "index": 0, "vars": {"a": "1"}},
                 {"t": "setup_step", "index": 1, "vars": {"b": "2"}})
    assert (state.phase, state.setup_steps, state.captures) == ("setup", {0: {"a": "1"}, 1: {"b": "2"}},
                                                                  {"a": "1", "b": "2"})
    apply(state, {"t": "setup_done", "captures": {"c": "3"}}, 200)
    assert (state.phase, state.setup_complete, state.captures["c"]) == ("map", True, "3")
    apply(state, {"t": "items_frozen", "count": 5}, 300)
    assert state.item_count == 5
    apply(state, {"t": "map_done"}, 400)
    assert (state.phase, state.map_complete) == ("reduce", True)
    apply(state, {"t": "reduce_step", "index": 0, "vars": {"r": "x"}}, 500)
    assert state.reduce_steps == {0: {"r": "x"}}
    apply(state, {"t": "reduce_done"}, 600)
    assert (state.phase, state.reduce_complete) == ("done", True)
    apply(state, {"t": "job_status", "status": "completed", "error": None}, 700)
    apply(state, {"t": "resume", "cid": "c1"}, 800)
    assert (state.status, state.resumes) == ("completed", 1)


def test_map_reopened_clears_the_reduce_progress() -> None:
    state = fold({"t": "setup_done"}, {"t": "items_frozen", "count": 1}, {"t": "map_done"},
                 {"t": "reduce_step", "index": 0, "vars": {}}, {"t": "reduce_done"},
                 {"t": "map_reopened", "reason": "retrying DLQ items"})
    assert (state.phase, state.map_complete, state.reduce_complete, state.reduce_steps) == ("map", False, False, {})
    assert state.setup_complete


def test_unknown_records_are_ignored() -> None:
    state = fold({"t": "from_the_future", "i": 3}, {"no_type": True})
    assert dump(state) == dump(JobState(job_id=JOB))


def test_item_ids_round_trip() -> None:
    assert item_id(17) == "item_17" and item_index("item_17") == 17
    for bad in ("item_", "item_x", "17", "other_1"):
        with pytest.raises(ValueError):
            item_index(bad)


# ---------------------------------------------------------------- the store: snapshot + tail


def a_history(store: JobStore, first: int, last: int) -> None:
    """Items first..last-1: even ones succeed, every third fails into the DLQ after a retry, others crash."""
    for i in range(first, last):
        store.append({"t": "start", "i": i, "a": 1}, sync=False)
        store.append({"t": "proc", "i": i, "a": 1, "pid": 100 + i, "pg": 100 + i, "st": 1.0}, sync=False)
        if i % 3 == 0:
            store.append({"t": "done", "i": i, "a": 1, "s": "failed", "err": "boom"}, sync=False)
            store.append({"t": "start", "i": i, "a": 2}, sync=False)
            store.append({"t": "done", "i": i, "a": 2, "s": "failed", "err": "boom", "final": "dlq"}, sync=False)
        elif i % 2 == 0:
            store.append({"t": "done", "i": i, "a": 1, "s": "succeeded", "out": f"out {i}"}, sync=False)
        elif i % 5 == 0:
            store.append({"t": "done", "i": i, "a": 1, "s": "interrupted"}, sync=False)
        # odd, not multiple of 3 or 5: left running (a crash)


def full_fold(store: JobStore) -> JobState:
    state = JobState(job_id=store.folder.name)
    read = read_journal(store.journal_path)
    for record, offset in zip(read.records, read.offsets, strict=True):
        apply(state, record, offset)
    return state


def test_snapshot_round_trips_the_state() -> None:
    store = new_store()
    store.append({"t": "setup_step", "index": 0, "vars": {"token": "v"}})
    store.append({"t": "setup_done", "captures": {"token": "v"}})
    store.append({"t": "items_frozen", "count": 40})
    a_history(store, 0, 40)
    store.append({"t": "dlq_retry", "items": [3], "budget": 2})
    store.append({"t": "proc", "ph": "reduce", "k": 0, "pid": 1, "pg": 1, "st": 2.0})
    store.maybe_snapshot(force=True)
    store.close()
    data = json.loads(store.snapshot_path.read_text())
    assert data["schema_version"] == 1 and data["offset"] == store.journal_path.stat().st_size
    assert dump(jobs.load_state_data(data["state"])) == dump(store.state)
    reloaded = JobStore(store.folder).load_state()
    assert dump(reloaded) == dump(store.state) == dump(full_fold(store))
    assert reloaded.warnings == []


def test_load_state_is_snapshot_plus_tail_and_equals_a_full_fold() -> None:
    store = new_store()
    store.append({"t": "setup_done"})
    store.append({"t": "items_frozen", "count": 60})
    a_history(store, 0, 30)
    store.maybe_snapshot(force=True)
    snapshot_offset = json.loads(store.snapshot_path.read_text())["offset"]
    a_history(store, 30, 60)
    store.append({"t": "start", "i": 1, "a": 2})  # a re-run of an item the snapshot saw running
    store._journal.sync()
    size = store.journal_path.stat().st_size
    assert 0 < snapshot_offset < size
    fresh = JobStore(store.folder)
    state = fresh.load_state()
    assert dump(state) == dump(full_fold(store)) == dump(store.state)
    assert fresh._records_since_snapshot == len(read_journal(store.journal_path, snapshot_offset).records)
    assert state.warnings == []
    store.close()


def test_a_corrupted_snapshot_is_rebuilt_from_the_journal_with_a_warning() -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 10})
    a_history(store, 0, 10)
    store.close()
    expected = dump(full_fold(store))
    store.snapshot_path.write_text('{"offset": 12, "state": {"job_id": "x", "pha')
    state = JobStore(store.folder).load_state()
    assert dump(state) == expected
    assert len(state.warnings) == 1
    assert str(store.snapshot_path) in state.warnings[0] and "rebuilt" in state.warnings[0]


def test_a_snapshot_with_a_wrong_shape_is_rebuilt_too() -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 2})
    store.append({"t": "start", "i": 0, "a": 1})
    store.append({"t": "done", "i": 0, "a": 1, "s": "succeeded"})
    store.close()
    store.snapshot_path.write_text(json.dumps({"schema_version": 1, "offset": 5}))  # no "state"
    state = JobStore(store.folder).load_state()
    assert state.status_of(0) == SUCCEEDED and state.item_count == 2
    assert any("rebuilt" in w for w in state.warnings)


def test_a_torn_journal_tail_is_ignored() -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 3})
    store.append({"t": "start", "i": 0, "a": 1})
    store.append({"t": "done", "i": 0, "a": 1, "s": "succeeded"})
    store.close()
    store.snapshot_path.unlink()
    with open(store.journal_path, "ab") as handle:
        handle.write(b'{"t":"done","i":1,"a":1,"s":"succ')
    state = JobStore(store.folder).load_state()
    assert state.status_of(0) == SUCCEEDED and state.status_of(1) == PENDING
    assert any("incomplete last record" in w for w in state.warnings)


def test_a_journal_shorter_than_the_snapshot_offset_keeps_the_snapshot_work() -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 3})
    for i in range(3):
        store.append({"t": "start", "i": i, "a": 1})
        store.append({"t": "done", "i": i, "a": 1, "s": "succeeded"})
    store.close()
    with open(store.journal_path, "rb+") as handle:
        handle.truncate(40)
    state = JobStore(store.folder).load_state()
    assert [state.status_of(i) for i in range(3)] == [SUCCEEDED] * 3
    assert "shorter than its checkpoint" in state.warnings[0] and "re-recorded 4 record(s)" in state.warnings[0]


def test_after_a_journal_truncation_a_killed_resume_does_not_hide_its_completions() -> None:
    """The duplicate-work bug: the journal is cut below the snapshot's offset, a resume appends completions
    and is killed before its next snapshot; the next load must still see those completions."""
    store = new_store()
    store.append({"t": "items_frozen", "count": 6})
    for i in range(3):
        store.append({"t": "start", "i": i, "pid": 10, "st": 1.0})
        store.append({"t": "done", "i": i})
    store.close()  # snapshot at the end of the journal
    with open(store.journal_path, "rb+") as handle:
        handle.truncate(store.journal_path.stat().st_size // 2)
    resumed = JobStore(store.folder)
    resumed.load_state()
    resumed.append({"t": "start", "i": 3, "pid": 11, "st": 1.0})  # opening the journal repairs it first
    resumed.append({"t": "done", "i": 3})
    resumed.sync()  # ... and the resume is killed here: no close, no new snapshot of its own
    again = JobStore(store.folder).load_state()
    assert [again.status_of(i) for i in range(6)] == [SUCCEEDED] * 4 + [PENDING] * 2
    assert not any("shorter" in w for w in again.warnings)


def test_a_snapshot_offset_inside_a_record_is_a_mismatch_and_rebuilt() -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 2})
    store.append({"t": "done", "i": 0})
    store.close()
    data = json.loads(store.snapshot_path.read_text())
    data["offset"] -= 3
    store.snapshot_path.write_text(json.dumps(data))
    state = JobStore(store.folder).load_state()
    assert "not a record boundary" in state.warnings[0]
    assert state.status_of(0) == SUCCEEDED and state.count(PENDING) == 1


def test_a_journal_cut_and_regrown_past_the_offset_is_recognised_by_its_tail_mark() -> None:
    store = new_store()
    store.append({"t": "items_frozen", "count": 4})
    store.append({"t": "done", "i": 0})
    store.close()
    size = store.journal_path.stat().st_size
    lines = store.journal_path.read_bytes().splitlines(keepends=True)
    regrown = lines[0] + b'{"t":"done","i":2,"ts":1.0}\n' + b'{"t":"done","i":3,"ts":1.000}\n'
    store.journal_path.write_bytes(regrown)
    assert len(regrown) >= size
    state = JobStore(store.folder).load_state()
    assert "not the ones the checkpoint folded" in state.warnings[0] or "not a record boundary" in state.warnings[0]
    assert [state.status_of(i) for i in range(4)] == [SUCCEEDED, PENDING, SUCCEEDED, SUCCEEDED]


def test_a_job_folder_without_any_state_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="No job state"):
        JobStore(tmp_path / "empty").load_state()


def test_appends_keep_the_live_state_folded() -> None:
    store = new_store()
    offset = store.append({"t": "items_frozen", "count": 1})
    assert offset == 0 and store.state.item_count == 1
    record = store.append({"t": "done", "i": 0, "a": 1, "s": "succeeded", "out": "hello"})
    assert store.record_at(record)["out"] == "hello" and store.record_at(None) is None
    store.close()


# ---------------------------------------------------------------- the frozen work list


def test_freeze_items_writes_once_and_refuses_a_second_freeze() -> None:
    store = new_store()
    store.freeze_items([{"a": 1}, "two", 3, ["x"], None])
    assert store.state.item_count == 5
    assert store.load_items() == {0: {"a": 1}, 1: "two", 2: 3, 3: ["x"], 4: None}
    before = store.items_path.read_bytes()
    with pytest.raises(StateError, match="already frozen"):
        store.freeze_items([{"a": 2}])
    assert store.items_path.read_bytes() == before
    assert store.state.item_count == 5
    store.close()


def test_load_items_decodes_only_the_wanted_lines() -> None:
    store = new_store()
    store.freeze_items([{"n": i} for i in range(6)])
    lines = store.items_path.read_text().splitlines()
    lines[2] = "{not json"  # damage a line nobody asks for
    store.items_path.write_text("\n".join(lines) + "\n")
    assert store.load_items({1, 4}) == {1: {"n": 1}, 4: {"n": 4}}
    assert store.load_items(set()) == {}
    with pytest.raises(StateError, match="corrupted at line 3"):
        store.load_items({2})
    store.close()


def test_load_items_without_a_frozen_list_is_a_state_error() -> None:
    store = new_store()
    with pytest.raises(StateError, match="missing"):
        store.load_items()


def test_load_items_reads_only_the_wanted_lines_whatever_the_block_boundaries() -> None:
    import io
    import random

    from prodigy.state.jobs import _wanted_lines

    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(0, 40)
        lines = [b'"' + b"x" * rng.randint(0, 5) + str(i).encode() + b'"' for i in range(n)]
        text = b"\n".join(lines) + (b"\n" if n and rng.random() < 0.8 else b"")
        wanted = set(rng.sample(range(n + 3), rng.randint(0, n + 3)))
        got = dict(_wanted_lines(io.BytesIO(text), wanted, block=rng.randint(1, 16)))
        assert got == {i: line for i, line in enumerate(lines) if i in wanted}
