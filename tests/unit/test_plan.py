"""plan_resume: what a resume will run, as a pure function of the folded job state."""

from __future__ import annotations

import pytest

from prodigy.resume.plan import plan_resume
from prodigy.state.jobs import DLQ, PENDING, PURGED, RUNNING, SKIPPED, SUCCEEDED, ItemState, JobState

JOB = "mapreduce-20260101_120000_session-00000000-0000-4000-8000-000000000001"


def job(*, setup_steps: dict | None = None, setup_complete: bool = False, item_count: int | None = None,
        items: dict[int, ItemState] | None = None, map_complete: bool = False, reduce_steps: dict | None = None,
        reduce_complete: bool = False) -> JobState:
    return JobState(job_id=JOB, setup_steps=setup_steps or {}, setup_complete=setup_complete,
                    item_count=item_count, items=items or {}, map_complete=map_complete,
                    reduce_steps=reduce_steps or {}, reduce_complete=reduce_complete)


def plan(state: JobState, *, setup_total: int = 2, reduce_total: int = 2, force: bool = False,
         max_retries: int = 2, dlq_only: set[int] | None = None):
    return plan_resume(state, setup_total=setup_total, reduce_total=reduce_total, force=force,
                       max_retries=max_retries, dlq_only=dlq_only)


def mixed_map() -> JobState:
    """10 items: 0,1 done; 2 running at a crash; 3 cut short by an interrupt; 4,8 in the DLQ; 5 skipped;
    6 failed once and waits for its retry; 9 purged from the DLQ; 7 never started."""
    return job(setup_complete=True, item_count=10, items={
        0: ItemState(SUCCEEDED, 1, offset=10),
        1: ItemState(SUCCEEDED, 2, offset=20, failures=[15]),
        2: ItemState(RUNNING, 1, proc=[1, 1, 1.0]),
        3: ItemState(PENDING, 1, interrupted=True),
        4: ItemState(DLQ, 2, offset=40, failures=[30, 40]),
        5: ItemState(SKIPPED, 1, offset=50, failures=[50]),
        6: ItemState(PENDING, 1, offset=60, failures=[60]),
        8: ItemState(DLQ, 1, offset=80, failures=[80]),
        9: ItemState(PURGED, 1, offset=90, failures=[90]),
    })


def test_a_fresh_job_starts_at_setup_step_one() -> None:
    result = plan(job())
    assert (result.phase, result.setup_next, result.reduce_next) == ("setup", 0, 0)
    assert (result.total_items, result.done, result.in_flight, result.dlq, result.pending) == (None, 0, (), (), ())
    assert not result.nothing_to_do and not result.retry_dlq
    assert result.dispatch_order == []


def test_setup_partly_done_continues_at_the_first_step_without_a_record() -> None:
    result = plan(job(setup_steps={0: {"token": "x"}}), setup_total=3)
    assert (result.phase, result.setup_next) == ("setup", 1)
    gap = plan(job(setup_steps={0: {}, 2: {}}), setup_total=3)
    assert gap.setup_next == 1


def test_a_job_without_setup_steps_is_in_map_once_setup_is_recorded() -> None:
    result = plan(job(setup_complete=True), setup_total=0)
    assert (result.phase, result.setup_next) == ("map", None)
    assert result.pending == () and result.total_items is None  # the work list is frozen on entry to map


def test_map_with_a_mix_of_item_states() -> None:
    result = plan(mixed_map())
    assert result.phase == "map"
    assert result.done == 2
    assert result.in_flight == (2, 3)
    assert result.dlq == (4, 8)
    assert result.pending == (6, 7)
    assert not result.retry_dlq and not result.nothing_to_do
    assert result.dispatch_order == [2, 3, 6, 7]  # skipped, purged and DLQ items do not run


def test_force_retries_the_dlq_after_everything_else() -> None:
    result = plan(mixed_map(), force=True, max_retries=3)
    assert result.retry_dlq and result.max_retries == 3
    assert result.dispatch_order == [2, 3, 6, 7, 4, 8]


