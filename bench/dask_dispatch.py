"""Dispatch on Dask: N items of `true` on the Dask executor beside the local pool (2 in parallel), and the per-item
overhead Dask adds, on two clusters: `--local-workers 2` (a LocalCluster: the scheduler runs inside prodigy) and a
real one (`dask scheduler` and two `dask worker` processes on 127.0.0.1), where the scheduler's own CPU per item
is measured apart from the coordinator's.

`run(ctx)` is a bench/run.py benchmark ("dask_dispatch"); alone:
    python bench/dask_dispatch.py [--quick] [--reps N]

The "prodigy" column is the Dask executor, "other" the local pool. The per-item figures come from the job
journal (first `start` to last `done` record), so they leave out the fixed costs (interpreter start, the
cluster's start and stop), which the start-up row reports separately.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import prodigy_io as pio  # noqa: E402
from suite.common import BenchError, Context, Measured, Result, Row, alternate, check, measure  # noqa: E402

from prodigy.state.journal import read_journal  # noqa: E402

JOBS = 2
LOCAL = "local pool"
REAL = "dask scheduler + 2 workers"
DASK = Path(sys.executable).parent / "dask"


def map_seconds(home: Path) -> float:
    """Seconds from the first item's start record to the last item's done record (a start's time: its ts from
    a remote worker, else its process's start time st plus the run's sto)."""
    starts, dones = [], []
    offset = 0.0
    for record in read_journal(pio.job_folder(home) / "journal.jsonl").records:
        if record.get("t") in ("run", "resume"):
            offset = float(record.get("sto", 0.0))
        elif record.get("t") == "start":
            starts.append(record.get("ts", record["st"] + offset))
        elif record.get("t") == "done":
            dones.append(record["ts"])
    if not starts or not dones:
        raise BenchError("the journal has no map records")
    return max(dones) - min(starts)


class RealCluster:
    """`dask scheduler` and JOBS `dask worker` processes (one thread each) on 127.0.0.1, in their own groups."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        logs = [folder / "scheduler.log", *(folder / f"worker{i}.log" for i in range(JOBS))]
        self.scheduler = self._start([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                      "--no-dashboard"], logs[0], env, folder)
        self._wait(logs[0], "Scheduler at:")
        for i in range(JOBS):
            self._start([str(DASK), "worker", self.address, "--nthreads", "1", "--no-dashboard",
                         "--local-directory", str(folder / f"w{i}")], logs[i + 1], env, folder)
        for log in logs[1:]:
            self._wait(log, "Registered to:")
        self.process = psutil.Process(self.scheduler.pid)

    def cpu(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait(timeout=10)

    def _start(self, argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as handle:
            proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def _wait(self, log: Path, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and text in log.read_text(errors="replace"):
                return
            time.sleep(0.05)
        self.stop()
        raise BenchError(f"the Dask cluster did not start: no {text!r} in {log}")


def run(ctx: Context) -> Result:
    if importlib.util.find_spec("distributed") is None:
        raise BenchError("the dask extra is not installed: pip install 'prodigy[dask]'")
    if not DASK.is_file():
        raise BenchError(f"no `dask` command beside {sys.executable}")
    n = 40 if ctx.quick else 400
    timeout = 90 + n * 0.1

    def one(executor: tuple[str, ...], cluster: RealCluster | None = None) -> dict[str, float]:
        work = ctx.folder("dask-dispatch")
        home, out = work / "home", work / "out.txt"
        workflow = pio.write_workflow(work, n, "true", JOBS)
        before = cluster.cpu() if cluster else 0.0
        measured: Measured = check(measure([*pio.run_argv(workflow), *executor], cwd=work, env=ctx.env(home),
                                           timeout=timeout, stdout=out), "prodigy run", log=out)
        if len(pio.succeeded_in_journal(home)) != n:
            raise BenchError("prodigy did not record every item as succeeded")
        in_map = map_seconds(home)
        figures = {"item": in_map / n * 1000, "wall": measured.wall / n * 1000, "fixed": measured.wall - in_map,
                   "self_cpu": measured.self_cpu or 0.0, "rss": measured.maxrss_mb,
                   "self_cpu_item": (measured.self_cpu or 0.0) / n * 1000}
        if cluster is not None:
            figures["scheduler_cpu"] = (cluster.cpu() - before) / n * 1000
        return figures

    cluster_folder = ctx.folder("dask-cluster")
    cluster = RealCluster(cluster_folder, ctx.env(cluster_folder / "home"))
    try:
        samples = alternate(ctx.reps, {
            "prodigy": lambda rep: one(("--executor", "dask", "--local-workers", str(JOBS))),
            REAL: lambda rep: one(("--executor", "dask", "--scheduler", cluster.address), cluster),
            LOCAL: lambda rep: one(()),
        })
    finally:
        cluster.stop()
    real = {metric: {"prodigy": by_tool.get(REAL, []), LOCAL: by_tool.get(LOCAL, [])}
            for metric, by_tool in samples.items()}
    rows = [
        Row.of(f"map phase per item ({n} x true, 2 workers), LocalCluster", "ms", samples["item"], other=LOCAL),
        Row.of(f"map phase per item ({n} x true), {REAL}", "ms", real["item"], other=LOCAL),
        Row.of(f"scheduler CPU per item, {REAL}", "ms", real["scheduler_cpu"]),
        Row.of(f"coordinator CPU per item, {REAL}", "ms", real["self_cpu_item"], other=LOCAL),
        Row.of("wall per item, start-up included, LocalCluster", "ms", samples["wall"], other=LOCAL),
        Row.of("fixed cost (start, LocalCluster start/stop, reduce)", "s", samples["fixed"], other=LOCAL),
        Row.of("coordinator CPU (user+sys, top process), LocalCluster", "s", samples["self_cpu"], other=LOCAL),
        Row.of("peak RSS, LocalCluster", "MB", samples["rss"], other=LOCAL),
    ]
    for label, row in (("LocalCluster", rows[0]), (REAL, rows[1])):
        overhead = row.prodigy - row.other if row.prodigy is not None and row.other is not None else None
        rows.append(Row(metric=f"per-item overhead of the Dask executor (map phase), {label}", unit="ms",
                        prodigy=overhead, target="negligible beside minutes-long agents"))
    return Result(rows=rows, notes=[
        "dask_dispatch: 'prodigy' is --executor dask (--local-workers 2, or a dask scheduler with 2 dask worker "
        "processes), 'other' the local pool at max_parallel 2."])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="prodigy-bench-dask-"))
    ctx = Context(quick=args.quick, reps=args.reps, root=root, tag=uuid.uuid4().hex,
                  log=lambda text: print(text, file=sys.stderr))
    try:
        result = run(ctx)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for row in result.rows:
        other = f"{row.other:.3g}" if row.other is not None else "-"
        value = f"{row.prodigy:.3g}" if row.prodigy is not None else "-"
        print(f"{row.metric}: dask {value} {row.unit}, local {other} {row.unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
