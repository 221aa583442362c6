"""Dispatch on Dask: N items of `true` with `--executor dask --local-workers 2` beside the local pool (2 in
parallel), and the per-item overhead the Dask executor adds.

`run(ctx)` is a bench/run.py benchmark (register it in BENCHMARKS as "dask_dispatch"); alone:
    python bench/dask_dispatch.py [--quick] [--reps N]

The "prodigy" column is the Dask executor, "other" the local pool. The per-item figures come from the job
journal (first `start` to last `done` record), so they leave out the fixed costs (interpreter start, the
LocalCluster's start and stop), which the start-up row reports separately.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import prodigy_io as pio  # noqa: E402
from suite.common import BenchError, Context, Measured, Result, Row, alternate, check, measure  # noqa: E402

JOBS = 2
LOCAL = "local pool"


def map_seconds(home: Path) -> float:
    """Seconds from the first item's start record to the last item's done record (a start's time: its ts from
    a remote worker, else its process's start time st plus the run's sto)."""
    starts, dones = [], []
    offset = 0.0
    for line in (pio.job_folder(home) / "journal.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("t") in ("run", "resume"):
            offset = float(record.get("sto", 0.0))
        elif record.get("t") == "start":
            starts.append(record.get("ts", record["st"] + offset))
        elif record.get("t") == "done":
            dones.append(record["ts"])
    if not starts or not dones:
        raise BenchError("the journal has no map records")
    return max(dones) - min(starts)


def run(ctx: Context) -> Result:
    if importlib.util.find_spec("distributed") is None:
        raise BenchError("the dask extra is not installed: pip install 'prodigy[dask]'")
    n = 40 if ctx.quick else 400
    timeout = 90 + n * 0.1

    def one(executor: tuple[str, ...]) -> dict[str, float]:
        work = ctx.folder("dask-dispatch")
        home, out = work / "home", work / "out.txt"
        workflow = pio.write_workflow(work, n, "true", JOBS)
        measured: Measured = check(measure([*pio.run_argv(workflow), *executor], cwd=work, env=ctx.env(home),
                                           timeout=timeout, stdout=out), "prodigy run", log=out)
        if len(pio.succeeded_in_journal(home)) != n:
            raise BenchError("prodigy did not record every item as succeeded")
        in_map = map_seconds(home)
        return {"item": in_map / n * 1000, "wall": measured.wall / n * 1000, "fixed": measured.wall - in_map,
                "self_cpu": measured.self_cpu or 0.0, "rss": measured.maxrss_mb}

    samples = alternate(ctx.reps, {
        "prodigy": lambda rep: one(("--executor", "dask", "--local-workers", str(JOBS))),
        LOCAL: lambda rep: one(()),
    })
    rows = [
        Row.of(f"map phase per item ({n} x true, 2 workers)", "ms", samples["item"], other=LOCAL),
        Row.of("wall per item, start-up included", "ms", samples["wall"], other=LOCAL),
        Row.of("fixed cost (start, LocalCluster start/stop, reduce)", "s", samples["fixed"], other=LOCAL),
        Row.of("coordinator CPU (user+sys, top process)", "s", samples["self_cpu"], other=LOCAL),
        Row.of("peak RSS", "MB", samples["rss"], other=LOCAL),
    ]
    overhead = None
    if rows[0].prodigy is not None and rows[0].other is not None:
        overhead = rows[0].prodigy - rows[0].other
    rows.append(Row(metric="per-item overhead of the Dask executor (map phase)", unit="ms", prodigy=overhead,
                    target="a few ms; negligible beside minutes-long agents"))
    return Result(rows=rows, notes=[
        "dask_dispatch: 'prodigy' is --executor dask --local-workers 2, 'other' the local pool at max_parallel 2."])


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
