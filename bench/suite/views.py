"""The read-side views of a 1,000,000-item job: `prodigy events stats JOB` (one streaming pass over the whole
journal), `prodigy dlq list JOB` (the snapshot and the journal tail) and the progress view's first read of the
job (what `prodigy progress`, `--web` and `prodigy dashboard` do before they show anything: the whole journal
folded into a JobWatch), wall time and peak RSS. The job is resume_start's 1,000,000-item state (all but 10
done), read in place: these only read. GNU parallel has no such views: the "other" column is `wc -l` of the
journal, the floor of reading it once.

The progress view is timed through its read model rather than `prodigy progress JOB --json`: the job was
killed, and a one-off answer about a job whose record still says running waits a moment to tell a run that
is starting from one that died (cli/watch.py SETTLE), which is not reading time."""

from __future__ import annotations

import sys

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
        argv = [*prodigy_argv(), *args] if args[0] not in ("wc", sys.executable) else list(args)
        m = check(measure(argv, cwd=state.workdir, env=ctx.env(home), timeout=300), " ".join(args))
        return {"wall": m.wall, "rss": m.maxrss_mb}

    stats = alternate(ctx.reps, {"prodigy": lambda rep: timed("events", "stats", job),
                                 "wc": lambda rep: timed("wc", "-l", str(journal))})
    dlq = alternate(ctx.reps, {"prodigy": lambda rep: timed("dlq", "list", job)})
    watch = alternate(ctx.reps, {"prodigy": lambda rep: timed(sys.executable, "-c", FIRST_READ, job)})
    return Result(rows=[
        Row.of(f"events stats, {n:,} items", "s", stats["wall"], other="wc", target="<= 1 s"),
        Row.of("peak RSS of events stats", "MB", stats["rss"], other="wc", target="<= 100 MB"),
        Row.of(f"dlq list, {n:,} items (empty DLQ)", "s", dlq["wall"], target="<= 1 s"),
        Row.of("peak RSS of dlq list", "MB", dlq["rss"], target="<= 100 MB"),
        Row.of(f"progress view, first read, {n:,} items", "s", watch["wall"]),
        Row.of("peak RSS of that first read", "MB", watch["rss"]),
    ], notes=[f"views: the job is the resume_start state of {n:,} items ({state.how}); 'other' is `wc -l` of "
              "its journal"])


# The first read of `prodigy progress JOB` (cli/watch.py), then one snapshot and a page of the item table.
FIRST_READ = """
import sys, time
from prodigy.views.common import find_job
from prodigy.views.progress import JobWatch
from prodigy.views.progress_items import item_page
watch = JobWatch(find_job(sys.argv[1]))
watch.refresh(outcomes=False)
snap = watch.snapshot()
page = item_page(watch, now=time.time(), limit=50)
assert snap.counts.total and len(page.rows) == 50, (snap.counts, len(page.rows))
"""
