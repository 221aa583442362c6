"""The read-side views of a 1,000,000-item job: `prodigy events stats JOB` (one streaming pass over the whole
journal) and `prodigy dlq list JOB` (the snapshot and the journal tail), wall time and peak RSS. The job is
resume_start's 1,000,000-item state (all but 10 done), read in place: both commands only read. GNU parallel
has no such views: the "other" column is `wc -l` of the journal, the floor of reading it once."""

from __future__ import annotations

from suite import prodigy_io as pio
from suite.common import Context, Result, Row, alternate, check, copy_tree, measure, prodigy_argv


def run(ctx: Context) -> Result:
    n = 200 if ctx.quick else 1_000_000
    state = ctx.cache.prodigy_resume_state(n)
    assert ctx.scratch is not None
    home = copy_tree(state.path, ctx.scratch / "views-home")  # a copy: nothing may change the pristine state
    job = pio.job_id(home)
    journal = pio.job_folder(home) / "journal.jsonl"

    def timed(*args: str) -> dict[str, float]:
        argv = [*prodigy_argv(), *args] if args[0] != "wc" else list(args)
        m = check(measure(argv, cwd=state.workdir, env=ctx.env(home), timeout=300), " ".join(args))
        return {"wall": m.wall, "rss": m.maxrss_mb}

    stats = alternate(ctx.reps, {"prodigy": lambda rep: timed("events", "stats", job),
                                 "wc": lambda rep: timed("wc", "-l", str(journal))})
    dlq = alternate(ctx.reps, {"prodigy": lambda rep: timed("dlq", "list", job)})
    return Result(rows=[
        Row.of(f"events stats, {n:,} items", "s", stats["wall"], other="wc", target="<= 1 s"),
        Row.of("peak RSS of events stats", "MB", stats["rss"], other="wc", target="<= 100 MB"),
        Row.of(f"dlq list, {n:,} items (empty DLQ)", "s", dlq["wall"], target="<= 1 s"),
        Row.of("peak RSS of dlq list", "MB", dlq["rss"], target="<= 100 MB"),
    ], notes=[f"views: the job is the resume_start state of {n:,} items ({state.how}); 'other' is `wc -l` of "
              "its journal"])