def test_force_without_dlq_items_changes_nothing() -> None:
    state = mixed_map()
    for index in (4, 8):
        state.items[index] = ItemState(SUCCEEDED, 1, offset=1)
    result = plan(state, force=True)
    assert not result.retry_dlq and result.dlq == ()
    assert result.dispatch_order == [2, 3, 6, 7]


def test_max_retries_zero_does_not_retry_the_dlq() -> None:
    result = plan(mixed_map(), force=True, max_retries=0)
    assert not result.retry_dlq and result.dlq == (4, 8)
    assert result.dispatch_order == [2, 3, 6, 7]


def test_dlq_only_limits_which_dlq_items_are_retried() -> None:
    result = plan(mixed_map(), force=True, dlq_only={8, 5, 0})
    assert result.dlq == (8,)
    assert result.dispatch_order == [2, 3, 6, 7, 8]
    none = plan(mixed_map(), force=True, dlq_only=set())
    assert none.dlq == () and not none.retry_dlq


def test_every_item_in_flight_at_a_crash() -> None:
    state = job(setup_complete=True, item_count=4, items={i: ItemState(RUNNING, 1) for i in range(4)})
    result = plan(state)
    assert (result.in_flight, result.pending, result.done) == ((0, 1, 2, 3), (), 0)


def test_items_never_started_are_pending_in_item_order() -> None:
    state = job(setup_complete=True, item_count=5, items={3: ItemState(SUCCEEDED, 1, offset=1)})
    result = plan(state)
    assert result.pending == (0, 1, 2, 4) and result.dispatch_order == [0, 1, 2, 4]


def test_all_items_done_but_map_not_recorded_runs_nothing_and_goes_on() -> None:
    state = job(setup_complete=True, item_count=2,
                items={0: ItemState(SUCCEEDED, 1, offset=1), 1: ItemState(SUCCEEDED, 1, offset=2)})
    result = plan(state)
    assert (result.phase, result.dispatch_order, result.nothing_to_do) == ("map", [], False)


def test_reduce_partly_done_continues_at_its_next_step() -> None:
    state = job(setup_complete=True, item_count=1, items={0: ItemState(SUCCEEDED, 1, offset=1)},
                map_complete=True, reduce_steps={0: {}})
    result = plan(state, reduce_total=3)
    assert (result.phase, result.reduce_next, result.setup_next, result.dispatch_order) == ("reduce", 1, None, [])
    assert not result.nothing_to_do


def test_reduce_with_dlq_items_and_force_reopens_the_map() -> None:
    state = job(setup_complete=True, item_count=2, map_complete=True, reduce_steps={0: {}},
                items={0: ItemState(SUCCEEDED, 1, offset=1), 1: ItemState(DLQ, 1, offset=2, failures=[2])})
    result = plan(state, force=True)
    assert result.retry_dlq and result.dispatch_order == [1]


def completed(*, dlq: bool) -> JobState:
    return job(setup_complete=True, item_count=2, map_complete=True, reduce_steps={0: {}, 1: {}},
               reduce_complete=True, items={0: ItemState(SUCCEEDED, 1, offset=1),
                                           1: ItemState(DLQ if dlq else SUCCEEDED, 1, offset=2)})


@pytest.mark.parametrize("force", [False, True])
def test_a_completed_job_has_nothing_to_do(force: bool) -> None:
    result = plan(completed(dlq=False), force=force)
    assert result.nothing_to_do and result.phase == "done"
    assert (result.setup_next, result.reduce_next) == (None, None)


def test_a_completed_job_with_dlq_items_needs_force() -> None:
    assert plan(completed(dlq=True)).nothing_to_do
    forced = plan(completed(dlq=True), force=True)
    assert not forced.nothing_to_do and forced.retry_dlq and forced.dispatch_order == [1]
    assert plan(completed(dlq=True), force=True, max_retries=0).nothing_to_do


def test_plan_resume_does_not_change_the_state() -> None:
    state = mixed_map()
    before = repr(state)
    plan(state, force=True)
    assert repr(state) == before
