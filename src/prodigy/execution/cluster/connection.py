"""The connection half of the Dask executor (mapreduce/dask_executor.py::DaskExecutor mixes it in): connect to the
scheduler (or start a LocalCluster), check the workers connected now (the unfit ones are left out; an error if
none is fit), subscribe to the messages the listener reads, and close it all in the end, quietly (Dask's own log
lines about lost workers and connections are prodigy's to report, in its words)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prodigy import __version__
from prodigy.errors import UsageError
from prodigy.execution.cluster import envelope, fitness
from prodigy.execution.cluster.protocol import Checks, reports_topic
from prodigy.execution.cluster.worker import check_worker

try:
    import dask
    import distributed
except ImportError:  # the extra is not installed; dask_executor.require() says what to install
    dask = distributed = None

INSTALL = "pip install 'prodigy[dask]'"
CONNECT_TIMEOUT = 15.0
STREAM_INTERVAL = 0.002
GIT_TOOL = "git"  # checked on workers with --repo-transfer git (prodigy runs it there through git/ only)


class ClusterConnection:
    _client: Any
    _cluster: Any
    _lock: Any

    # -- setting up
    def _prepare_checks(self) -> tuple[Any, list[Path]]:
        agent = self._ctx.claude_bin if envelope.uses_claude(self._steps) else None
        if self._shipper is not None:
            return Checks(run_dir=False, tools=((GIT_TOOL, "--repo-transfer git"),), agent_cli=agent), []
        common = None
        if self._workspaces is not None or fitness.common_dir_of(self._ctx.run_dir) is not None:
            from prodigy.git.repo import common_dir

            common = common_dir(self._ctx.run_dir)
        return fitness.prepare(self._token, log_dir=self._ctx.log_dir, common_dir=common,
                               run_dir=None if common else self._ctx.run_dir if self._ctx.run_dir.is_dir() else None,
                               tools=(), agent=agent)

    def _connect(self) -> Any:
        # Worker deaths and lost connections are prodigy's to report, not Dask's log lines (with tracebacks).
        for name in ["distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]:
            self._quiet(name)
        try:
            if self.scheduler:
                client = distributed.Client(self.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
                if isinstance(getattr(client, "_timeout", None), (int, float)):
                    client._timeout = max(CONNECT_TIMEOUT, self._reconnect)  # how long the client itself reconnects
                return client
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self._cluster = distributed.LocalCluster(
                    n_workers=self.local_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                    host="127.0.0.1", silence_logs=logging.CRITICAL)
            self.scheduler = self._cluster.scheduler_address
            return distributed.Client(self._cluster, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - refused, timed out, bad address, TLS settings missing ...
            hint = "Check the address and that `dask scheduler` runs there, or use --local-workers N."
            if str(self.scheduler or "").startswith("tls://"):
                hint = ("A tls:// scheduler needs Dask's TLS settings here: DASK_DISTRIBUTED__COMM__TLS__CA_FILE, "
                        "..._TLS__CLIENT__CERT and ..._TLS__CLIENT__KEY (or distributed.comm.tls in a Dask config "
                        "file); see docs/dask.md, Secrets and TLS.")
            raise UsageError(f"Cannot connect to the Dask scheduler at {self.scheduler}: {type(exc).__name__}: {exc}",
                             hint=hint) from None

    def _first_check(self) -> int:
        """Every worker connected now is checked; the unfit ones are left out (an error if none is left)."""
        try:
            self._client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            raise UsageError(f"No Dask worker is connected to the scheduler at {self.scheduler}.",
                             hint=f"Start workers with: dask worker {self.scheduler}") from None
        results = self._client.run(check_worker, self._checks, self._cluster is not None, on_error="return")
        for address, result in sorted(results.items()):
            self._judge(address, result, first=True)
        if not self._live:
            problems = sorted(self._excluded.items())
            text = (f"Dask worker {problems[0][0]} {problems[0][1]}." if len(problems) == 1 else
                    "No Dask worker can run this job's items:\n" + "\n".join(f"  {a}: {w}" for a, w in problems))
            raise UsageError(text, hint=self._advice())
        for address, why in sorted(self._excluded.items()):
            self.warnings.append(f"Dask worker {address} is left out of this job: it {why}. {self._advice()}")
        return len(self._live)

    def _judge(self, address: str, result: Any, *, first: bool = False) -> None:
        if isinstance(result, BaseException):
            why = f"cannot run prodigy items ({type(result).__name__}: {result}); install prodigy there: {INSTALL}"
        else:
            why, version = result
            if version != __version__:
                (self.warnings.append if first else self._notify)(
                    f"Dask worker {address} has prodigy {version}; this is {__version__}.")
        if why:
            self._exclude(address, why, announce=not first)
        else:
            with self._lock:
                self._live.add(address)

    def _advice(self) -> str:
        if self._shipper is not None:
            return "Workers need git (and the agent CLI for claude: steps) on PATH; see docs/dask.md."
        return ("Workers must see the repository and PRODIGY_HOME at the same paths as prodigy (the same machine or "
                "a shared filesystem), or run with --repo-transfer git; see docs/dask.md.")

    def _subscribe(self) -> None:
        client = self._client
        comm = getattr(client, "scheduler_comm", None)
        if comm is not None and getattr(comm, "interval", 0) > STREAM_INTERVAL:
            comm.interval = STREAM_INTERVAL  # Dask batches a client's messages every 10 ms: submits wait less

        def report(event: Any) -> None:
            message = event[1]
            if isinstance(message, dict) and "result" in message:  # a small result, ahead of the completion
                with self._lock:
                    att = self._attempts.get(message.get("key"))
                if att is not None:
                    att.box.put(("pushed", message["result"]))
            else:
                self._inbox.put(("report", message))

        def cluster_event(event: Any) -> None:
            message = event[1] if isinstance(event[1], dict) else {}
            action = message.get("action")
            if action == "add-worker":
                self._inbox.put(("added", message.get("worker")))
            elif action == "remove-worker":
                self._inbox.put(("removed", message.get("worker"), list(message.get("processing-tasks") or ())))

        # Sent on the client's stream, in order: the scheduler has them before it sees the first task.
        client.subscribe_topic(reports_topic(self._token), report)
        client.subscribe_topic("all", cluster_event)

    def _quiet(self, name: str) -> None:
        logger = logging.getLogger(name)
        self._quieted.append((logger, logger.level))
        logger.setLevel(logging.CRITICAL + 1)  # Dask logs a client closing under it at CRITICAL

    def _disconnect(self) -> None:
        client = getattr(self, "_client", None)
        for topic in (reports_topic(self._token), "all"):  # else the scheduler sends its last events to a closed client
            try:
                if client is not None and client.status == "running":
                    client.unsubscribe_topic(topic)
            except Exception:  # noqa: BLE001 - not subscribed, or already gone
                pass
        for closing in (client, self._cluster):
            if closing is not None:
                try:
                    closing.close()
                except Exception:  # noqa: BLE001 - a cluster already gone has nothing left to close
                    pass
        # The loggers stay quiet: a client being closed still logs its cancelled reconnection from its own thread.

    def _cleanup(self) -> None:
        if self._base is not None:
            try:
                self._client.unpublish_dataset(self._base[1])
            except Exception:  # noqa: BLE001 - the scheduler is gone, and its data with it
                pass
        fitness.remove(self._check_files)
        if self._shipper is not None:
            self._shipper.close()

