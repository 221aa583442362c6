"""Outcomes for the cluster's own failures. None of them is the item's: they carry the CLUSTER failure kind, so
the coordinator journals them as interruptions (no retry spent, never the DLQ) and puts the item back in the
queue, or (a lost scheduler) stops dispatching, resumably. One exception: an item whose attempts lose a worker
a second time counts as failing (it may be what takes its worker down, e.g. by exhausting memory)."""

from __future__ import annotations

import time

from prodigy.execution import outcome as o
from prodigy.execution.mapreduce.pool import ItemOutcome, ItemTask

WORKER_DIED = "worker_died"
WORKER_LEFT = "worker_left"  # the worker went before the attempt's first command started: nothing ran
UNFIT = "worker_unfit"
CANCELLED = "cancelled"
RECONNECTED = "reconnected"
SCHEDULER_LOST = "scheduler_lost"
NO_WORKERS = "no_workers"
TASK_ERROR = "task_error"


def _outcome(task: ItemTask, started: float, error: str, worker: str, kind: o.FailureKind | None,
             status: str = o.ERRORED) -> ItemOutcome:
    return ItemOutcome(index=task.index, attempt=task.attempt, status=status, exit_code=None,
                       duration=time.monotonic() - started, error=error, output="", stderr="", log_path=None,
                       worker=worker, failure_kind=kind)


def _ended(ended: bool | None) -> str:
    if ended is None:
        return ("its command could not be reached to end it (no worker of that host is left in the cluster), so it "
                "is fenced: it cannot start another command and nothing it returns is used")
    return "its command was ended" if ended else "its command had already ended"


def worker_died(task: ItemTask, started: float, worker: str, *, ended: bool | None, ran: bool,
                again: bool) -> ItemOutcome:
    item = f"item_{task.index}"
    if not ran:
        return _outcome(task, started, f"not run: worker {worker} left the cluster before {item}'s first command "
                        "started; the item runs on another worker (no retry spent)", worker,
                        o.FailureKind(o.CLUSTER, WORKER_LEFT))
    if again:
        return _outcome(task, started, f"worker {worker} died while it ran {item} (attempt {task.attempt}); "
                        f"{_ended(ended)}; the item runs again on another worker (no retry spent)", worker,
                        o.FailureKind(o.CLUSTER, WORKER_DIED))
    return _outcome(task, started, f"worker {worker} died while it ran {item} (attempt {task.attempt}), the second "
                    f"worker lost with this item, so it counts as the item's failure (an item can take its worker "
                    f"down, e.g. by exhausting its memory); {_ended(ended)}", worker, None)


def unfit(task: ItemTask, started: float, worker: str, why: str) -> ItemOutcome:
    return _outcome(task, started, f"not run: worker {worker} {why}; the item goes to another worker (no retry "
                    "spent)", worker, o.FailureKind(o.CLUSTER, UNFIT))


def cancelled(task: ItemTask, started: float, worker: str, ended: bool | None) -> ItemOutcome:
    return _outcome(task, started, f"item_{task.index}'s Dask task was cancelled outside prodigy; {_ended(ended)}; "
                    "the item runs again (no retry spent)", worker, o.FailureKind(o.CLUSTER, CANCELLED))


def not_sent(task: ItemTask, started: float, why: str) -> ItemOutcome:
    return _outcome(task, started, f"not run: item_{task.index}'s attempt could not be sent to the cluster ({why}); "
                    "the item runs again (no retry spent)", "none", o.FailureKind(o.CLUSTER, CANCELLED))


def reconnected(task: ItemTask, started: float, worker: str, ended: bool | None) -> ItemOutcome:
    return _outcome(task, started, f"the connection to the Dask scheduler was lost while item_{task.index} ran and "
                    f"the cluster forgot the attempt; {_ended(ended)}; the item runs again (no retry spent)", worker,
                    o.FailureKind(o.CLUSTER, RECONNECTED))


def lost(task: ItemTask, started: float, worker: str, message: str, hint: str | None,
         reason: str = SCHEDULER_LOST) -> ItemOutcome:
    """The cluster is gone for this run: no record of the attempt's end (its command may outlive it on a host out
    of reach; a resume ends it and runs the item again), and the run stops dispatching."""
    return _outcome(task, started, message, worker,
                    o.FailureKind(o.CLUSTER, reason, hint=hint, stop=True, unsettled=True))
