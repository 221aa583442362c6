"""Slot fill at 200 in parallel, agent-shaped: 200 items of `sleep 0.5` at max_parallel 200. The map span is
from the first item's start to the last item's end, as each tool records them (prodigy: the journal's start
records, st + the run's sto, and done records' ts; GNU parallel: its joblog's Starttime and JobRuntime); the
ideal is 0.5 s. Mean concurrency is the items' summed run time over the span. vs `parallel -j200`, and against
the machine's floor: `xargs -P200` running the same `sh -c 'sleep 0.5'` per item, records nothing and has no
per-job log, so its whole run (which bounds its span from above) is the column "xargs". On a small machine the
floor is well above the ideal: every item execs a shell and `sleep`, and 200 of those at once are CPU work
that the cores do one after another."""

from __future__ import annotations

import json
from pathlib import Path

from suite import prodigy_io as pio
from suite.builds import parallel_argv
from suite.common import XARGS, BenchError, Context, Result, Row, alternate, check, measure

SLEEP = 0.5


def run(ctx: Context) -> Result:
    n = 20 if ctx.quick else 200
    timeout = 60 + n * 0.1

    def prodigy(rep: int) -> dict[str, float]:
        work = ctx.folder("fill-prodigy")
        home, out = work / "home", work / "out.txt"
        workflow = pio.write_workflow(work, n, f"sleep {SLEEP}", n)
        measured = check(measure(pio.run_argv(workflow), cwd=work, env=ctx.env(home), timeout=timeout,
                                 stdout=out), "prodigy run", log=out)
        spans = journal_spans(pio.job_folder(home) / "journal.jsonl")
        if len(spans) != n:
            raise BenchError(f"prodigy recorded {len(spans)} of {n} items")
        return figures(spans, measured.wall)

    def parallel(rep: int) -> dict[str, float]:
        work = ctx.folder("fill-parallel")
        joblog, inputs = work / "joblog", pio.write_inputs(work, n)
        measured = check(measure(parallel_argv(n, joblog, [f"sleep {SLEEP} # {{}}"], inputs), cwd=work,
                                 env=ctx.env(work), timeout=timeout), "parallel")
        spans = joblog_spans(joblog)
        if len(spans) != n:
            raise BenchError(f"parallel logged {len(spans)} of {n} jobs")
        return figures(spans, measured.wall)

    def xargs(rep: int) -> dict[str, float]:
        work = ctx.folder("fill-xargs")
        inputs = pio.write_inputs(work, n)
        # Each item's index is the script's $0, as parallel's `# {}` is a comment: the command is the same.
        measured = check(measure([XARGS, f"-P{n}", "-n1", "sh", "-c", f"sleep {SLEEP}"], cwd=work,
                                 env=ctx.env(work), stdin=inputs, timeout=timeout), "xargs")
        return {"span": measured.wall, "wall": measured.wall}

    samples = alternate(ctx.reps, {"prodigy": prodigy, "parallel": parallel, "xargs": xargs})
    return Result(rows=[
        Row.of(f"map span, {n} x sleep {SLEEP} at {n} in parallel", "s", samples["span"], target="<= 0.6 s",
               other="xargs"),
        Row.of(f"mean concurrency over the span (of {n})", "items", samples["concurrency"]),
        Row.of("last item started after the first", "s", samples["fill"]),
        Row.of("whole run", "s", samples["wall"], other="xargs"),
    ], notes=["fill: the span from each tool's own records (prodigy's journal, parallel's joblog); "
              "concurrency = the items' summed run time / the span; xargs (the floor: the same commands, "
              "nothing recorded): its whole run"])


def figures(spans: list[tuple[float, float]], wall: float) -> dict[str, float]:
    first = min(start for start, _end in spans)
    last = max(end for _start, end in spans)
    busy = sum(end - start for start, end in spans)
    return {"span": last - first, "concurrency": busy / (last - first), "wall": wall,
            "fill": max(start for start, _end in spans) - first}


def journal_spans(journal: Path) -> list[tuple[float, float]]:
    """(start, end) per item: a start record's st + the run's sto, its done record's ts."""
    starts: dict[int, float] = {}
    spans = []
    offset = 0.0
    for line in journal.read_bytes().splitlines():
        record = pio.as_record(json.loads(line))
        kind = record.get("t")
        if kind in ("run", "resume"):
            offset = float(record.get("sto", 0.0))
        elif kind == "start":
            starts[int(record["i"])] = float(record.get("ts", record["st"] + offset))
        elif kind == "done" and int(record["i"]) in starts:
            spans.append((starts.pop(int(record["i"])), float(record["ts"])))
    return spans


def joblog_spans(joblog: Path) -> list[tuple[float, float]]:
    spans = []
    for line in joblog.read_text().splitlines()[1:]:
        fields = line.split("\t")
        start, runtime = float(fields[2]), float(fields[3])
        spans.append((start, start + runtime))
    return spans
