"""The map phase coordinator: keeps at most max_parallel items in flight, journals each attempt's start
(before its first command may run) and its end, applies retries and the error policy, and stops in order
on an interrupt. It is the only writer of the job journal during the map phase."""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.errors import StateError
from prodigy.execution import outcome as o
from prodigy.execution.agents.policy import AgentGovernor, AgentStop, Pause, stop_summary
from prodigy.execution.mapreduce.commit import DURABLE, Committer, Events
from prodigy.execution.mapreduce.continuation import continuation_for
from prodigy.execution.mapreduce.mapvars import counts
from prodigy.execution.mapreduce.pool import ItemExecutor, ItemOutcome, ItemTask
from prodigy.execution.process import StartInfo
from prodigy.execution.reporter import Reporter
from prodigy.execution.signals import StopRequest
from prodigy.state.events import EventLog
from prodigy.state.jobs import DLQ, SKIPPED, SUCCEEDED, JobStore
from prodigy.workflow.model import AgentPolicy, ErrorPolicy, Step

PROGRESS_INTERVAL = 0.25
Notice = Callable[[], None]


def _nothing() -> None:
    return None

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
    agent_stop: AgentStop | None = None  # stopped dispatching, resumably: agents cannot run, outage, cost cap
    conversations: list[tuple[str, str]] = field(default_factory=list)  # interrupted agents: continued/restarted
    requeued: int = 0  # attempts that failed transiently and went back to the queue (no retry spent)


