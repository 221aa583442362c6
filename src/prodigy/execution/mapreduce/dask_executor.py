"""Run map items on a Dask distributed cluster: the second implementation of the ItemExecutor interface.

The coordinator, its lock and its journal stay here and remain the single source of truth; Dask only places
and runs attempts. Each attempt is one task (`cluster/worker.py::run_attempt`), key
`<job>-item_<i>-a<attempt>-<token>`, `pure=False`, no Dask retries: prodigy owns attempts, retries and the DLQ.

No command runs unrecorded: before a command's start gate opens, the worker reports its pid, group and start time
(cluster/protocol.py) and waits until the listener thread here has journaled them and answered.

The cluster's own failures are not the items' (cluster/faults.py): a worker that dies has its commands ended (or
fenced) and its items run again elsewhere; a worker that cannot run an attempt (fitness.py) costs nothing and is
left out after a few; a lost scheduler stops dispatching, is waited for a bounded time (PRODIGY_DASK_RECONNECT)
and then stops the run, resumably. Whatever Dask's `allowed-failures` is: prodigy cancels a lost attempt's task
and refuses its commands anywhere else.

Repository access: `shared` (the default) runs items in the same directories as locally (a shared filesystem);
`git` ships the session's commits to workers and takes the items' commits back (git/transfer.py)."""

from __future__ import annotations

import logging
import os
import pickle
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prodigy.errors import ProdigyError, UsageError
from prodigy.execution import outcome as o
from prodigy.execution.cluster import envelope, faults
from prodigy.execution.cluster.connection import INSTALL, ClusterConnection
from prodigy.execution.cluster.hosts import is_local_host, worker_host
from prodigy.execution.cluster.listener import POLL, UNFIT_LIMIT, ClusterListener
from prodigy.execution.cluster.protocol import (
    AttemptSpec,
    RemoteResult,
    Shipment,
)
from prodigy.execution.cluster.worker import run_attempt
from prodigy.execution.context import StepContext
from prodigy.execution.mapreduce.pool import ItemOutcome, ItemTask, Workspaces
from prodigy.execution.process import reap_recorded

try:
    import dask
    import distributed
except ImportError:  # the extra is not installed; require() says what to install
    dask = distributed = None

__all__ = ["INSTALL", "SCHEDULER_ENV", "DaskExecutor", "attempt_key", "is_local_host", "require", "worker_host"]

SCHEDULER_ENV = "PRODIGY_DASK_SCHEDULER"
RECONNECT_ENV = "PRODIGY_DASK_RECONNECT"
RECONNECT = 30.0  # seconds to wait for a lost scheduler (or for a usable worker) before stopping the run


def require() -> None:
    if distributed is None:
        raise UsageError(f"--executor dask needs Dask distributed, which is not installed. Install it with: "
                         f"{INSTALL}")


def attempt_key(job_id: str, task: ItemTask, token: str = "") -> str:
    return f"{job_id}-item_{task.index}-a{task.attempt}" + (f"-{token}" if token else "")


def reconnect_seconds() -> float:
    try:
        return max(float(os.environ.get(RECONNECT_ENV, RECONNECT)), 0.0)
    except ValueError:
        raise UsageError(f"{RECONNECT_ENV} must be a number of seconds, not {os.environ[RECONNECT_ENV]!r}.") from None


@dataclass(eq=False)
class _Attempt:
    task: ItemTask
    key: str
    started: float
    box: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # ("done", dask future) | ("pushed", result) | ("fault", outcome)
    future: Any = None
    ran_on: str | None = None  # the worker that started its first command
    proc: tuple[int, int, float] | None = None  # its latest command: pid, group, start time
    workers: tuple[str, ...] = ()  # the workers its task may run on (those that had passed their check)
    over: bool = False  # its outcome is decided: later news about it is ignored


