"""State size: bytes and files under PRODIGY_HOME per completed item after completed runs, and after 10% of
the items were retried twice; vs the bytes of GNU parallel's joblog (one file)."""

from __future__ import annotations

from pathlib import Path

from suite import prodigy_io as pio
from suite.builds import BUILD_PARALLEL, joblog_entries, parallel_argv
from suite.common import BenchError, Context, Result, Row, check, measure, tree_size

# Items whose index is a multiple of 10 fail their first two attempts.
PRODIGY_FLAKY = '[ $((PRODIGY_ITEM_INDEX % 10)) -ne 0 ] || [ "$PRODIGY_ATTEMPT" -gt 2 ]'
PARALLEL_FLAKY = """#!/bin/sh
# $1: the item index; multiples of 10 fail their first two attempts (counted in a marker file).
[ $(($1 % 10)) -ne 0 ] && exit 0
n=$(cat {markers}/$1 2>/dev/null || echo 0)
echo $((n + 1)) > {markers}/$1
[ "$n" -ge 2 ]
"""


def run(ctx: Context) -> Result:
    sizes = [50] if ctx.quick else [1_000, 10_000, 100_000]
    result = Result()
    for n in sizes:
        home = ctx.cache.prodigy_completed(n).path
        joblog = ctx.cache.parallel_completed(n).path
        total, files = tree_size(home)
        result.rows.append(Row.of(f"bytes per item, {n:,} completed", "B",
                                  {"prodigy": [total / n], "parallel": [joblog.stat().st_size / n]},
                                  target="<= 100 B"))
        result.rows.append(Row.of(f"files, {n:,} completed", "files", {"prodigy": [files], "parallel": [1]},
                                  target="does not grow with items"))
        result.notes.append(f"state_size {n:,}: " + breakdown(home, n))
    n = 50 if ctx.quick else 1_000
    home, joblog = retried_prodigy(ctx, n), retried_parallel(ctx, n)
    total, files = tree_size(home)
    result.rows.append(Row.of(f"bytes per item, {n:,} items, 10% retried twice", "B",
                              {"prodigy": [total / n], "parallel": [joblog.stat().st_size / n]},
                              target="<= 200 B"))
    result.rows.append(Row.of(f"files, {n:,} items, 10% retried twice", "files",
                              {"prodigy": [files], "parallel": [1]}))
    result.notes.append(f"state_size {n:,} retried: " + breakdown(home, n)
                        + f"; parallel --retries 3 logged {joblog_entries(joblog)} joblog entries")
    return result


def breakdown(home: Path, n: int) -> str:
    """Where the bytes are: the job's journal, checkpoint and events, per item."""
    job = pio.job_folder(home)
    parts = {"journal": job / "journal.jsonl", "checkpoint": job / "checkpoint.json",
             "items": job / "items.jsonl"}
    events = list((home / "events").glob("*/*/events.jsonl"))
    sizes = {name: path.stat().st_size for name, path in parts.items() if path.exists()}
    sizes["events"] = sum(path.stat().st_size for path in events)
    return ", ".join(f"{name} {size / n:.0f} B/item" for name, size in sizes.items())


def retried_prodigy(ctx: Context, n: int) -> Path:
    work = ctx.folder("state-retry-prodigy")
    home, out = work / "home", work / "out.txt"
    workflow = pio.write_workflow(work, n, PRODIGY_FLAKY, BUILD_PARALLEL["prodigy"],
                                  extra="error_policy:\n  retry:\n    attempts: 3\n")
    check(measure(pio.run_argv(workflow), cwd=work, env=ctx.env(home), timeout=120 + n * 0.05, stdout=out),
          "prodigy run with retries", log=out)
    if len(pio.succeeded_in_journal(home)) != n:
        raise BenchError("not every item succeeded after its retries")
    return home


def retried_parallel(ctx: Context, n: int) -> Path:
    work = ctx.folder("state-retry-parallel")
    (work / "markers").mkdir()
    script = work / "flaky.sh"
    script.write_text(PARALLEL_FLAKY.format(markers=work / "markers"))
    joblog, inputs = work / "joblog", pio.write_inputs(work, n)
    argv = parallel_argv(BUILD_PARALLEL["parallel"], joblog, ["sh", script.name, "{}"], inputs, "--retries", "3")
    check(measure(argv, cwd=work, env=ctx.env(work), timeout=120 + n * 0.05), "parallel --retries 3")
    return joblog
