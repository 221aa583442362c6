"""The compact item table (state/item_table.py) loads the same job as the dict-of-objects fold it replaced.

Property: on generated journals (starts, completions of every status, retries, the DLQ, --force budgets,
purges, interrupts, crashes), with a snapshot taken at a random record, the new loader (JobStore.load_state:
compact snapshot + journal tail) gives the same state for every item, the same counts and the same resume
plans as the old one (tests/unit/reference_fold.py: a verbatim copy of the code before the change), and so
does the new loader reading a snapshot in the old format (a job left by the previous version)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest
import reference_fold as old
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodigy.resume.plan import plan_resume
from prodigy.state import jobs, storage
from prodigy.state.item_table import ItemState, ItemTable
from prodigy.state.jobs import DLQ, PENDING, PURGED, RUNNING, SKIPPED, SUCCEEDED, JobMeta, JobState, JobStore
from prodigy.state.journal import read_journal, tail_mark

STATUSES = (PENDING, RUNNING, SUCCEEDED, DLQ, SKIPPED, PURGED)
FAILED = ("failed", "timed_out", "errored")


def _records(n: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    index = st.integers(min_value=0, max_value=n + 1)  # a damaged journal may name items past the count
    attempt = st.integers(min_value=1, max_value=4)
    start = st.builds(lambda i, a: {"t": "start", "i": i, "a": a, "pid": 1000 + i, "st": 5.0}, index, attempt)
    proc = st.builds(lambda i: {"t": "proc", "i": i, "pid": 2000 + i, "st": 6.0}, index)
    ok = st.builds(lambda i, a: {"t": "done", "i": i, "a": a, "d": 0.1}, index, attempt)
    failed = st.builds(lambda i, a, s, f: {"t": "done", "i": i, "a": a, "s": s, "x": 1, "err": "no",
                                            **({"final": f} if f else {})},
                       index, attempt, st.sampled_from(FAILED), st.sampled_from([None, "dlq", "skip"]))
    interrupted = st.builds(lambda i, a: {"t": "done", "i": i, "a": a, "s": "interrupted"}, index, attempt)
    retry = st.builds(lambda items, b: {"t": "dlq_retry", "items": items, "budget": b},
                      st.lists(index, max_size=4), st.integers(min_value=1, max_value=3))
    purge = st.builds(lambda items: {"t": "dlq_purge", "items": items}, st.lists(index, max_size=4))
    other = st.sampled_from([{"t": "resume", "cid": "c"}, {"t": "run", "cid": "r"}, {"t": "map_done"},
                             {"t": "map_reopened", "reason": "r"}])
    one = st.one_of(start, start, proc, ok, ok, ok, failed, interrupted, retry, purge, other)
    return st.lists(one, max_size=60)


@st.composite
def journals(draw: Any) -> tuple[int, list[dict[str, Any]], int]:
    n = draw(st.integers(min_value=1, max_value=25))
    body = draw(_records(n))
    # Most items of a real job simply succeed: a run of plain completions makes the compact arrays matter.
    plain = draw(st.integers(min_value=0, max_value=n))
    records = [{"t": "setup_done", "captures": {}}, {"t": "items_frozen", "count": n}]
    for i in range(plain):
        records += [{"t": "start", "i": i, "pid": 1, "st": 1.0}, {"t": "done", "i": i, "d": 0.1}]
    records += body
    cut = draw(st.integers(min_value=0, max_value=len(records)))
    return n, records, cut


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "_fsync", lambda fd: None)  # durability is not what is tested here


def _store() -> JobStore:
    import uuid

    sid = f"session-{uuid.uuid4()}"
    meta = JobMeta(job_id=f"mapreduce-20260101_120000_{sid}", session_id=sid, workflow_path="/w/w.yml",
                   workflow_sha256="abc", run_dir="/w", repo="repo", created_at="2026-01-01T00:00:00Z")
    return JobStore.create(meta, "name: t\n")


def _write(records: list[dict[str, Any]], cut: int) -> tuple[JobStore, int]:
    """The journal through JobStore (as the coordinator writes it), a snapshot after `cut` records."""
    store = _store()
    store.open_journal()
    snapshot_at = 0
    for position, record in enumerate(records):
        if position == cut:
            store.maybe_snapshot(force=True)
            snapshot_at = store._journal.offset
        store.append(dict(record), sync=False, stamp=False)
    if cut == len(records):
        store.maybe_snapshot(force=True)
        snapshot_at = store._journal.offset
    store.state = None  # a crash: no final snapshot
    store.close()
    return store, snapshot_at


def _old_load(store: JobStore, snapshot_at: int, *, cut: int) -> old.JobState:
    """The old loader: its snapshot of the journal up to `snapshot_at`, then the tail."""
    read = read_journal(store.journal_path)
    state = old.JobState(job_id=store.folder.name)
    for record, offset in zip(read.records, read.offsets, strict=True):
        if offset < snapshot_at:
            old.apply(state, record, offset)
    state = old.load_state_data(json.loads(json.dumps(old.dump_state(state))))
    for record, offset in zip(read.records, read.offsets, strict=True):
        if offset >= snapshot_at:
            old.apply(state, record, offset)
    return state


def _same(new: JobState, ref: old.JobState, n: int) -> None:
    for i in range(n + 2):
        assert new.status_of(i) == ref.status_of(i), i
        got = new.items.get(i)
        want = ref.items.get(i)
        assert (got.to_list() if got else None) == (want.to_list() if want else None), i
    assert len(new.items) == len(ref.items)
    for status in STATUSES:
        assert new.count(status) == ref.count(status), status
        assert new.indexes(status) == ref.indexes(status), status
    for force in (False, True):
        for retries in (0, 2):
            args: dict[str, Any] = dict(setup_total=0, reduce_total=1, force=force, max_retries=retries)
            assert _plan(plan_resume(new, **args)) == asdict(old.plan_resume(ref, **args))
            subset = {0, 2, 3}
            assert _plan(plan_resume(new, **args, dlq_only=subset)) == asdict(
                old.plan_resume(ref, **args, dlq_only=subset))


def _plan(plan: Any) -> dict[str, Any]:
    """The fields the reference plan has (later versions added some that do not come from the item table)."""
    fields = set(old.ResumePlan.__dataclass_fields__)
    return {k: v for k, v in asdict(plan).items() if k in fields}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(journals())
def test_compact_loader_gives_the_old_loaders_state_and_plans(case: tuple[int, list[dict[str, Any]], int]) -> None:
    n, records, cut = case
    store, snapshot_at = _write(records, cut)
    ref = _old_load(store, snapshot_at, cut=cut)
    new = JobStore(store.folder).load_state()
    assert new.warnings == []
    _same(new, ref, n)
    # The same with the whole journal folded (no snapshot) by both, and a snapshot of each reloaded.
    whole, ref_whole = JobState(job_id=store.folder.name), old.JobState(job_id=store.folder.name)
    read = read_journal(store.journal_path)
    for record, offset in zip(read.records, read.offsets, strict=True):
        jobs.apply(whole, record, offset)
        old.apply(ref_whole, record, offset)
    _same(whole, ref_whole, n)
    again = jobs.load_state_data(json.loads(json.dumps(jobs.dump_state(whole))))
    _same(again, old.load_state_data(json.loads(json.dumps(old.dump_state(ref_whole)))), n)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(journals())
def test_a_snapshot_in_the_old_format_loads_the_same(case: tuple[int, list[dict[str, Any]], int]) -> None:
    """A job left by the previous version (its flat `succeeded` list) resumes with the same plan."""
    n, records, cut = case
    store, snapshot_at = _write(records, cut)
    read = read_journal(store.journal_path)
    before = old.JobState(job_id=store.folder.name)
    for record, offset in zip(read.records, read.offsets, strict=True):
        if offset < snapshot_at:
            old.apply(before, record, offset)
    from prodigy.state.atomic import write_json

    write_json(store.snapshot_path, {"offset": snapshot_at, "tail": tail_mark(store.journal_path, snapshot_at),
                                     "state": old.dump_state(before)}, compact=True)
    new = JobStore(store.folder).load_state()
    assert new.warnings == []
    _same(new, _old_load(store, snapshot_at, cut=cut), n)


# ---------------------------------------------------------------- the table itself


def test_plain_successes_live_in_the_arrays_and_come_back_out_when_changed() -> None:
    state = JobState(job_id="j")
    jobs.apply(state, {"t": "items_frozen", "count": 5}, 0)
    for i in range(5):
        jobs.apply(state, {"t": "start", "i": i, "pid": 1, "st": 1.0}, 10 + i)
        jobs.apply(state, {"t": "done", "i": i, "d": 0.1}, 100 + i)
    assert state.items.tracked() == {} and len(state.items) == 5 and state.count(SUCCEEDED) == 5
    assert state.items[3] == ItemState(SUCCEEDED, 1, 103, round_attempts=1)
    state.items.get(3).status = DLQ  # a copy: changing it changes nothing
    assert state.status_of(3) == SUCCEEDED
    jobs.apply(state, {"t": "start", "i": 3, "a": 2, "pid": 1, "st": 1.0}, 200)  # run again (a merge recovery)
    assert state.items.tracked()[3].status == RUNNING and state.count(SUCCEEDED) == 4 and len(state.items) == 5
    assert state.indexes(PENDING) == [] and state.indexes(RUNNING) == [3]


def test_items_past_the_frozen_count_stay_objects() -> None:
    state = JobState(job_id="j")
    jobs.apply(state, {"t": "items_frozen", "count": 2}, 0)
    jobs.apply(state, {"t": "done", "i": 7, "d": 0.1}, 10)  # a damaged journal: no such item
    assert 7 in state.items.tracked() and state.count(SUCCEEDED) == 1


def test_a_damaged_compact_block_rebuilds_the_state_from_the_journal() -> None:
    store, _ = _write([{"t": "items_frozen", "count": 3}, {"t": "start", "i": 0, "pid": 1, "st": 1.0},
                       {"t": "done", "i": 0, "d": 0.1}, {"t": "start", "i": 1, "pid": 1, "st": 1.0}], 4)
    data = json.loads(store.snapshot_path.read_text())
    for damage in ({"n": 1, "z": "!!"}, {"n": 5, "z": data["state"]["compact"]["z"]},
                   {"n": 1, "count": 9, "z": data["state"]["compact"]["z"]}):
        data["state"]["compact"] = damage
        store.snapshot_path.write_text(json.dumps(data))
        state = JobStore(store.folder).load_state()
        assert any("checkpoint" in w and "rebuilt" in w for w in state.warnings), damage
        assert (state.status_of(0), state.status_of(1)) == (SUCCEEDED, RUNNING)


def test_a_table_built_from_a_dict_counts_its_items() -> None:
    table = ItemTable({0: ItemState(SUCCEEDED, 1, 5, round_attempts=1), 1: ItemState(DLQ, 2)}, limit=4)
    assert table.tally == {SUCCEEDED: 1, DLQ: 1}
    table.settle(0)
    assert table.tracked().keys() == {1} and table[0].offset == 5 and table.tally[SUCCEEDED] == 1
    assert table == {0: ItemState(SUCCEEDED, 1, 5, round_attempts=1), 1: ItemState(DLQ, 2)}