class Coordinator:
    def __init__(self, *, store: JobStore, items: dict[int, Any], steps: tuple[Step, ...],
                 variables: dict[str, Any], policy: ErrorPolicy, max_parallel: int, timeout: float | None,
                 reporter: Reporter, events: EventLog, stop: StopRequest,
                 governor: AgentGovernor | None = None) -> None:
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
        self.governor = governor or AgentGovernor(AgentPolicy())
        self.run = MapRun()
        # Resume inside the agent: where item i's next attempt runs (None: its tree is gone), and the CLI
        self.tree_for: Callable[[int], Path | None] | None = None
        self.cli_version: str | None = None
        self.transcripts: Path | None = None  # where the CLI keeps conversations (conversation.transcript_dir)
        self._executor_name = "local"
        self._last_progress = 0.0
        self._awaiting_retry: set[int] = set()  # failed an attempt, waiting for the next one (not running)
        self._running: dict[Future[ItemOutcome], ItemTask] = {}
        self._started: set[tuple[int, int]] = set()  # (item, attempt) whose `start` record is written
        self._started_lock = threading.Lock()
        self._errors: list[tuple[int, str]] = []  # failures not yet reported (error_collection)
        self._events = Events()  # completed futures and durable batches (commit.py)

    # -- recording (called from worker threads through the executor's hooks)
    def record_progress(self, task: ItemTask, kind: str, index: int, values: dict[str, Any]) -> None:
        """An item_part / item_step record: written like a proc record (it must outlive prodigy, not power)."""
        record: dict[str, Any] = {"t": kind, "i": task.index, "k": index, "v" if kind == "item_part" else "vars": values}
        if task.attempt != 1:
            record["a"] = task.attempt
        self.store.append(record, sync=False, stamp=False)

    def record_process(self, task: ItemTask, info: StartInfo, worker: str | None = None) -> None:
        """Written before the command may start, so a resume after a kill can find and end it (invariant 9).

        A plain write survives the death of prodigy (the page cache outlives the process), and after a power
        loss no command is left to end, so this record needs no fsync of its own. The attempt's first command
        writes its `start` record; later commands a `proc` record. `worker` names a remote worker's address."""
        record: dict[str, Any] = {"t": "proc", "i": task.index, "pid": info.pid, "st": info.start_time}
        key = (task.index, task.attempt)
        with self._started_lock:
            first = key not in self._started
            self._started.add(key)
        if first:
            record["t"] = "start"  # its time is `st` (the process's own start); `ts` only from a remote worker
            if worker:
                record["ts"] = round(time.time(), 3)
            if task.attempt != 1:
                record["a"] = task.attempt  # omitted for a first attempt: 1 is implied
        if info.pgid != info.pid:
            record["pg"] = info.pgid
        if worker:
            record["w"] = worker
        self.store.append(record, sync=False, stamp=False)

    # -- the loop
    def execute(self, executor: ItemExecutor, order: list[int]) -> MapRun:
        try:
            return self._execute(executor, order)
        except StateError:
            self.stop.event.set()  # state can no longer be recorded: end the running commands, do not wait
            raise

    def _execute(self, executor: ItemExecutor, order: list[int]) -> MapRun:
        queue: deque[int] = deque(order)
        delayed: list[tuple[float, int]] = []
        total = self.state.item_count or 0
        self._progress(force=True)
        self._queue = queue
        self._agent_stopped(self.governor.check_budget())  # a cap reached in an earlier run: start nothing
        committer = self._committer = Committer(self.store.sync, self._events)
        prestart = getattr(executor, "prestart", None)
        if prestart is not None:  # before any item runs, when starting a thread is cheap (pool.py _Threads)
            prestart(min(self.max_parallel, len(queue)))
        try:
            while True:
                self._dispatch(executor, queue, delayed, total)
                if not self._running and (not self._dispatching or (not queue and not delayed)):
                    break
                timeout = PROGRESS_INTERVAL
                if delayed and not self._running:
                    timeout = max(0.01, min(timeout, delayed[0][0] - time.monotonic()))
                if not self._running:  # a retry's backoff or the pool's pause: sleep, but wake on Ctrl-C
                    self.stop.event.wait(min(timeout, max(self.governor.wait_left(), 0.01)))
                    timeout = 0
                notices = [self._finish(task, self._result(future, task), delayed)
                           for future in self._collect(timeout) for task in (self._running.pop(future),)]
                if notices:
                    # The completions reach the disk in the committer's thread (group commit) while this one
                    # keeps the workers busy; they are reported once durable (invariant 1), in _collect.
                    committer.add(notices)
                self.store.maybe_snapshot()
                self._progress()
        finally:
            left = committer.close()
        self._events_left(left)
        if self.stop.requested:
            self.run.interrupted = True
        self._report_errors(final=True)
        self._progress(force=True)
        return self.run

    def _collect(self, timeout: float | None) -> list[Future[ItemOutcome]]:
        """The futures that completed (waiting up to `timeout` for something to happen); reports on the way
        the completions the committer made durable."""
        done = []
        for event in self._events.get(timeout):
            if isinstance(event, Future):
                done.append(event)
            elif event[0] == DURABLE:
                for notice in event[1]:
                    notice()
            else:
                raise event[1]  # the journal could not be synced: stop as for any state write that fails
        return done

    def _events_left(self, left: list[Notice]) -> None:
        """At the end of the loop: report what became durable meanwhile, then sync and report the rest."""
        for event in self._events.get(0):
            if isinstance(event, tuple) and event[0] == DURABLE:
                for notice in event[1]:
                    notice()
            elif isinstance(event, tuple):
                raise event[1]
        if left:
            self.store.sync()
            for notice in left:
                notice()

    def _report_errors(self, final: bool = False) -> None:
        """error_collection: immediate reports each failure now, batched every N, aggregate at the end."""
        mode = self.policy.error_collection
        due = final or mode == "immediate" or (mode == "batched" and len(self._errors) >= self.policy.error_batch)
        if self._errors and due:
            self.reporter.emit("item_errors", errors=list(self._errors), mode=mode, final=final)
            self._errors.clear()

    @property
    def _dispatching(self) -> bool:
        return not self.stop.requested and self.run.stopped_by_policy is None and self.run.agent_stop is None

    def _dispatch(self, executor: ItemExecutor, queue: deque[int], delayed: list[tuple[float, int]],
                  total: int) -> None:
        now = time.monotonic()
        while delayed and delayed[0][0] <= now:
            queue.append(heapq.heappop(delayed)[1])
        if self.governor.wait_left() > 0:
            return  # the pool is paused: the API is rate limiting or overloaded
        while self._dispatching and queue and len(self._running) < self.max_parallel:
            self._submit(executor, queue.popleft(), total)

    def _submit(self, executor: ItemExecutor, index: int, total: int) -> None:
        # No record yet: the attempt's `start` record is written when its first command is about to run.
        item = self.state.item(index)
        attempt = item.attempts + 1
        self._awaiting_retry.discard(index)
        self.reporter.emit("item_started", index=index, attempt=attempt)
        resume, note = continuation_for(item.progress, self.steps,
                                        tree=self.tree_for(index) if self.tree_for else None,
                                        cli_version=self.cli_version, policy=self.governor.settings,
                                        executor=getattr(executor, "name", "local"), transcripts=self.transcripts)
        if note is not None:
            self.run.conversations.append(note)
        task = ItemTask(index=index, attempt=attempt, item=self.items[index], total=total, steps=self.steps,
                        variables=self.variables, timeout=self.timeout, resume=resume)
        future = executor.submit(task)
        self._running[future] = task
        future.add_done_callback(self._events.put)  # one wake-up of the loop per completion
        self.run.started += 1

    def _result(self, future: Future[ItemOutcome], task: ItemTask) -> ItemOutcome:
        try:
            return future.result()
        except StateError:
            raise  # recording the attempt's command failed (disk full ...): the job stops, the item is not at fault
        except Exception as exc:  # noqa: BLE001 - a broken worker is this attempt's failure, not the job's
            return ItemOutcome(index=task.index, attempt=task.attempt, status=o.ERRORED, exit_code=None,
                               duration=0.0, error=f"worker error: {type(exc).__name__}: {exc}", output="",
                               stderr="", log_path=None)

    def _finish(self, task: ItemTask, result: ItemOutcome, delayed: list[tuple[float, int]]) -> Notice:
        """Append the attempt's `done` record (not yet synced) and return what to report once it is durable."""
        with self._started_lock:
            self._started.discard((task.index, task.attempt))
        index = task.index
        record: dict[str, Any] = {"t": "done", "i": index, "d": round(result.duration, 3)}
        if task.attempt != 1:
            record["a"] = task.attempt  # omitted for a first attempt: 1 is implied
        if result.exit_code is not None and not (result.exit_code == 0 and result.status in o.OK_STATUSES):
            record["x"] = result.exit_code  # omitted for a success that exited 0: readers default it
        if result.output:
            record["out"] = result.output
        if result.log_path:
            record["log"] = result.log_path
        if result.worker != "local":
            record["w"] = result.worker
        if result.agent is not None:
            record["ag"] = result.agent.to_record()
            self._agent_stopped(self.governor.add_cost(result.agent.cost_usd))
        self.run.conversations.extend(result.conversations)
        kind = result.failure_kind
        ok = result.status in o.OK_STATUSES
        if result.status != o.INTERRUPTED and (result.agent is not None or kind is not None):
            self._agent_decision(self.governor.observe(None if ok else kind, result.error))
        if kind is not None and kind.run_level and not ok:
            return self._not_the_items_fault(task, result, record)
        if result.status == o.INTERRUPTED:
            record["s"] = "interrupted"
            self.store.append(record, sync=False)
            return _nothing
        if result.status in o.OK_STATUSES:
            # no "s": a done record without a status is a success (most records in a big job)
            self.store.append(record, sync=False)
            self.run.succeeded += 1
            if self.policy.failure_threshold is not None:
                self._apply_policy()  # the sample may only now be large enough
            return lambda: self.reporter.emit("item_finished", index=index, ok=True, outcome=result)
        return self._failed(task, result, record, delayed)

    def _not_the_items_fault(self, task: ItemTask, result: ItemOutcome, record: dict[str, Any]) -> Notice:
        """A transient or fatal agent failure, or the cluster's: journaled like an interrupt (the item stays
        pending, no retry spent, never the DLQ), with its kind; a transient or cluster one goes back to the front
        of the queue."""
        kind = result.failure_kind
        assert kind is not None
        if kind.unsettled:
            return _nothing  # the cluster lost it and its command may still run: in flight, as after a crash
        record.update({"s": "interrupted", "k": kind.kind, "err": result.error or result.status})
        if kind.kind == o.CLUSTER:
            record["r"] = kind.reason  # worker_died, worker_left, worker_unfit, cancelled, reconnected
        if result.stderr:
            record["se"] = result.stderr
        self.store.append(record, sync=False)
        if kind.kind in (o.TRANSIENT, o.CLUSTER) and self._dispatching:
            self._queue.appendleft(task.index)
            self.run.requeued += 1
        index = task.index
        return lambda: self.reporter.emit("item_paused", index=index, outcome=result)

    def _agent_decision(self, decision: Pause | AgentStop | None) -> None:
        if isinstance(decision, Pause):
            self.events.emit("agents_paused", seconds=round(decision.seconds, 1), reason=decision.message)
            self.reporter.emit("agents_paused", seconds=decision.seconds, text=decision.message)
        elif isinstance(decision, AgentStop):
            self._agent_stopped(decision)

    def _agent_stopped(self, stop: AgentStop | None) -> None:
        if stop is None or self.run.agent_stop is not None:
            return
        self.run.agent_stop = stop
        self.events.emit("map_stopped", reason=stop_summary(stop), kind=stop.kind)
        self.reporter.emit("warning", text=f"map phase stopping ({stop.kind}: {stop.reason}); items already "
                           "running will finish")

    def _failed(self, task: ItemTask, result: ItemOutcome, record: dict[str, Any],
                delayed: list[tuple[float, int]]) -> Notice:
        index = task.index
        item = self.state.item(index)
        record.update({"s": result.status, "err": result.error or result.status})
        if result.stderr:
            record["se"] = result.stderr
        budget = item.retry_budget or self.policy.retry_attempts
        used = item.round_attempts + 1  # this attempt included (its record is not folded yet)
        retry = used < budget
        self.run.failed += 1
        if retry and self.stop.requested:
            self.store.append(record, sync=False)  # not final: a plain resume gives it its remaining attempts
            return _nothing
        if retry:
            self.store.append(record, sync=False)
            delay = self.policy.retry_backoff * (2 ** (used - 1)) if self.policy.retry_backoff else 0
            heapq.heappush(delayed, (time.monotonic() + delay, index))
            self._awaiting_retry.add(index)
            self.run.retried += 1
            return lambda: self.reporter.emit("item_retry", index=index, outcome=result)
        record["final"] = "skip" if self.policy.on_item_failure == "skip" else "dlq"
        self.store.append(record, sync=False)
        self.run.failed_items.append(index)
        if record["final"] == "dlq":
            self.run.to_dlq += 1
        self._apply_policy()  # now, before anything else is dispatched

        def notice() -> None:
            self.reporter.emit("item_finished", index=index, ok=False, outcome=result)
            self._errors.append((index, result.error or result.status))
            self._report_errors()

        return notice

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
                           running=len(self._running), total=numbers["total"], retrying=len(self._awaiting_retry))
