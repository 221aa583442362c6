"""Per-item dispatch overhead: N items of `true` at 2 in parallel; prodigy vs `parallel -j2 --joblog` vs
`xargs -P2`."""

from __future__ import annotations

from suite import prodigy_io as pio
from suite.builds import joblog_entries, parallel_argv
from suite.common import XARGS, BenchError, Context, Measured, Result, Row, alternate, check, measure

JOBS = 2


def run(ctx: Context) -> Result:
    n = 20 if ctx.quick else 1000
    timeout = 60 + n * 0.05

    def figures(m: Measured) -> dict[str, float]:
        return {"wall": m.wall / n * 1000, "self_cpu": m.self_cpu or 0.0, "cpu": m.cpu, "rss": m.maxrss_mb}

    def prodigy(rep: int) -> dict[str, float]:
        work = ctx.folder("dispatch-prodigy")
        home, out = work / "home", work / "out.txt"
        workflow = pio.write_workflow(work, n, "true", JOBS)
        measured = check(measure(pio.run_argv(workflow), cwd=work, env=ctx.env(home), timeout=timeout,
                                 stdout=out), "prodigy run", log=out)
        if len(pio.succeeded_in_journal(home)) != n:
            raise BenchError("prodigy did not record every item as succeeded")
        return figures(measured)

    def parallel(rep: int) -> dict[str, float]:
        work = ctx.folder("dispatch-parallel")
        joblog, inputs = work / "joblog", pio.write_inputs(work, n)
        measured = check(measure(parallel_argv(JOBS, joblog, ["true"], inputs), cwd=work, env=ctx.env(work),
                                 timeout=timeout), "parallel")
        if joblog_entries(joblog) != n:
            raise BenchError("parallel's joblog is incomplete")
        return figures(measured)

    def xargs(rep: int) -> dict[str, float]:
        work = ctx.folder("dispatch-xargs")
        inputs = pio.write_inputs(work, n)
        return figures(check(measure([XARGS, f"-P{JOBS}", "-n1", "true"], cwd=work, env=ctx.env(work),
                                     stdin=inputs, timeout=timeout), "xargs"))

    samples = alternate(ctx.reps, {"prodigy": prodigy, "parallel": parallel, "xargs": xargs})
    return Result(rows=[
        Row.of(f"wall per item ({n} x true, -j{JOBS})", "ms", samples["wall"], other="xargs",
               target="ratio <= 0.35 (<= 2x xargs)"),
        Row.of("coordinator CPU (user+sys, top process)", "s", samples["self_cpu"], other="xargs"),
        Row.of("CPU of the whole process tree", "s", samples["cpu"], other="xargs"),
        Row.of("peak RSS", "MB", samples["rss"], other="xargs"),
    ])
