"""Resume start-up at scale: a job with all but 10 items done; time from invoking the resume to the first
remaining item starting (the item appends `date +%s.%N`), vs `parallel --resume` on a joblog of the same size."""

from __future__ import annotations

import os
from pathlib import Path

from suite import prodigy_io as pio
from suite.builds import LEFT, ResumeState, parallel_argv
from suite.common import BenchError, Context, Measured, Result, Row, alternate, check, copy_tree, measure


def run(ctx: Context) -> Result:
    sizes = [200] if ctx.quick else [10_000, 100_000, 1_000_000]
    result = Result()
    for n in sizes:
        mine, theirs = ctx.cache.prodigy_resume_state(n), ctx.cache.parallel_resume_state(n)
        samples = alternate(ctx.reps, {"prodigy": lambda rep, s=mine, n=n: resume_prodigy(ctx, s, n),
                                       "parallel": lambda rep, s=theirs, n=n: resume_parallel(ctx, s, n)})
        target = {10_000: "<= parallel", 100_000: "< 2 s", 1_000_000: "<= 1.0 s"}.get(n, "")
        result.rows.append(Row.of(f"first remaining item starts, {n:,} items ({n - LEFT:,} done)", "s",
                                  samples["first"], target=target))
        result.rows.append(Row.of(f"whole resume ({LEFT} items left), {n:,} items", "s", samples["wall"]))
        if n >= 1_000_000 or ctx.quick:
            result.rows.append(Row.of(f"peak RSS of that resume, {n:,} items", "MB", samples["rss"],
                                      target="<= 100 MB"))
        result.notes.append(f"resume_start {n:,}: prodigy state from {mine.how}; parallel joblog from {theirs.how}")
    result.notes.append("resume_start: each run resumes a fresh copy of the state, synced to disk before the clock "
                        "starts (as a real job's state is), so that no tool pays for writing back the copy")
    return result


def first_start(state: ResumeState, measured: Measured) -> dict[str, float]:
    try:
        stamps = [float(line) for line in state.first.read_text().split()]
    except FileNotFoundError:
        stamps = []
    if len(stamps) != LEFT:
        raise BenchError(f"{len(stamps)} of the {LEFT} remaining items ran (expected all)")
    return {"first": min(stamps) - measured.started_at, "wall": measured.wall, "rss": measured.maxrss_mb}


def resume_prodigy(ctx: Context, state: ResumeState, n: int) -> dict[str, float]:
    assert ctx.scratch is not None and state.session_id is not None
    home = copy_tree(state.path, ctx.scratch / "prodigy-home")
    os.sync()  # the copy's dirty pages would otherwise be written back by the resume's first fsync
    state.first.unlink(missing_ok=True)
    out = ctx.scratch / "resume-out.txt"
    measured = check(measure(pio.resume_argv(state.session_id), cwd=state.workdir, env=ctx.env(home),
                             timeout=120 + n * 0.002, stdout=out), "prodigy resume", log=out)
    return first_start(state, measured)


def resume_parallel(ctx: Context, state: ResumeState, n: int) -> dict[str, float]:
    assert ctx.scratch is not None and state.inputs is not None
    joblog = ctx.scratch / "joblog"
    joblog.write_bytes(state.path.read_bytes())
    os.sync()
    state.first.unlink(missing_ok=True)
    argv = parallel_argv(2, joblog, ["sh", str(state.script), "{}"], state.inputs, "--resume")
    measured = check(measure(argv, cwd=state.workdir, env=ctx.env(Path(ctx.scratch)), timeout=120 + n * 0.002),
                     "parallel --resume")
    return first_start(state, measured)
