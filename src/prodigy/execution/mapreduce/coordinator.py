"""The map phase coordinator: keeps at most max_parallel items in flight, journals each attempt's start
(before its first command may run) and its end, applies retries and the error policy, and stops in order
on an interrupt. It is the only writer of the job journal during the map phase."""

from __future__ import annotations

import heapq
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution.mapreduce.mapvars import counts
from prodigy.execution.mapreduce.pool import ItemExecutor, ItemOutcome, ItemTask
from prodigy.execution.process import StartInfo
from prodigy.execution.reporter import Reporter
from prodigy.execution.signals import StopRequest
from prodigy.state.events import EventLog
from prodigy.state.jobs import DLQ, SKIPPED, SUCCEEDED, JobStore, item_id
from prodigy.workflow.model import ErrorPolicy, Step

PROGRESS_INTERVAL = 0.25
MIN_SAMPLE_FOR_THRESHOLD = 10


@dataclass
class MapRun:
    """What happened in this invocation's map phase."""

    started: int = 0  # attempts started
    succeeded: int = 0
    failed: int = 0  # attempts that failed (retried or not)
    retried: int = 0
    to_dlq: int = 0
    interrupted: bool = False
    stopped_by_policy: str | None = None
    failed_items: list[int] = field(default_factory=list)


