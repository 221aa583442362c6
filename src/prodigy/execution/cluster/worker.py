"""What a Dask worker runs for one attempt of one map item: `run_attempt`.

1. Check the worker can run it (fitness.py); if not, return why: nothing ran, the coordinator spends no retry.
2. With --repo-transfer git, make the item's own checkout in the worker's cache (git/transfer.py).
3. Run the item exactly as the local pool does (pool.run_item), with the worker's own environment (HOME, PATH,
   credentials) under the workflow's env, each command behind the start gate: its pid, group and start time go
   to the coordinator, and it starts only once the coordinator answers that they are journaled.
4. A watchdog ends the attempt's commands when the worker is closing (its scheduler went away) or the cluster
   dropped the task (the coordinator's client left, someone cancelled it): a result nobody can receive is not
   worth finishing, and a command must not outlive the attempt the journal knows of.
5. Return the outcome; with git transfer also the item's new commits (a bundle) and its agent logs.
"""

from __future__ import annotations

import itertools
import os
import pickle
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from prodigy import __version__, paths
from prodigy.execution import outcome as o
from prodigy.execution.cluster import fitness
from prodigy.execution.cluster.protocol import (
    ACK_TIMEOUT,
    PUSH_LIMIT,
    REPLY_POLL,
    RETURN_BUNDLE_CAP,
    RETURN_LOG_CAP,
    RETURN_LOGS_TOTAL,
    AttemptSpec,
    Checks,
    RemoteResult,
    Returned,
    agent_cli,
    replies_topic,
    reports_topic,
)
from prodigy.execution.mapreduce.pool import ItemOutcome, run_item
from prodigy.execution.process import StartInfo

try:
    import distributed
except ImportError:  # only the coordinator imports this module without the extra (for its names)
    distributed = None

WATCH_EVERY = 0.5
ENDED_STATES = ("cancelled", "released", "forgotten", "error", "memory")
STOPPED_KEPT = 10_000

_lock = threading.Lock()
_running: dict[str, threading.Event] = {}  # key -> the stop event of the attempt running in this process
_stopped: dict[str, None] = {}  # keys asked to stop, also before they start here (insertion-ordered, bounded)
_listening: set[str] = set()  # reply topics this process is subscribed to
_waiting: dict[tuple[str, int], list[Any]] = {}  # (key, command number) -> [threading.Event, reply]


# ---------------------------------------------------------------- called through the cluster (Client.run)


def check_worker(checks: Checks, ours: bool) -> tuple[str | None, str]:
    """A worker's fitness (no run directory: that is per item), and its prodigy version."""
    if ours:  # a LocalCluster of this run: Ctrl-C reaches its processes too, and prodigy stops items in order
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:
            pass  # not the main thread: a Ctrl-C then kills the worker and the attempt is run again
    return fitness.check(replace(checks, run_dir=False), None, os.environ.get("PATH")), __version__


def stop_attempts(keys: list[str]) -> None:
    with _lock:
        for key in keys:
            _stopped[key] = None
            if key in _running:
                _running[key].set()
        while len(_stopped) > STOPPED_KEPT:
            _stopped.pop(next(iter(_stopped)))


# ---------------------------------------------------------------- the task


