"""Executors run one item's agent template and return its outcome; they never write state (invariant 2).

The coordinator talks to them through this interface; the local thread pool is the default, and a cluster
backend is a second implementation of the same interface."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from prodigy.errors import ProdigyError
from prodigy.execution import outcome as o
from prodigy.execution.agents.usage import UsageLedger
from prodigy.execution.context import StepContext
from prodigy.execution.mapreduce.template import ProgressHook, run_template
from prodigy.execution.process import StartInfo
from prodigy.workflow.model import Step

OUTPUT_KEEP = 8 * 1024  # bytes of an item's output kept in its journal record (the tail)
STDERR_KEEP = 4 * 1024


@dataclass(frozen=True)
class ItemTask:
    index: int
    attempt: int
    item: Any
    total: int
    steps: tuple[Step, ...]
    variables: dict[str, Any]  # workflow env + setup captures
    timeout: float | None  # agent_timeout_secs
    resume: dict[str, Any] | None = None  # continue an interrupted attempt: {k, steps, parts} (template.py)


@dataclass(frozen=True)
class ItemOutcome:
    index: int
    attempt: int
    status: str
    exit_code: int | None
    duration: float
    error: str | None
    output: str
    stderr: str
    log_path: str | None
    worker: str = "local"
    agent: Any = None  # agents.usage.AgentUsage: what this attempt's agent calls cost (None: no agent call)
    failure_kind: o.FailureKind | None = None  # a failure's kind (transient / fatal: not the item's fault)
    conversations: tuple[tuple[str, str], ...] = ()  # ("continued", id) / ("restarted", why) of its agents


class ItemExecutor(Protocol):
    name: str

    def submit(self, task: ItemTask) -> Future[ItemOutcome]: ...

    def shutdown(self) -> None: ...


class Workspaces(Protocol):
    """Where an item runs (e.g. its own git worktree), and what becomes of its work when it ends (e.g. merged):
    `leave` returns the outcome the coordinator records, so a merge that fails fails the item."""

    def enter(self, task: ItemTask) -> Path: ...

    def leave(self, task: ItemTask, outcome: ItemOutcome) -> ItemOutcome: ...


def item_variables(task: ItemTask) -> dict[str, Any]:
    item_json = json.dumps(task.item, ensure_ascii=False, separators=(",", ":"))
    return {**task.variables, "item": task.item, "item_json": item_json, "item_id": f"item_{task.index}",
            "item_index": task.index, "item_total": task.total, "attempt": task.attempt,
            "map.key": f"item_{task.index}", "worker.id": threading.current_thread().name}


def item_env(task: ItemTask, job_id: str) -> dict[str, str]:
    return {"PRODIGY_JOB_ID": job_id, "PRODIGY_ITEM_ID": f"item_{task.index}",
            "PRODIGY_ITEM_INDEX": str(task.index),
            "PRODIGY_ITEM_JSON": json.dumps(task.item, ensure_ascii=False, separators=(",", ":")),
            "PRODIGY_ATTEMPT": str(task.attempt)}


def run_item(task: ItemTask, ctx: StepContext, job_id: str, workspaces: Workspaces | None = None,
             hook: ProgressHook | None = None) -> ItemOutcome:
    """Run one attempt of one item. Never raises for command failures (invariant 8). `hook` journals the
    attempt's progress (through the coordinator), which lets an interrupted agent continue its conversation."""
    started = time.monotonic()
    if workspaces is None:
        return _run_item(task, ctx, job_id, started, hook)
    try:
        ctx = replace(ctx, run_dir=workspaces.enter(task))
    except ProdigyError as exc:
        return ItemOutcome(index=task.index, attempt=task.attempt, status=o.ERRORED, exit_code=None,
                           duration=time.monotonic() - started, error=str(exc), output="", stderr="", log_path=None)
    return workspaces.leave(task, _run_item(task, ctx, job_id, started, hook))


def _run_item(task: ItemTask, ctx: StepContext, job_id: str, started: float,
              hook: ProgressHook | None = None) -> ItemOutcome:
    deadline = started + task.timeout if task.timeout else None
    ledger = UsageLedger()
    item_ctx = replace(ctx, process_env={**ctx.process_env, **item_env(task, job_id)}, deadline=deadline,
                       label=f"item_{task.index}", usage=ledger)
    result = run_template(task, item_variables(task), item_ctx, hook)
    error = result.error
    if result.status == o.TIMED_OUT and deadline is not None and time.monotonic() >= deadline - 0.05:
        error = f"agent timed out after {task.timeout:g}s (agent_timeout_secs)"
    return ItemOutcome(
        index=task.index, attempt=task.attempt, status=result.status, exit_code=result.exit_code,
        duration=time.monotonic() - started, error=ctx.masker(error) if error else None,
        output=ctx.masker(keep_tail(result.stdout, OUTPUT_KEEP)), stderr=ctx.masker(result.stderr[-STDERR_KEEP:]),
        log_path=result.log_path, agent=ledger.total(), failure_kind=result.failure_kind,
        conversations=tuple(ledger.notes),
    )


def keep_tail(text: str, limit: int) -> str:
    """The last `limit` bytes of an item's output, saying so when the rest was cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    kept = data[-limit:].decode("utf-8", "ignore")
    return f"[output cut: the last {limit} of {len(data)} bytes]\n{kept}"


class LocalExecutor:
    """A thread per running item; each command runs in its own process group."""

    name = "local"

    def __init__(self, max_parallel: int, ctx: StepContext, job_id: str,
                 on_start: Callable[[ItemTask, StartInfo], None], workspaces: Workspaces | None = None,
                 hook: ProgressHook | None = None) -> None:
        self._pool = _Threads(max_parallel, "prodigy-item")
        self._ctx = ctx
        self._job_id = job_id
        self._on_start = on_start
        self._workspaces = workspaces
        self._hook = hook

    def prestart(self, count: int) -> None:
        """Start the threads of the first `count` items now, before any item runs (see _Threads)."""
        self._pool.start(count)

    def submit(self, task: ItemTask) -> Future[ItemOutcome]:
        def record(info: StartInfo) -> None:
            self._on_start(task, info)

        ctx = replace(self._ctx, on_start=record)
        return self._pool.submit(lambda: run_item(task, ctx, self._job_id, self._workspaces, self._hook))

    def shutdown(self) -> None:
        self._pool.shutdown()


class _Threads:
    """The local executor's worker threads: a ThreadPoolExecutor whose threads can also be started together
    before the first item. ThreadPoolExecutor starts a thread per submit while others run, and a thread started
    then waits for the GIL behind them (Thread.start waits for it): at 200 in parallel that made every start of
    the fill wait ~1.7 ms in the dispatching thread. Started while every other thread is blocked, a thread costs
    a fraction of that."""

    def __init__(self, limit: int, prefix: str) -> None:
        self._limit = limit
        self._pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=prefix)

    def start(self, count: int) -> None:
        """Start `count` threads (at most the limit) now: each holds a wait on one barrier until all exist."""
        count = min(count, self._limit)
        if count < 1:
            return
        gate = threading.Barrier(count + 1)
        try:
            for _ in range(count):
                self._pool.submit(gate.wait)
        except BaseException:
            gate.abort()  # the threads already started stop waiting
            raise
        gate.wait()

    def submit(self, call: Callable[[], Any]) -> Future[Any]:
        return self._pool.submit(call)

    def shutdown(self) -> None:
        """Cancel what no thread took yet, let the running jobs finish, and end the threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)