class Coordinator:
    def __init__(self, *, store: JobStore, items: dict[int, Any], steps: tuple[Step, ...],
                 variables: dict[str, Any], policy: ErrorPolicy, max_parallel: int, timeout: float | None,
                 reporter: Reporter, events: EventLog, stop: StopRequest) -> None:
        self.store = store
        self.state = store.state
        assert self.state is not None
        self.items = items
        self.steps = steps
        self.variables = variables
        self.policy = policy
        self.max_parallel = max_parallel
        self.timeout = timeout
        self.reporter = reporter
        self.events = events
        self.stop = stop
        self.run = MapRun()
        self._last_progress = 0.0
        self._running: dict[Future[ItemOutcome], ItemTask] = {}

    # -- recording (called from worker threads through the executor's on_start)
    def record_process(self, task: ItemTask, info: StartInfo, worker: str | None = None) -> None:
        """Durable before the command may start: a later resume can find and end it (invariant 9). `worker`:
        the cluster worker whose host runs it (a remote executor), so a resume knows where to end it."""
        record = {"t": "proc", "i": task.index, "a": task.attempt, "pid": info.pid, "pg": info.pgid,
                  "st": info.start_time}
        if worker:
            record["w"] = worker
        self.store.append(record)

    # -- the loop
    def execute(self, executor: ItemExecutor, order: list[int]) -> MapRun:
        queue: deque[int] = deque(order)
        delayed: list[tuple[float, int]] = []
        total = self.state.item_count or 0
        self._progress(force=True)
        while True:
            dispatching = not self.stop.requested and self.run.stopped_by_policy is None
            now = time.monotonic()
            while delayed and delayed[0][0] <= now:
                queue.append(heapq.heappop(delayed)[1])
            while dispatching and queue and len(self._running) < self.max_parallel:
                self._submit(executor, queue.popleft(), total)
            if not self._running and (not dispatching or (not queue and not delayed)):
                break
            timeout = PROGRESS_INTERVAL
            if delayed and not self._running:
                timeout = max(0.01, min(timeout, delayed[0][0] - now))
            done, _ = wait(list(self._running), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                task = self._running.pop(future)
                self._finish(task, self._result(future, task), delayed)
            self.store.maybe_snapshot()
            self._progress()
        if self.stop.requested:
            self.run.interrupted = True
        self._progress(force=True)
        return self.run

    def _submit(self, executor: ItemExecutor, index: int, total: int) -> None:
        attempt = self.state.item(index).attempts + 1
        self.store.append({"t": "start", "i": index, "a": attempt}, sync=False)
        self.events.emit("item_started", item_id=item_id(index), attempt=attempt)
        self.reporter.emit("item_started", index=index, attempt=attempt)
        task = ItemTask(index=index, attempt=attempt, item=self.items[index], total=total, steps=self.steps,
                        variables=self.variables, timeout=self.timeout)
        self._running[executor.submit(task)] = task
        self.run.started += 1

    def _result(self, future: Future[ItemOutcome], task: ItemTask) -> ItemOutcome:
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 - a broken worker is this attempt's failure, not the job's
            return ItemOutcome(index=task.index, attempt=task.attempt, status=o.ERRORED, exit_code=None,
                               duration=0.0, error=f"worker error: {type(exc).__name__}: {exc}", output="",
                               stderr="", log_path=None)

    def _finish(self, task: ItemTask, result: ItemOutcome, delayed: list[tuple[float, int]]) -> None:
        index = task.index
        record: dict[str, Any] = {"t": "done", "i": index, "a": task.attempt, "d": round(result.duration, 3)}
        if result.exit_code is not None:
            record["x"] = result.exit_code
        if result.output:
            record["out"] = result.output
        if result.log_path:
            record["log"] = result.log_path
        if result.worker != "local":
            record["w"] = result.worker
        if result.status == o.INTERRUPTED:
            record["s"] = "interrupted"
            self.store.append(record)
            self.events.emit("item_interrupted", item_id=item_id(index), attempt=task.attempt)
            return
        if result.status in o.OK_STATUSES:
            record["s"] = "succeeded"
            self.store.append(record)
            self.run.succeeded += 1
            self.events.emit("item_completed", item_id=item_id(index), attempt=task.attempt,
                             duration=record["d"], exit_code=result.exit_code, log_path=result.log_path)
            self.reporter.emit("item_finished", index=index, ok=True, outcome=result)
            if self.policy.failure_threshold is not None:
                self._apply_policy()  # the sample may only now be large enough
            return
        self._failed(task, result, record, delayed)

    def _failed(self, task: ItemTask, result: ItemOutcome, record: dict[str, Any],
                delayed: list[tuple[float, int]]) -> None:
        index = task.index
        item = self.state.item(index)
        record.update({"s": result.status, "err": result.error or result.status})
        if result.stderr:
            record["se"] = result.stderr
        budget = item.retry_budget or self.policy.retry_attempts
        retry = item.round_attempts < budget
        self.run.failed += 1
        if retry and self.stop.requested:
            self.store.append(record)  # not final: a plain resume gives it its remaining attempts
            return
        if retry:
            self.store.append(record)
            delay = self.policy.retry_backoff * (2 ** (item.round_attempts - 1)) if self.policy.retry_backoff else 0
            heapq.heappush(delayed, (time.monotonic() + delay, index))
            self.run.retried += 1
            self.events.emit("item_retry", item_id=item_id(index), attempt=task.attempt, error=record["err"],
                             exit_code=result.exit_code, delay=delay, log_path=result.log_path)
            self.reporter.emit("item_retry", index=index, outcome=result)
            return
        final = "skip" if self.policy.on_item_failure == "skip" else "dlq"
        record["final"] = final
        self.store.append(record)
        self.run.failed_items.append(index)
        self.events.emit("item_failed", item_id=item_id(index), attempt=task.attempt, error=record["err"],
                         exit_code=result.exit_code, log_path=result.log_path)
        if final == "dlq":
            self.run.to_dlq += 1
            self.events.emit("dlq_item_added", item_id=item_id(index), attempts=item.attempts,
                             error=record["err"], log_path=result.log_path)
        self.reporter.emit("item_finished", index=index, ok=False, outcome=result)
        self._apply_policy()

    def _apply_policy(self) -> None:
        if self.run.stopped_by_policy:
            return
        failures = self.state.count(DLQ, SKIPPED)
        processed = failures + self.state.count(SUCCEEDED)
        policy = self.policy
        if policy.on_item_failure == "stop" and failures:
            self.run.stopped_by_policy = "an item failed and on_item_failure is 'stop'"
        elif policy.max_failures is not None and failures > policy.max_failures:
            self.run.stopped_by_policy = f"{failures} items failed, more than max_failures ({policy.max_failures})"
        elif (policy.failure_threshold is not None and processed >= min(MIN_SAMPLE_FOR_THRESHOLD,
                                                                         self.state.item_count or 0)
              and processed and failures / processed > policy.failure_threshold):
            self.run.stopped_by_policy = (f"{failures} of {processed} processed items failed, above "
                                          f"failure_threshold {policy.failure_threshold:g}")
        if self.run.stopped_by_policy:
            self.events.emit("map_stopped", reason=self.run.stopped_by_policy)
            self.reporter.emit("warning", text=f"map phase stopping: {self.run.stopped_by_policy}; items already "
                               "running will finish")

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        numbers = counts(self.state)
        self.reporter.emit("map_progress", done=numbers["successful"] + numbers["failed"],
                           succeeded=numbers["successful"], failed=numbers["failed"],
                           running=len(self._running), total=numbers["total"])