def run_attempt(spec: AttemptSpec) -> RemoteResult:
    worker = distributed.get_worker()
    address = worker.address
    started, wall_start = time.monotonic(), time.time()
    stop = threading.Event()
    with _lock:
        _running[spec.key] = stop
        if spec.key in _stopped:
            stop.set()
    env = {**dict(spec.shipment.identity if spec.shipment else ()), **os.environ, **spec.ctx.process_env}
    co = None
    try:
        _listen(replies_topic(spec.token, address))  # as early as possible: before the first command's report
        claude_bin = agent_cli(spec.checks, dict(os.environ)) or spec.ctx.claude_bin
        problem = fitness.check(spec.checks, None if spec.shipment else str(spec.ctx.run_dir), env.get("PATH"))
        if problem is not None:
            return _pushed(spec, worker, RemoteResult(worker=address, outcome=None, unfit=problem))
        ctx = replace(spec.ctx, claude_bin=claude_bin)
        if spec.shipment is not None:
            co, problem = _checkout(spec)
            if co is None:
                return RemoteResult(worker=address, outcome=None, unfit=problem)
            ctx = replace(ctx, run_dir=co.run_dir, log_dir=paths.worker_cache_dir() / "logs")
        gate = _Gate(spec, worker)
        task = replace(spec.task, variables={**spec.task.variables, "env": env})
        ctx = replace(ctx, process_env=env, stop_event=stop, on_start=gate)
        finished = threading.Event()
        threading.Thread(target=_watch, args=(worker, spec.key, stop, finished), daemon=True,
                         name=f"prodigy-watch-{spec.key}").start()
        try:
            outcome = run_item(task, ctx, spec.job_id)
        except Exception as exc:  # noqa: BLE001 - e.g. the start was not confirmed: this attempt's failure
            outcome = _errored(spec, f"worker {address}: {exc}", started)
        finally:
            finished.set()
        outcome = replace(outcome, worker=address)
        if co is None:
            return _pushed(spec, worker, RemoteResult(worker=address, outcome=outcome))
        return _with_work(spec, co, outcome, address, ctx.log_dir, wall_start)
    finally:
        if co is not None:
            from prodigy.git import transfer

            try:
                transfer.discard(co, spec.shipment.repo_key)
            except Exception:  # noqa: BLE001 - a leftover worktree is removed by the next attempt of the item
                pass
        with _lock:
            _running.pop(spec.key, None)
            _stopped.pop(spec.key, None)


def _pushed(spec: AttemptSpec, worker: Any, result: RemoteResult) -> RemoteResult:
    """Send a small result ahead on the job's topic: it reaches the coordinator before the task's completion does
    (one stream from here, one from the scheduler, both in order), so the coordinator need not fetch it."""
    data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) <= PUSH_LIMIT:
        worker.log_event(reports_topic(spec.token), {"key": spec.key, "result": data})
    return result


def _checkout(spec: AttemptSpec) -> tuple[Any, str | None]:
    from prodigy.git import transfer
    from prodigy.git.command import GitError

    ship = spec.shipment
    assert ship is not None
    name = f"{spec.key}"
    try:
        co = transfer.checkout(paths.worker_cache_dir(), ship.repo_key, base=ship.base,
                               base_bundle=lambda: _fetch(ship.base_bundle), head=ship.head, delta=ship.delta,
                               name=name, branch=f"{ship.branch_prefix}-item_{spec.task.index}", subdir=ship.subdir)
    except (GitError, OSError) as exc:
        return None, f"cannot make the item's checkout in its cache {paths.worker_cache_dir()}: {exc}"
    return co, None


def _fetch(name: str) -> bytes:
    """Data the coordinator scattered and published (the base bundle); only when this worker's cache lacks it."""
    future = distributed.get_client().get_dataset(name, default=None)
    if future is None:
        raise OSError(f"the cluster does not hold {name} any more (the coordinator's client left)")
    try:
        return future.result(timeout=ACK_TIMEOUT)
    finally:
        future.release()


def _with_work(spec: AttemptSpec, co: Any, outcome: ItemOutcome, address: str, log_dir: Path | None,
               wall_start: float) -> RemoteResult:
    from prodigy.git import transfer
    from prodigy.git.command import GitError

    logs = _take_logs(log_dir, spec.ctx.session_id, f"item_{spec.task.index}-", wall_start)
    try:
        data, ref, tip, uncommitted = transfer.give_back(co, RETURN_BUNDLE_CAP)
    except (GitError, OSError) as exc:
        failed = replace(outcome, status=o.FAILED, error=f"worker {address} could not send back item_"
                         f"{spec.task.index}'s commits: {exc}") if outcome.status in o.OK_STATUSES else outcome
        return RemoteResult(worker=address, outcome=failed, logs=logs)
    return RemoteResult(worker=address, outcome=outcome, logs=logs,
                        returned=Returned(bundle=data, ref=ref, tip=tip, uncommitted=uncommitted))


