"""Run map items on a Dask distributed cluster: the second implementation of the ItemExecutor interface.

The coordinator, its lock and its journal stay here and remain the single source of truth; Dask only places
and runs attempts. Each attempt is one task, key `<job>-item_<i>-a<attempt>`, `pure=False`, no Dask retries
(prodigy owns attempts, retries and the DLQ). On the worker, `run_item` runs the item exactly as the local
pool does: same step kinds, env, timeouts, output caps and process groups.

No command runs unrecorded: before a command's start gate opens, the worker sends its pid, process group,
start time and address to the coordinator (a Dask Queue per executor) and waits for the reply (a Dask
Variable per command), which the coordinator sets only once the `proc` record is durable in the journal. No
reply within ACK_TIMEOUT (the coordinator is gone) or a refusal keeps the gate shut: the command never runs.

An item's git worktree (`workspaces`) is created and merged here, on the coordinator: workers reach it, the
repository and PRODIGY_HOME through the same paths (same machine or a shared filesystem); checked at start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import psutil

from prodigy import __version__, paths
from prodigy.errors import ProdigyError, UsageError
from prodigy.execution import outcome as o
from prodigy.execution.context import StepContext
from prodigy.execution.mapreduce.pool import ItemOutcome, ItemTask, Workspaces, run_item
from prodigy.execution.process import StartInfo, reap_recorded

try:
    import dask
    import distributed
except ImportError:  # the extra is not installed; require() says what to install
    dask = distributed = None

INSTALL = "pip install 'prodigy[dask]'"
SCHEDULER_ENV = "PRODIGY_DASK_SCHEDULER"
ACK_TIMEOUT = 60.0  # a worker waits this long for the coordinator to journal a command's start
CONNECT_TIMEOUT = 15.0
POLL = 0.25  # how often the listener checks for a stop request


def require() -> None:
    if distributed is None:
        raise UsageError(f"--executor dask needs Dask distributed, which is not installed. Install it with: "
                         f"{INSTALL}")


def attempt_key(job_id: str, task: ItemTask) -> str:
    return f"{job_id}-item_{task.index}-a{task.attempt}"


def worker_host(address: str) -> str:
    """'tcp://10.0.0.5:40001' -> '10.0.0.5' ('[::1]:1' -> '::1')."""
    rest = address.split("://", 1)[-1]
    host = rest.rsplit(":", 1)[0] if ":" in rest else rest
    return host.strip("[]")


def is_local_host(host: str) -> bool:
    """True if `host` is this machine, where a recorded pid can be checked and ended directly."""
    if host in ("localhost", socket.gethostname()) or host.startswith("127.") or host == "::1":
        return True
    try:
        return any(addr.address.split("%")[0] == host for addrs in psutil.net_if_addrs().values()
                   for addr in addrs)
    except OSError:
        return False


class DaskExecutor:
    """Items as Dask tasks; a thread per item in flight here waits for its task (and enters/leaves its
    workspace), one listener thread journals the commands' starts and forwards a stop request."""

    name = "dask"

    def __init__(self, choice: dict[str, Any], max_parallel: int, ctx: StepContext, job_id: str,
                 on_start: Callable[..., None], workspaces: Workspaces | None = None) -> None:
        require()
        self.scheduler: str | None = choice.get("scheduler")
        self.local_workers: int | None = choice.get("local_workers")
        self.warnings: list[str] = []
        self._ctx = ctx
        self._remote_ctx = replace(ctx, stop_event=None, on_start=None, on_line=None)  # rebuilt on the worker
        self._job_id, self._on_start, self._workspaces = job_id, on_start, workspaces
        self._cluster: Any = None
        self._quieted: list[tuple[logging.Logger, int]] = []
        self._client = self._connect()
        try:
            self.workers = self._check_workers()
            self._starts = distributed.Queue(f"prodigy-{job_id}-{uuid.uuid4().hex[:8]}-starts",
                                             client=self._client)
        except BaseException:
            self._disconnect()
            raise
        self._lock = threading.Lock()
        self._tasks: dict[str, ItemTask] = {}
        self._futures: dict[str, Any] = {}
        self._ran_on: dict[str, str] = {}  # key -> the worker that started the attempt's first command
        self._procs: dict[str, tuple[int, int, float]] = {}
        self._stopped: set[str] = set()
        self._closing = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="prodigy-dask-item")
        self._listener = threading.Thread(target=self._listen, name="prodigy-dask-starts", daemon=True)
        self._listener.start()

    # -- the ItemExecutor interface
    def submit(self, task: ItemTask) -> Future[ItemOutcome]:
        return self._pool.submit(self._attempt, task, attempt_key(self._job_id, task))

    def shutdown(self) -> None:
        with self._lock:
            left = list(self._futures.values())
        if left:  # an error in the coordinator: end what still runs on the cluster
            self._stop_on_workers(list(self._tasks))
            self._client.cancel(left)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._closing.set()
        self._listener.join()
        self._disconnect()

    def reap(self, worker: str, pid: int, pgid: int, start_time: float) -> bool | None:
        """End a recorded command of an earlier run: on its worker if it is still in the cluster, else here if
        its host is this machine, else on another worker of its host. None: no way to reach its host."""
        host = worker_host(worker)
        live = list(self._client.scheduler_info()["workers"])
        targets = [worker] if worker in live else []
        if not targets and is_local_host(host):
            return reap_recorded(pid, pgid, start_time)
        targets = targets or [w for w in live if worker_host(w) == host][:1]
        if not targets:
            return None
        result = self._client.run(reap_recorded, pid, pgid, start_time, workers=targets, on_error="return")
        value = next(iter(result.values()), None)
        return value if isinstance(value, bool) else None

    # -- setting up
    def _connect(self) -> Any:
        try:
            if self.scheduler:
                return distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
            self._quiet("distributed")  # worker deaths are prodigy's to report, not Dask's log lines
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self._cluster = distributed.LocalCluster(
                    n_workers=self.local_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                    host="127.0.0.1", silence_logs=logging.CRITICAL)
            self.scheduler = self._cluster.scheduler_address
            return distributed.Client(self._cluster, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            self._disconnect()
            raise UsageError(f"Cannot connect to the Dask scheduler at {self.scheduler}: {exc}",
                             hint="Check the address and that `dask scheduler` runs there, or use --local-workers N."
                             ) from None

    def _check_workers(self) -> int:
        """Every worker must import this prodigy and see the run directory (the session worktree) and
        PRODIGY_HOME at the same paths."""
        try:
            self._client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            raise UsageError(f"No Dask worker is connected to the scheduler at {self.scheduler}.",
                             hint=f"Start workers with: dask worker {self.scheduler}") from None
        needed = [str(self._ctx.run_dir), str(paths.home())]
        results = self._client.run(_check_worker, needed, self._cluster is not None, on_error="return")
        for address, result in sorted(results.items()):
            if isinstance(result, BaseException):
                raise UsageError(f"Dask worker {address} cannot run prodigy items: {type(result).__name__}: "
                                 f"{result}", hint=f"Install prodigy on every worker: {INSTALL}")
            missing, version = result
            if missing:
                raise UsageError(f"Dask worker {address} cannot see {missing[0]}.",
                                 hint="Workers must see the repository and PRODIGY_HOME at the same paths as "
                                      "prodigy (the same machine or a shared filesystem); see docs/dask.md.")
            if version != __version__:
                self.warnings.append(f"Dask worker {address} has prodigy {version}; this is {__version__}.")
        return len(results)

    def _quiet(self, name: str) -> None:
        logger = logging.getLogger(name)
        self._quieted.append((logger, logger.level))
        logger.setLevel(logging.CRITICAL)

    def _disconnect(self) -> None:
        for closing in (getattr(self, "_starts", None), getattr(self, "_client", None), self._cluster):
            if closing is not None:
                try:
                    closing.close()
                except Exception:  # noqa: BLE001 - a cluster already gone has nothing left to close
                    pass
        for logger, level in self._quieted:
            logger.setLevel(level)
        self._quieted.clear()

    # -- one attempt (a thread here per item in flight)
    def _attempt(self, task: ItemTask, key: str) -> ItemOutcome:
        ctx = self._remote_ctx
        if self._workspaces is not None:
            try:
                ctx = replace(ctx, run_dir=self._workspaces.enter(task))
            except ProdigyError as exc:
                return _errored(task, str(exc), time.monotonic())
        outcome = self._run_remote(task, key, ctx)
        return self._workspaces.leave(task, outcome) if self._workspaces is not None else outcome

    def _run_remote(self, task: ItemTask, key: str, ctx: StepContext) -> ItemOutcome:
        started = time.monotonic()
        with self._lock:
            self._tasks[key] = task
            self._futures[key] = future = self._client.submit(
                _run_on_worker, task, ctx, self._job_id, key, self._starts.name, key=key, pure=False, retries=0)
        try:
            return future.result()
        except distributed.KilledWorker as exc:
            address = getattr(exc.last_worker, "address", None) or self._ran_on.get(key, "unknown")
            self._end_orphan(key, address)
            return _errored(task, f"worker {address} died: its process was lost while it ran item_{task.index} "
                                  f"attempt {task.attempt} (Dask KilledWorker)", started, worker=address)
        except (Exception, asyncio.CancelledError) as exc:  # a broken worker is this attempt's failure
            address = self._ran_on.get(key, "unknown")
            return _errored(task, f"worker {address}: {type(exc).__name__}: {exc}", started, worker=address)
        finally:
            with self._lock:
                for table in (self._tasks, self._futures, self._ran_on, self._procs):
                    table.pop(key, None)
            future.release()

    def _end_orphan(self, key: str, address: str) -> None:
        """The worker died: its command, in a process group of its own, may have outlived it."""
        proc = self._procs.get(key)
        if proc is not None:
            try:
                self.reap(address, *proc)
            except Exception:  # noqa: BLE001 - best effort; a resume checks again
                pass

    # -- the listener: journal each command's start, then let it run
    def _listen(self) -> None:
        while not self._closing.is_set():
            if self._ctx.stop_event.is_set():
                self._forward_stop()
            try:
                report = self._starts.get(timeout=POLL)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the client is closing or lost its scheduler
                self._closing.wait(POLL)
                continue
            try:
                self._acknowledge(report)
            except Exception:  # noqa: BLE001 - a malformed report: its worker's wait times out, nothing runs
                continue

    def _acknowledge(self, report: dict[str, Any]) -> None:
        key, address = report["key"], report["w"]
        with self._lock:
            task = self._tasks.get(key)
            first = self._ran_on.setdefault(key, address) if task is not None else None
        reply: dict[str, Any] = {"ok": False}
        if task is None:
            reply["why"] = f"{key} is not an attempt this prodigy run is waiting for"
        elif first != address:
            reply["why"] = f"this attempt already ran on worker {first}; prodigy, not Dask, retries items"
        else:
            info = StartInfo(pid=int(report["pid"]), pgid=int(report["pg"]), start_time=float(report["st"]))
            try:
                self._on_start(task, info, worker=address)
                reply["ok"] = True
            except Exception as exc:  # noqa: BLE001 - not recorded: the command must not start
                reply["why"] = f"could not record the command's start: {exc}"
            with self._lock:
                if key in self._tasks:
                    self._procs[key] = (info.pid, info.pgid, info.start_time)
        try:
            distributed.Variable(report["reply"], client=self._client).set(reply)
        except Exception:  # noqa: BLE001 - the scheduler is gone: the worker's wait times out, nothing runs
            pass

    def _forward_stop(self) -> None:
        with self._lock:
            keys = [key for key in self._tasks if key not in self._stopped]
        if keys:
            self._stopped.update(keys)
            self._stop_on_workers(keys)

    def _stop_on_workers(self, keys: list[str]) -> None:
        try:
            self._client.run(_stop_attempts, keys, on_error="ignore")
        except Exception:  # noqa: BLE001 - a worker that cannot be reached has nothing to stop
            pass


def _errored(task: ItemTask, error: str, started: float, worker: str = "local") -> ItemOutcome:
    return ItemOutcome(index=task.index, attempt=task.attempt, status=o.ERRORED, exit_code=None,
                       duration=time.monotonic() - started, error=error, output="", stderr="", log_path=None,
                       worker=worker)


# ---------------------------------------------------------------- on the worker

_registry_lock = threading.Lock()
_running: dict[str, threading.Event] = {}  # key -> the stop event of the attempt running in this process
_stopped: set[str] = set()  # keys asked to stop, also before they start here


def _check_worker(needed: list[str], ours: bool) -> tuple[list[str], str]:
    if ours:  # a LocalCluster of this run: Ctrl-C reaches its processes too, and prodigy stops items in order
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:
            pass  # not the main thread: a Ctrl-C then kills the worker and the attempt fails instead
    return [path for path in needed if not os.path.isdir(path)], __version__


def _stop_attempts(keys: list[str]) -> None:
    with _registry_lock:
        _stopped.update(keys)
        for key in keys:
            if key in _running:
                _running[key].set()


def _run_on_worker(task: ItemTask, ctx: StepContext, job_id: str, key: str, starts: str) -> ItemOutcome:
    started = time.monotonic()
    address = distributed.get_worker().address
    stop = threading.Event()
    with _registry_lock:
        _running[key] = stop
        if key in _stopped:
            stop.set()
    gate = _StartReport(key, starts, address)
    try:
        outcome = run_item(task, replace(ctx, stop_event=stop, on_start=gate), job_id)
    except Exception as exc:  # noqa: BLE001 - e.g. the start was not confirmed: this attempt's failure
        outcome = _errored(task, f"worker {address}: {exc}", started)
    finally:
        gate.close()
        with _registry_lock:
            _running.pop(key, None)
            _stopped.discard(key)
    return replace(outcome, worker=address)


class _StartReport:
    """The worker's on_start: report the command and wait until the coordinator has journaled it."""

    def __init__(self, key: str, starts: str, address: str) -> None:
        self.key, self.address = key, address
        self._starts_name = starts
        self._starts: Any = None

    def __call__(self, info: StartInfo) -> None:
        client = distributed.get_client()
        if self._starts is None:
            self._starts = distributed.Queue(self._starts_name, client=client)
        reply_to = distributed.Variable(f"{self.key}-started-{uuid.uuid4().hex}", client=client)  # never reused
        self._starts.put({"key": self.key, "reply": reply_to.name, "w": self.address, "pid": info.pid,
                          "pg": info.pgid, "st": info.start_time})
        try:
            reply = reply_to.get(timeout=ACK_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"the prodigy coordinator did not confirm within {ACK_TIMEOUT:g}s that it "
                               "recorded the command, so it was not started") from None
        finally:
            reply_to.delete()
        if not reply.get("ok"):
            raise RuntimeError(f"the prodigy coordinator refused to start the command: {reply.get('why')}")

    def close(self) -> None:
        if self._starts is not None:
            try:
                self._starts.close()
            except Exception:  # noqa: BLE001 - the scheduler is gone: nothing left to release
                pass
