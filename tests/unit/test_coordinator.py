"""The map coordinator driven directly with the local executor: retries, error policy, stop requests."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psutil
import pytest

from prodigy import paths
from prodigy.execution import outcome as o
from prodigy.execution.context import StepContext
from prodigy.execution.mapreduce.coordinator import Coordinator, MapRun
from prodigy.execution.mapreduce.pool import ItemOutcome, ItemTask, LocalExecutor
from prodigy.execution.process_groups import start_time_offset
from prodigy.execution.reporter import RecordingReporter
from prodigy.execution.signals import StopRequest
from prodigy.state.events import EventLog, read_events
from prodigy.state.item_events import ItemEventDeriver
from prodigy.state.jobs import DLQ, PENDING, SKIPPED, SUCCEEDED, JobMeta, JobStore
from prodigy.state.journal import read_journal
from prodigy.workflow.model import ErrorPolicy, Step

SESSION = "session-00000000-0000-4000-8000-00000000000c"
JOB = f"mapreduce-20260101_120000_{SESSION}"


class Harness:
    def __init__(self, work: Path, items: list[Any], script: str, *, policy: ErrorPolicy | None = None,
                 max_parallel: int = 2, timeout: float | None = None) -> None:
        meta = JobMeta(job_id=JOB, session_id=SESSION, workflow_path=str(work / "wf.yml"), workflow_sha256="x",
                       run_dir=str(work), repo="work", created_at="2026-01-01T00:00:00Z")
        self.store = JobStore.create(meta, "name: t\n")
        self.store.append({"t": "setup_done", "captures": {}})
        self.store.freeze_items(items)
        self.stop = StopRequest()
        self.reporter = RecordingReporter()
        self.events = EventLog(paths.events_file("work", JOB), session_id=SESSION, job_id=JOB, correlation_id="c1")
        self.ctx = StepContext(run_dir=work, process_env=dict(os.environ), session_id=SESSION,
                               stop_event=self.stop.event)
        self.coordinator = Coordinator(
            store=self.store, items=self.store.load_items(), steps=(Step(kind="shell", command=script),),
            variables={}, policy=policy or ErrorPolicy(), max_parallel=max_parallel, timeout=timeout,
            reporter=self.reporter, events=self.events, stop=self.stop)
        self.max_parallel = max_parallel

    def run(self, order: list[int] | None = None) -> MapRun:
        executor = LocalExecutor(self.max_parallel, self.ctx, JOB, self.coordinator.record_process)
        try:
            return self.coordinator.execute(executor, order if order is not None else list(range(
                self.store.state.item_count)))
        finally:
            executor.shutdown()
            self.store.close()
            self.events.close()

    @property
    def state(self):
        return self.store.state

    def records(self, kind: str, index: int | None = None) -> list[dict[str, Any]]:
        return [r for r in read_journal(self.store.journal_path).records
                if r.get("t") == kind and (index is None or r.get("i") == index)]

    def event_names(self) -> list[str]:
        """The events file plus the item events derived from the journal (how `prodigy events` shows them)."""
        deriver = ItemEventDeriver(session_id=SESSION, job_id=JOB)
        derived = deriver.events(read_journal(self.store.journal_path).records)
        return [e["event"] for e in read_events(self.events.path)[0]] + [e["event"] for e in derived]


def test_all_items_succeed_and_their_outputs_are_journaled(work: Path) -> None:
    h = Harness(work, [{"n": i} for i in range(6)], 'echo "out-$PRODIGY_ITEM_ID $PRODIGY_ATTEMPT"', max_parallel=3)
    run = h.run()
    assert (run.started, run.succeeded, run.failed, run.interrupted) == (6, 6, 0, False)
    assert [h.state.status_of(i) for i in range(6)] == [SUCCEEDED] * 6
    done = {r["i"]: r for r in h.records("done")}
    assert {i: r["out"].strip() for i, r in done.items()} == {i: f"out-item_{i} 1" for i in range(6)}
    assert all("s" not in r and "x" not in r for r in done.values())  # a success that exited 0: both implied
    # each item's process is journaled (its start record names the process group) before its end
    for i in range(6):
        records = [r for r in read_journal(h.store.journal_path).records if r.get("i") == i]
        assert [r["t"] for r in records] == ["start", "done"]
        assert records[0]["pid"] > 0 and records[0]["st"] > 0
    assert h.event_names().count("item_completed") == 6


def test_retries_count_attempts_and_back_off(work: Path) -> None:
    policy = ErrorPolicy(retry_attempts=3, retry_backoff=0.2)
    script = 'test "$PRODIGY_ATTEMPT" -ge 3 || { echo "attempt $PRODIGY_ATTEMPT failed" >&2; exit 7; }'
    h = Harness(work, [{"n": 0}], script, policy=policy, max_parallel=1)
    run = h.run()
    assert (run.started, run.succeeded, run.failed, run.retried, run.to_dlq) == (3, 1, 2, 2, 0)
    item = h.state.items[0]
    assert (item.status, item.attempts, len(item.failures)) == (SUCCEEDED, 3, 2)
    starts, dones = h.records("start", 0), h.records("done", 0)
    assert [r.get("a", 1) for r in starts] == [1, 2, 3]
    assert [(r.get("a", 1), r.get("s", "succeeded"), r.get("x", 0)) for r in dones] == [
        (1, "failed", 7), (2, "failed", 7), (3, "succeeded", 0)]
    assert "attempt 1 failed" in dones[0]["se"] and "final" not in dones[0]
    # backoff 0.2s before the first retry, doubled before the second (a start's time: its st, corrected by the
    # run's offset, to the 10 ms of a clock tick)
    offset = start_time_offset()
    assert all("ts" not in r for r in starts)
    assert starts[1]["st"] + offset - dones[0]["ts"] >= 0.18
    assert starts[2]["st"] + offset - dones[1]["ts"] >= 0.38
    assert h.event_names().count("item_retry") == 2


def test_an_item_failing_every_attempt_goes_to_the_dlq_with_its_history(work: Path) -> None:
    policy = ErrorPolicy(retry_attempts=2)
    h = Harness(work, [{"n": 0}, {"n": 1}], 'test ${PRODIGY_ITEM_ID} = item_0 || exit 4', policy=policy)
    run = h.run()
    assert (run.to_dlq, run.failed_items, run.stopped_by_policy) == (1, [1], None)
    item = h.state.items[1]
    assert (item.status, item.attempts, len(item.failures)) == (DLQ, 2, 2)
    assert [r.get("final") for r in h.records("done", 1)] == [None, "dlq"]
    assert h.state.status_of(0) == SUCCEEDED
    assert "dlq_item_added" in h.event_names()


def failing(indexes: set[int]) -> str:
    cases = "|".join(f"item_{i}" for i in sorted(indexes))
    return f'case "$PRODIGY_ITEM_ID" in {cases}) exit 1;; esac'


def test_on_item_failure_skip_skips_and_goes_on(work: Path) -> None:
    h = Harness(work, list(range(5)), failing({1, 3}), policy=ErrorPolicy(on_item_failure="skip"))
    run = h.run()
    assert run.stopped_by_policy is None and run.to_dlq == 0
    assert [h.state.status_of(i) for i in range(5)] == [SUCCEEDED, SKIPPED, SUCCEEDED, SKIPPED, SUCCEEDED]
    assert h.state.count(DLQ) == 0


def test_on_item_failure_stop_stops_dispatching(work: Path) -> None:
    h = Harness(work, list(range(6)), failing({1}), policy=ErrorPolicy(on_item_failure="stop"), max_parallel=1)
    run = h.run()
    assert run.stopped_by_policy and "on_item_failure is 'stop'" in run.stopped_by_policy
    assert run.started == 2
    assert [h.state.status_of(i) for i in range(6)] == [SUCCEEDED, DLQ] + [PENDING] * 4
    assert "map_stopped" in h.event_names()


def test_max_failures_stops_after_one_failure_too_many(work: Path) -> None:
    h = Harness(work, list(range(8)), failing({1, 2, 3, 4}), policy=ErrorPolicy(max_failures=1), max_parallel=1)
    run = h.run()
    assert run.stopped_by_policy and "more than max_failures (1)" in run.stopped_by_policy
    assert run.started == 3 and run.failed_items == [1, 2]
    assert h.state.indexes(PENDING) == [3, 4, 5, 6, 7]


def test_failure_threshold_waits_for_a_sample_then_stops(work: Path) -> None:
    bad = {1, 2, 4, 5, 7, 9, *range(10, 20)}
    h = Harness(work, list(range(20)), failing(bad), policy=ErrorPolicy(failure_threshold=0.5), max_parallel=1)
    run = h.run()
    # 2 of the first 3 failed (67%), but the rate is judged from 10 processed items on: 6 of 10 = 60%
    assert run.started == 10
    assert run.stopped_by_policy and "6 of 10" in run.stopped_by_policy and "0.5" in run.stopped_by_policy


def test_failure_threshold_not_exceeded_runs_everything(work: Path) -> None:
    h = Harness(work, list(range(10)), failing({0, 5}), policy=ErrorPolicy(failure_threshold=0.5), max_parallel=2)
    run = h.run()
    assert run.stopped_by_policy is None and run.started == 10


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_stop_request_mid_run_records_the_running_items_as_interrupted(work: Path) -> None:
    hold = work / "hold"
    hold.touch()
    script = f'test "$PRODIGY_ITEM_ID" = item_0 || while [ -e "{hold}" ]; do sleep 0.05; done'
    h = Harness(work, list(range(6)), script, max_parallel=2)
    result: list[MapRun] = []
    thread = threading.Thread(target=lambda: result.append(h.run()))
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        running = [i for i in (1, 2) if h.state.items.get(i) and h.state.items[i].proc]
        if h.state.status_of(0) == SUCCEEDED and len(running) == 2:
            break
        time.sleep(0.02)
    else:
        pytest.fail("items 1 and 2 never started")
    pids = [h.state.items[i].proc[0] for i in (1, 2)]
    h.stop.event.set()
    thread.join(15)
    assert not thread.is_alive()
    run = result[0]
    assert run.interrupted and (run.started, run.succeeded) == (3, 1)
    assert [r.get("s", "succeeded") for r in h.records("done", 1) + h.records("done", 2)] == ["interrupted", "interrupted"]
    for i in (1, 2):
        item = h.state.items[i]
        assert (item.status, item.interrupted, item.failures) == (PENDING, True, None)
    assert [i for i in range(3, 6) if i in h.state.items] == []  # nothing dispatched after the request
    assert not any(alive(pid) for pid in pids)
    assert "item_interrupted" in h.event_names()


class FakeExecutor:
    """An executor whose attempts end at once with a prepared outcome (or raise); `on_submit` runs first."""

    name = "fake"

    def __init__(self, outcome: Callable[[ItemTask], ItemOutcome], on_submit: Callable[[], None] = lambda: None):
        self.outcome = outcome
        self.on_submit = on_submit
        self.submitted: list[tuple[int, int]] = []

    def submit(self, task: ItemTask) -> Future[ItemOutcome]:
        self.submitted.append((task.index, task.attempt))
        self.on_submit()
        future: Future[ItemOutcome] = Future()
        try:
            future.set_result(self.outcome(task))
        except Exception as exc:  # noqa: BLE001 - a broken worker, delivered through the future
            future.set_exception(exc)
        return future

    def shutdown(self) -> None:
        return None


def failed(task: ItemTask) -> ItemOutcome:
    return ItemOutcome(index=task.index, attempt=task.attempt, status=o.FAILED, exit_code=1, duration=0.01,
                       error="exit code 1", output="", stderr="bad\n", log_path=None)


def test_a_broken_worker_is_a_failed_attempt_not_a_crash(work: Path) -> None:
    h = Harness(work, [0, 1], "true", policy=ErrorPolicy(retry_attempts=2), max_parallel=1)

    def outcome(task: ItemTask) -> ItemOutcome:
        raise RuntimeError("worker vanished")

    executor = FakeExecutor(outcome)
    run = h.coordinator.execute(executor, [0, 1])
    h.store.close()
    assert executor.submitted == [(0, 1), (1, 1), (0, 2), (1, 2)]  # a retry queues behind waiting items
    assert run.to_dlq == 2 and h.state.indexes(DLQ) == [0, 1]
    errors = [r["err"] for r in h.records("done")]
    assert all("worker error: RuntimeError: worker vanished" in e for e in errors)


def test_a_failure_during_a_stop_request_keeps_its_remaining_retries(work: Path) -> None:
    h = Harness(work, [0], "true", policy=ErrorPolicy(retry_attempts=3), max_parallel=1)
    executor = FakeExecutor(failed, on_submit=h.stop.event.set)  # Ctrl-C lands while the attempt fails
    run = h.coordinator.execute(executor, [0])
    h.store.close()
    assert run.interrupted
    assert h.state.status_of(0) == PENDING and h.state.count(DLQ) == 0


def test_the_local_pool_reuses_prestarted_threads_and_never_runs_more_than_its_limit() -> None:
    from prodigy.execution.mapreduce.pool import _Threads

    threads = _Threads(3, "t")
    threads.start(10)  # capped at the limit
    running, peak, lock, names = [0], [0], threading.Lock(), set()

    def job(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            names.add(threading.current_thread().name)
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        if n == 5:
            raise ValueError("item 5 broke")
        return n * 2

    futures = [threads.submit(lambda n=n: job(n)) for n in range(12)]
    assert [f.result() for f in futures if not f.exception()] == [n * 2 for n in range(12) if n != 5]
    assert isinstance(futures[5].exception(), ValueError)
    assert peak[0] <= 3 and names <= {"t_0", "t_1", "t_2"}
    blocker = threading.Event()
    first = [threads.submit(blocker.wait) for _ in range(3)]
    deadline = time.monotonic() + 5
    while not all(f.running() for f in first):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    queued = threads.submit(lambda: 1)  # every thread is busy: it waits in the queue
    closing = threading.Thread(target=threads.shutdown)
    closing.start()
    while not queued.cancelled():  # shutdown cancels what no thread took, then waits for the running ones
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert closing.is_alive()
    blocker.set()
    closing.join(5)
    assert not closing.is_alive() and all(f.result() for f in first)
