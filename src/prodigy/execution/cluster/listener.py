"""The listener half of the Dask executor (mapreduce/dask_executor.py::DaskExecutor mixes it in): one thread that

- journals each command's start report (through the coordinator's on_start) and answers the worker, so no
  command runs unrecorded; refuses the commands of an attempt prodigy gave up (fenced);
- follows workers joining (checked before they get items) and leaving (their attempts ended or fenced, and
  run again elsewhere: faults.worker_died);
- watches the scheduler connection: while it is lost no item is sent; reconnected, the attempts that were
  running are ended and run again; not within PRODIGY_DASK_RECONNECT seconds (or no usable worker for as
  long), the run stops, resumably, and the attempts stay in flight for the resume (faults.lost);
- forwards a stop request (Ctrl-C) to the workers.

It uses the executor's state (_attempts, _live, _dead, _excluded, _deaths, _lock, _client, ...) and its
helpers (_claim, _end, _cancel, _usable, _admit's _judge, _exclude, _notify)."""

from __future__ import annotations

import queue
import time
from typing import Any

from prodigy.execution.cluster import faults
from prodigy.execution.cluster.hosts import is_local_host, worker_host
from prodigy.execution.cluster.protocol import replies_topic
from prodigy.execution.cluster.worker import check_worker, stop_attempts
from prodigy.execution.process import StartInfo, reap_recorded

POLL = 0.25
UNFIT_LIMIT = 3  # attempts a worker may refuse as unfit before it is left out of the job