class DaskExecutor(ClusterConnection, ClusterListener):
    """Items as Dask tasks; a thread per item in flight here waits for its task (and enters/leaves its
    workspace); one listener thread (cluster/listener.py) journals the commands' starts, follows workers joining
    and leaving, watches the scheduler connection and forwards a stop request."""

    name = "dask"

    def __init__(self, choice: dict[str, Any], max_parallel: int, ctx: StepContext, job_id: str,
                 on_start: Callable[..., None], workspaces: Workspaces | None = None, *, env: Any = None,
                 steps: tuple[Any, ...] = (), notify: Callable[[str], None] | None = None) -> None:
        require()
        self.scheduler: str | None = choice.get("scheduler")
        self.local_workers: int | None = choice.get("local_workers")
        self.transfer: str = choice.get("repo_transfer") or "shared"
        self.warnings: list[str] = []
        self._ctx, self._job_id, self._on_start, self._workspaces = ctx, job_id, on_start, workspaces
        self._env, self._steps = env, steps
        self._notify = notify or self.warnings.append
        self._token = uuid.uuid4().hex[:10]
        self._reconnect = reconnect_seconds()
        self._shipper: Any = None
        if self.transfer == "git":
            if workspaces is None or not hasattr(workspaces, "session"):
                raise UsageError("--repo-transfer git sends the session's git worktree to the workers, and this run "
                                 "has none.", hint="Run inside a git repository with commits, without --no-worktree "
                                 "(or use --repo-transfer shared).")
            from prodigy.git.transfer import RepoShipper

            self._shipper = RepoShipper(workspaces)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._attempts: dict[str, _Attempt] = {}
        self._live: set[str] = set()
        self._dead: set[str] = set()
        self._excluded: dict[str, str] = {}
        self._unfit: Counter[str] = Counter()
        self._deaths: Counter[int] = Counter()
        self._task_errors = 0  # tasks in a row that failed on a worker before prodigy's code could run
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._healthy = threading.Event()
        self._healthy.set()
        self._lost: tuple[str, str | None] | None = None  # (why, what to do) once the cluster is gone for this run
        self._no_workers_since: float | None = None
        self._closing = threading.Event()
        self._envelope: envelope.Envelope | None = None
        self._base: tuple[str, str] | None = None  # (commit, the name the cluster holds its bundle under)
        self._publish_lock = threading.Lock()
        self._cluster: Any = None
        self._quieted: list[tuple[logging.Logger, int]] = []
        self._checks, self._check_files = self._prepare_checks()
        try:
            self._client = self._connect()
            self._subscribe()  # first: a worker that joins during the first check is then checked too
            self.workers = self._first_check()
        except BaseException:
            self._disconnect()
            self._cleanup()
            raise
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="prodigy-dask-item")
        self._listener = threading.Thread(target=self._listen, name="prodigy-dask-listener", daemon=True)
        self._listener.start()

    # -- the ItemExecutor interface
    def submit(self, task: ItemTask) -> Future[ItemOutcome]:
        return self._pool.submit(self._attempt, task)

    def shutdown(self) -> None:
        with self._lock:
            left = [att for att in self._attempts.values() if not att.over]
        if left and self._lost is None:  # an error in the coordinator: end what still runs on the cluster
            self._stop_on_workers([att.key for att in left])
            for att in left:
                self._cancel(att)
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._listener.join()
        self._cleanup()
        self._disconnect()

    def reap(self, worker: str, pid: int, pgid: int, start_time: float) -> bool | None:
        """End a recorded command: on its worker if it is still in the cluster, else here if its host is this
        machine, else on another worker of its host. None: no way to reach its host."""
        host = worker_host(worker)
        with self._lock:
            known = sorted((self._live | set(self._excluded)) - self._dead)
        if worker not in known and is_local_host(host):
            return reap_recorded(pid, pgid, start_time)
        targets = [worker] if worker in known else [w for w in known if worker_host(w) == host][:1]
        if not targets:
            return None
        result = self._client.run(reap_recorded, pid, pgid, start_time, workers=targets, on_error="return")
        value = next(iter(result.values()), None)
        return value if isinstance(value, bool) else None

    # -- one attempt (a thread here per item in flight)
    def _attempt(self, task: ItemTask) -> ItemOutcome:
        started = time.monotonic()
        key = attempt_key(self._job_id, task, self._token)
        if not self._wait_usable():
            assert self._lost is not None
            return faults.lost(task, started, "none", *self._lost)
        spec, refused = self._spec(task, key, started)
        if spec is None:
            assert refused is not None
            return refused
        att = _Attempt(task, key, started)
        with self._lock:
            self._attempts[key] = att
        try:
            try:
                att.workers = tuple(self._usable())
                if spec.shipment is not None:
                    spec = replace(spec, shipment=replace(spec.shipment, base_bundle=self._base_bundle(
                        spec.shipment.base, self._shipper.base()[1])))
                att.future = self._client.submit(run_attempt, spec, key=key, pure=False, retries=0,
                                                 workers=list(att.workers), allow_other_workers=False)
                att.future.add_done_callback(lambda done: att.box.put(("done", done)))
            except Exception as exc:  # noqa: BLE001 - the client lost its scheduler, or the cluster refused
                self._inbox.put(("trouble", key, f"{type(exc).__name__}: {exc}"))
            result, outcome = self._settle(att)
        finally:
            with self._lock:
                self._attempts.pop(key, None)
            if att.future is not None:
                try:
                    att.future.release()
                except Exception:  # noqa: BLE001 - a client already closed holds nothing
                    pass
        return self._leave(task, outcome, result)

    def _wait_usable(self) -> bool:
        """While the scheduler is being waited for, or no worker can take items, new attempts wait here."""
        while self._lost is None:
            if self._healthy.is_set() and self._usable():
                return True
            if self._closing.is_set():
                self._lost = ("prodigy is stopping", None)
                break
            self._healthy.wait(POLL) if not self._healthy.is_set() else time.sleep(POLL)
        return False

    def _usable(self) -> list[str]:
        with self._lock:
            return sorted(self._live - set(self._excluded) - self._dead)

    def _spec(self, task: ItemTask, key: str, started: float) -> tuple[AttemptSpec | None, ItemOutcome | None]:
        packed = self._packed(task)
        task = replace(task, variables=packed.variables)
        ctx = replace(self._ctx, stop_event=None, on_start=None, on_line=None, process_env=packed.env,
                      masker=packed.masker)
        if self._shipper is None:
            if self._workspaces is not None:
                try:
                    ctx = replace(ctx, run_dir=self._workspaces.enter(task))
                except ProdigyError as exc:
                    return None, _errored(task, str(exc), started)
            return AttemptSpec(task=task, key=key, job_id=self._job_id, token=self._token, ctx=ctx,
                               checks=self._checks), None
        try:
            base, _data = self._shipper.base()
            head, delta = self._shipper.head()
        except ProdigyError as exc:
            return None, _errored(task, str(exc), started)
        session = self._shipper.session
        shipment = Shipment(repo_key=self._shipper.repo_key, base=base, base_bundle="", head=head, delta=delta, subdir=session.subdir, branch_prefix=session.branch,
                            identity=self._shipper.identity)
        ctx = replace(ctx, run_dir=Path("."), log_dir=None, explain_missing=None)
        return AttemptSpec(task=task, key=key, job_id=self._job_id, token=self._token, ctx=ctx,
                           checks=self._checks, shipment=shipment), None

    def _packed(self, task: ItemTask) -> envelope.Envelope:
        """The environment and variables workers get (the same for every item: computed once)."""
        with self._lock:
            packed = self._envelope
        if packed is None:
            env = self._env
            packed = envelope.build(self._ctx.process_env, task.variables,
                                    declared=getattr(env, "declared", frozenset()),
                                    secrets=getattr(env, "secrets", frozenset()), steps=task.steps)
            with self._lock:
                self._envelope = packed
            self._warn_plain_text()
        return packed

    def _warn_plain_text(self) -> None:
        packed = self._envelope
        warning = envelope.plain_text_warning(self.scheduler, self._usable(), packed.sent) if packed else None
        if warning and warning not in self.warnings:
            self.warnings.append(warning)
            self._notify(warning)

    def _base_bundle(self, commit: str, data: bytes) -> str:
        """The name under which the cluster holds the base bundle (sent once per scheduler)."""
        with self._publish_lock:
            if self._base is not None and self._base[0] == commit:
                return self._base[1]
            future = self._client.scatter(data, hash=False)
            name = f"prodigy-{self._token}-base-{commit}-{uuid.uuid4().hex[:6]}"
            self._client.publish_dataset(future, name=name)  # kept by the scheduler until unpublished
            self._base = (commit, name)
            return name

    def _settle(self, att: _Attempt) -> tuple[RemoteResult | None, ItemOutcome]:
        while True:
            try:
                kind, value = att.box.get(timeout=POLL)
            except queue.Empty:
                if self._closing.is_set() and self._claim(att):
                    return None, _errored(att.task, "prodigy stopped before the attempt ended", att.started,
                                          o.INTERRUPTED)
                continue
            if kind == "fault":
                return None, value
            try:
                result = pickle.loads(value) if kind == "pushed" else value.result()  # noqa: S301 - prodigy's own
            except BaseException as exc:  # noqa: BLE001 - every way a task can end without a result
                decided = self._no_result(att, exc)
                if decided is not None:
                    return None, decided
                continue  # the listener decides (a worker died, the scheduler went away): its outcome follows
            if not self._claim(att):
                continue
            with self._lock:
                self._task_errors = 0
            if result.unfit is not None:
                self._note_unfit(result.worker, result.unfit)
                return result, faults.unfit(att.task, att.started, result.worker, result.unfit)
            assert result.outcome is not None
            return result, self._masked(result.outcome)

    def _no_result(self, att: _Attempt, exc: BaseException) -> ItemOutcome | None:
        if _scheduler_lost(exc) or self._client.status != "running":
            self._inbox.put(("trouble", att.key))
            return None
        if isinstance(exc, distributed.KilledWorker):
            address = getattr(exc.last_worker, "address", None) or att.ran_on or "unknown"
            self._inbox.put(("removed", address, [att.key]))
            return None
        if isinstance(exc, (CancelledError, distributed.client.FutureCancelledError)):
            if not self._claim(att):
                return None  # cancelled by prodigy itself: the reason is in the box already
            return faults.cancelled(att.task, att.started, att.ran_on or "unknown", self._end(att))
        if not self._claim(att):
            return None
        # The task itself failed on the worker (run_attempt returns every outcome of the item as a value): the
        # worker could not run prodigy's task at all, e.g. a prodigy or Python it cannot unpickle it with.
        text = f"cannot run prodigy's task ({type(exc).__name__}: {exc})"
        with self._lock:
            self._task_errors += 1
            broken = self._task_errors >= UNFIT_LIMIT
        if broken:
            self._give_up(f"the Dask workers {text}, {UNFIT_LIMIT} times in a row", faults.TASK_ERROR)
            assert self._lost is not None
            return faults.lost(att.task, att.started, att.ran_on or "unknown", *self._lost, faults.TASK_ERROR)
        return faults.unfit(att.task, att.started, att.ran_on or "unknown", text)

    def _claim(self, att: _Attempt) -> bool:
        with self._lock:
            if att.over:
                return False
            att.over = True
            return True

    def _leave(self, task: ItemTask, outcome: ItemOutcome, result: RemoteResult | None) -> ItemOutcome:
        if self._shipper is not None:
            if result is not None and result.logs:
                outcome = _with_logs(outcome, result.logs, self._ctx)
            return self._shipper.take(task.index, outcome, result.returned if result else None)
        return self._workspaces.leave(task, outcome) if self._workspaces is not None else outcome

    def _masked(self, outcome: ItemOutcome) -> ItemOutcome:
        mask = self._ctx.masker
        if not mask:
            return outcome
        return replace(outcome, error=mask(outcome.error) if outcome.error else outcome.error,
                       output=mask(outcome.output), stderr=mask(outcome.stderr))

    def _note_unfit(self, address: str, why: str) -> None:
        with self._lock:
            self._unfit[address] += 1
            limit = self._unfit[address] >= UNFIT_LIMIT
        if limit:
            self._exclude(address, why)

    def _exclude(self, address: str, why: str, *, announce: bool = True) -> None:
        with self._lock:
            if address in self._excluded:
                return
            self._excluded[address] = why
        if announce:
            self._notify(f"Dask worker {address} is left out of this job: it {why}. {self._advice()}")

    def _end(self, att: _Attempt, worker: str | None = None) -> bool | None:
        """End the attempt's latest command wherever it can be reached (False: nothing was running)."""
        if att.proc is None:
            return False
        try:
            return self.reap(worker or att.ran_on or "unknown", *att.proc)
        except Exception:  # noqa: BLE001 - unreachable: fenced, and a resume checks again
            return None

    def _cancel(self, att: _Attempt) -> None:
        if att.future is not None:
            try:
                self._client.cancel([att.future], force=True)
            except Exception:  # noqa: BLE001 - a lost client cannot cancel, and its tasks are gone anyway
                pass

