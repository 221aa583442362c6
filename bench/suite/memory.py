"""Peak RSS of `prodigy run` over a large job and of `prodigy resume` of a large job with 10 items left;
vs GNU parallel running the same number of jobs and `parallel --resume` on a joblog of that size."""

from __future__ import annotations

from suite.common import Context, Result, Row, alternate
from suite.resume_start import resume_parallel, resume_prodigy


def run(ctx: Context) -> Result:
    n = 200 if ctx.quick else 100_000
    mine, theirs = ctx.cache.prodigy_completed(n), ctx.cache.parallel_completed(n)
    rows = [Row.of(f"peak RSS of a run of {n:,} items", "MB",
                   {"prodigy": [mine.measured.maxrss_mb], "parallel": [theirs.measured.maxrss_mb]},
                   target="<= 150 MB")]
    left_mine, left_theirs = ctx.cache.prodigy_resume_state(n), ctx.cache.parallel_resume_state(n)
    samples = alternate(ctx.reps, {"prodigy": lambda rep: resume_prodigy(ctx, left_mine, n),
                                   "parallel": lambda rep: resume_parallel(ctx, left_theirs, n)})
    rows.append(Row.of(f"peak RSS of a resume of {n:,} items (10 left)", "MB", samples["rss"], target="<= 150 MB"))
    return Result(rows=rows, notes=[
        f"memory: the runs are the state_size builds (one run each, prodigy max_parallel 4, parallel -j2, "
        f"prodigy {mine.measured.wall:.0f} s, parallel {theirs.measured.wall:.0f} s); "
        f"the resumed state is {left_mine.how}"])