class ClusterListener:
    _attempts: dict[str, Any]
    _lock: Any
    _client: Any
    _ctx: Any

    # -- the listener thread
    def _listen(self) -> None:
        while not self._closing.is_set():
            try:
                message: tuple[Any, ...] | None = self._inbox.get(timeout=POLL)
            except queue.Empty:
                message = None
            try:
                if self._ctx.stop_event.is_set():
                    self._forward_stop()
                if message is not None:
                    self._handle(message)
                self._watch_health()
            except Exception:  # noqa: BLE001 - one bad message must not stop the journaling of the others
                continue

    def _handle(self, message: tuple[Any, ...]) -> None:
        what = message[0]
        if what == "report":
            self._acknowledge(message[1])
        elif what == "added" and message[1]:
            self._admit(message[1])
        elif what == "removed" and message[1]:
            self._worker_gone(message[1], message[2])
        elif what == "trouble" and self._client.status == "running" and self._lost is None:
            with self._lock:
                att = self._attempts.get(message[1])
            if att is None or not self._claim(att):
                return
            if len(message) > 2:  # it could not be sent
                with self._lock:
                    self._task_errors += 1
                    broken = self._task_errors >= UNFIT_LIMIT
                if broken:
                    self._give_up(f"the cluster refused prodigy's tasks {UNFIT_LIMIT} times in a row (last: "
                                  f"{message[2]})", faults.TASK_ERROR)
                    assert self._lost is not None
                    outcome = faults.lost(att.task, att.started, "none", *self._lost, faults.TASK_ERROR)
                else:
                    outcome = faults.not_sent(att.task, att.started, message[2])
            else:  # lost by a reconnection that is already over
                outcome = faults.reconnected(att.task, att.started, att.ran_on or "none", self._end(att))
            att.box.put(("fault", outcome))

    def _acknowledge(self, report: dict[str, Any]) -> None:
        key, worker, number = report["key"], report.get("worker", "unknown"), report.get("n")
        with self._lock:
            att = self._attempts.get(key)
            first = att.ran_on if att is not None else None
        reply: dict[str, Any] = {"key": key, "n": number, "ok": False}
        if att is None or att.over:
            reply["why"] = f"{key} is not an attempt this prodigy run is waiting for (it was given up)"
        elif first is not None and first != worker:
            self._worker_gone(first, [key])  # Dask moved the task: its first worker is gone for it
            reply["why"] = f"this attempt ran on worker {first}, which the cluster lost; prodigy runs the item again"
        else:
            info = StartInfo(pid=int(report["pid"]), pgid=int(report["pg"]), start_time=float(report["st"]))
            try:
                self._on_start(att.task, info, worker=worker)
                reply["ok"] = True
                with self._lock:
                    att.ran_on, att.proc = worker, (info.pid, info.pgid, info.start_time)
            except Exception as exc:  # noqa: BLE001 - not recorded: the command must not start
                reply["why"] = f"could not record the command's start: {exc}"
        self._send(replies_topic(self._token, worker), reply)

    def _send(self, topic: str, message: dict[str, Any]) -> None:
        """Publish without waiting for the scheduler's answer: the listener goes on with the next report."""
        async def publish() -> None:
            try:
                await self._client.scheduler.log_event(topic=topic, msg=message)
            except Exception:  # noqa: BLE001 - the scheduler is gone: the worker's wait times out, nothing runs
                pass

        try:
            self._client.loop.add_callback(publish)
        except Exception:  # noqa: BLE001 - a closed client: the same
            pass

    def _admit(self, address: str) -> None:
        """A worker joined (a late one, a restarted one, a replacement): check it before it gets items."""
        with self._lock:
            if address in self._live or address in self._excluded:
                return
        try:
            result = self._client.run(check_worker, self._checks, self._cluster is not None, workers=[address],
                                      on_error="return").get(address)
        except Exception as exc:  # noqa: BLE001 - it left again, or the scheduler is gone
            result = exc
        if result is None:
            return
        self._judge(address, result)
        self._warn_plain_text()

    def _worker_gone(self, address: str, keys: list[str]) -> None:
        with self._lock:
            self._dead.add(address)
            self._live.discard(address)
            live = self._live - self._dead
            # Its attempts, and those still waiting for a worker that are restricted to workers now all gone.
            victims = [att for att in self._attempts.values() if not att.over and (
                att.ran_on == address or att.key in keys or (att.ran_on is None and att.workers
                                                             and not live.intersection(att.workers)))]
        running = sorted(f"item_{att.task.index}" for att in victims if att.ran_on == address)
        if running:
            self._notify(f"Dask worker {address} left the cluster while it ran {', '.join(running)}; ending what it "
                         "left running and running those items again on other workers (no retry spent).")
        for att in victims:
            if not self._claim(att):
                continue
            ran = att.ran_on == address
            again = True
            if ran:
                with self._lock:
                    self._deaths[att.task.index] += 1
                    again = self._deaths[att.task.index] <= 1
            outcome = faults.worker_died(att.task, att.started, address, ended=self._end(att, address) if ran else
                                         False, ran=ran, again=again)
            att.box.put(("fault", outcome))
            self._cancel(att)

    def _forward_stop(self) -> None:
        with self._lock:
            keys = [att.key for att in self._attempts.values() if not att.over]
        if keys:
            self._stop_on_workers(keys)

    def _stop_on_workers(self, keys: list[str]) -> None:
        try:
            self._client.run(stop_attempts, keys, on_error="ignore")
        except Exception:  # noqa: BLE001 - a worker that cannot be reached has nothing to stop
            pass

    # -- the scheduler connection and the workers left
    def _watch_health(self) -> None:
        if self._lost is not None or self._closing.is_set():
            return
        if self._client.status != "running":
            self._recover()
            return
        with self._lock:
            waiting = bool(self._attempts)
        if self._usable() or not waiting:
            self._no_workers_since = None
            return
        now = time.monotonic()
        self._no_workers_since = self._no_workers_since or now
        if now - self._no_workers_since >= self._reconnect:
            with self._lock:
                left, excluded = len(self._dead), len(self._excluded)
            self._give_up(f"no Dask worker could take items for {self._reconnect:g}s ({left} left the cluster, "
                          f"{excluded} left out of this job)", faults.NO_WORKERS)

    def _recover(self) -> None:
        self._healthy.clear()
        began = time.monotonic()
        with self._lock:
            running = sum(1 for att in self._attempts.values() if not att.over)
        self._notify(f"Lost the connection to the Dask scheduler at {self.scheduler}; no new items are sent while "
                     f"prodigy waits for it (up to {self._reconnect:g}s; {running} item(s) were running).")
        while (time.monotonic() - began < self._reconnect and self._client.status not in ("running", "closed")
               and not self._ctx.stop_event.is_set()):
            time.sleep(POLL)
        if self._client.status == "running":
            self._reconnected(time.monotonic() - began)
        else:
            self._give_up(f"lost the Dask scheduler at {self.scheduler} (no connection for "
                          f"{time.monotonic() - began:.0f}s)", faults.SCHEDULER_LOST)
        self._healthy.set()

    def _reconnected(self, seconds: float) -> None:
        self._subscribe()
        with self._lock:
            self._base = None
            self._live.clear()
            victims = [att for att in self._attempts.values() if not att.over]
        try:
            for address in self._client.scheduler_info()["workers"]:
                self._admit(address)
        except Exception:  # noqa: BLE001 - the health check sees it again
            pass
        self._stop_on_workers([att.key for att in victims])
        for att in victims:
            if self._claim(att):
                att.box.put(("fault", faults.reconnected(att.task, att.started, att.ran_on or "none", self._end(att))))
        self._notify(f"Reconnected to the Dask scheduler at {self.scheduler} after {seconds:.0f}s; the {len(victims)} "
                     "item(s) that were running run again (no retry spent).")

    def _give_up(self, why: str, reason: str) -> None:
        """The cluster is gone for this run: end what can be ended here, leave the rest in flight in the journal
        (a resume ends it), and stop dispatching, resumably."""
        with self._lock:
            victims = [att for att in self._attempts.values() if not att.over]
        out_of_reach = 0
        for att in victims:
            if att.proc is None or att.ran_on is None:
                continue
            if is_local_host(worker_host(att.ran_on)):
                reap_recorded(*att.proc)
            else:
                out_of_reach += 1
        if out_of_reach:
            why += (f"; {out_of_reach} command(s) on other hosts could not be reached and may still run (the resume "
                    "ends them)")
        self._lost = (why, self._resume_hint())
        for att in victims:
            if self._claim(att):
                att.box.put(("fault", faults.lost(att.task, att.started, att.ran_on or "none", *self._lost, reason)))
        self._healthy.set()

    def _resume_hint(self) -> str:
        where = f"--local-workers {self.local_workers}" if self.local_workers else f"--scheduler {self.scheduler}"
        transfer = " --repo-transfer git" if self._shipper is not None else ""
        return (f"Start the Dask scheduler and workers again (or use another cluster), then: prodigy resume-job "
                f"{self._job_id} --executor dask {where}{transfer}")