def _scheduler_lost(exc: BaseException) -> bool:
    if getattr(exc, "reason", None) == "scheduler-connection-lost":
        return True
    return isinstance(exc, (distributed.client.ClosedClientError, OSError))


def _errored(task: ItemTask, error: str, started: float, status: str = o.ERRORED,
             worker: str = "local") -> ItemOutcome:
    return ItemOutcome(index=task.index, attempt=task.attempt, status=status, exit_code=None,
                       duration=time.monotonic() - started, error=error, output="", stderr="", log_path=None,
                       worker=worker)


def _with_logs(outcome: ItemOutcome, logs: tuple[tuple[str, bytes], ...], ctx: StepContext) -> ItemOutcome:
    """Agent logs a remote worker sent back, written where local ones go; the outcome names the local copy."""
    from prodigy import paths
    from prodigy.state.atomic import write_bytes

    folder = (ctx.log_dir or paths.claude_logs_dir()) / ctx.session_id
    log_path = outcome.log_path
    for name, data in logs:
        if "/" in name or name.startswith("."):
            continue
        target = folder / name
        write_bytes(target, ctx.masker(data.decode("utf-8", "replace")).encode() if ctx.masker else data)
        if log_path and Path(log_path).name == name:
            log_path = str(target)
    return replace(outcome, log_path=log_path)