def _take_logs(log_dir: Path | None, session_id: str, prefix: str, since: float) -> tuple[tuple[str, bytes], ...]:
    """The agent logs this attempt wrote on the worker (the tail of each, within a total), removed here."""
    folder = (log_dir / session_id) if log_dir else None
    if folder is None or not folder.is_dir():
        return ()
    found: list[tuple[str, bytes]] = []
    total = 0
    for path in sorted(folder.glob(f"{prefix}*")):
        try:
            if path.stat().st_mtime < since - 1:
                continue
            data = path.read_bytes()
            path.unlink()
        except OSError:
            continue
        data = data[-RETURN_LOG_CAP:]
        if total + len(data) > RETURN_LOGS_TOTAL:
            break
        total += len(data)
        found.append((path.name, data))
    return tuple(found)


def _errored(spec: AttemptSpec, error: str, started: float) -> ItemOutcome:
    return ItemOutcome(index=spec.task.index, attempt=spec.task.attempt, status=o.ERRORED, exit_code=None,
                       duration=time.monotonic() - started, error=error, output="", stderr="", log_path=None)


def _watch(worker: Any, key: str, stop: threading.Event, finished: threading.Event) -> None:
    while not finished.wait(WATCH_EVERY):
        if _abandoned(worker, key):
            stop.set()
            return


def _abandoned(worker: Any, key: str) -> bool:
    status = getattr(getattr(worker, "status", None), "name", "running")
    if status in ("closing", "closed", "failed"):
        return True
    state = getattr(worker, "state", None)
    task = state.tasks.get(key) if state is not None else None
    return task is None or task.state in ENDED_STATES


# ---------------------------------------------------------------- the start gate


class _Gate:
    """The worker's on_start: report the command and wait until the coordinator has journaled it."""

    def __init__(self, spec: AttemptSpec, worker: Any) -> None:
        self.key, self.token, self.worker = spec.key, spec.token, worker
        self.address = worker.address
        self.topic = replies_topic(spec.token, self.address)
        self._numbers = itertools.count(1)

    def __call__(self, info: StartInfo) -> None:
        n = next(self._numbers)
        slot: list[Any] = [threading.Event(), None]
        with _lock:
            _waiting[(self.key, n)] = slot
        try:
            client = _listen(self.topic)
            self.worker.log_event(reports_topic(self.token), {"key": self.key, "n": n, "pid": info.pid,
                                                               "pg": info.pgid, "st": info.start_time})
            reply = _await(slot, client, self.topic, self.key, n)
        finally:
            with _lock:
                _waiting.pop((self.key, n), None)
        if reply is None:
            raise RuntimeError(f"the prodigy coordinator did not confirm within {ACK_TIMEOUT:g}s that it recorded "
                               "the command, so it was not started")
        if not reply.get("ok"):
            raise RuntimeError(f"the prodigy coordinator refused to start the command: {reply.get('why')}")


def _listen(topic: str) -> Any:
    client = distributed.get_client()
    with _lock:
        new = topic not in _listening
        _listening.add(topic)
    if new:
        client.subscribe_topic(topic, _deliver)  # queued on the client's loop; sent before the report below
    return client


def _deliver(event: Any) -> None:
    message = event[1] if isinstance(event, (tuple, list)) and len(event) == 2 else event
    if not isinstance(message, dict):
        return
    with _lock:
        slot = _waiting.get((message.get("key"), message.get("n")))
        if slot is not None:
            slot[1] = message
            slot[0].set()


def _await(slot: list[Any], client: Any, topic: str, key: str, n: int) -> dict[str, Any] | None:
    """The pushed answer; if none came (the subscription reached the scheduler after the answer), look in the
    topic's log, soon and then less and less often."""
    deadline = time.monotonic() + ACK_TIMEOUT
    pause = REPLY_POLL / 32
    while time.monotonic() < deadline:
        if slot[0].wait(min(pause, max(deadline - time.monotonic(), 0.0))):
            return slot[1]
        pause = min(pause * 2, REPLY_POLL)
        try:
            for _stamp, message in client.get_events(topic):
                if isinstance(message, dict) and message.get("key") == key and message.get("n") == n:
                    return message
        except Exception:  # noqa: BLE001 - the scheduler is out of reach: keep waiting until the deadline
            pass
    return None
