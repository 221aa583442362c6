"""Retrying failures: a deterministic 10% of the items fail on their first attempt (a marker file per item
makes the second pass). `prodigy run` + `prodigy resume-job JOB --force --max-retries 2` vs
`parallel --joblog jl` + `parallel --retry-failed --joblog jl`."""

from __future__ import annotations

from pathlib import Path

from suite import prodigy_io as pio
from suite.builds import joblog_entries, parallel_argv
from suite.common import PARALLEL, BenchError, Context, Result, Row, alternate, check, measure, prodigy_argv

JOBS = 2
ITEM_SCRIPT = """#!/bin/sh
# $1: the item index. Every execution is one ledger line; items 3, 13, 23, ... fail their first attempt.
echo "$1" >> {ledger}
if [ $(($1 % 10)) -eq 3 ] && [ ! -e {markers}/$1 ]; then
  touch {markers}/$1
  exit 1
fi
"""


def run(ctx: Context) -> Result:
    n = 20 if ctx.quick else 1000
    timeout = 120 + n * 0.05
    dlq_how: list[str] = []

    def setup(name: str):  # type: ignore[no-untyped-def]
        work = ctx.folder(f"retry-{name}")
        (work / "markers").mkdir()
        script, ledger = work / "item.sh", work / "ledger"
        script.write_text(ITEM_SCRIPT.format(ledger=ledger, markers=work / "markers"))
        return work, script, ledger

    def prodigy(rep: int) -> dict[str, float]:
        work, script, ledger = setup("prodigy")
        home, out = work / "home", work / "out.txt"
        workflow = pio.write_workflow(work, n, f"sh {script} ${{item}}", JOBS)
        first = check(measure(pio.run_argv(workflow), cwd=work, env=ctx.env(home), timeout=timeout, stdout=out),
                      "prodigy run", ok_codes=(3,), log=out)  # 3: items in the DLQ
        retry = check(measure([*prodigy_argv(), "resume-job", pio.job_id(home), "--force",
                               "--max-retries", "2"], cwd=work, env=ctx.env(home), timeout=timeout, stdout=out),
                      "prodigy resume-job --force", log=out)
        dlq, how = pio.dlq_count(ctx, home, work)
        dlq_how.append(how)
        if len(pio.succeeded_in_journal(home)) != n:
            raise BenchError("not every item succeeded after the retry")
        return {"executions": _lines(ledger), "wall": first.wall + retry.wall, "leftover": dlq}

    def parallel(rep: int) -> dict[str, float]:
        work, script, ledger = setup("parallel")
        joblog, inputs = work / "joblog", pio.write_inputs(work, n)
        first = check(measure(parallel_argv(JOBS, joblog, ["sh", str(script), "{}"], inputs), cwd=work,
                              env=ctx.env(work), timeout=timeout), "parallel", ok_codes=tuple(range(1, 102)))
        retry = check(measure([PARALLEL, "--will-cite", f"-j{JOBS}", "--retry-failed", "--joblog", str(joblog)],
                              cwd=work, env=ctx.env(work), timeout=timeout), "parallel --retry-failed")
        return {"executions": _lines(ledger), "wall": first.wall + retry.wall, "leftover": joblog_entries(joblog)}

    samples = alternate(ctx.reps, {"prodigy": prodigy, "parallel": parallel})
    return Result(rows=[
        Row.of(f"executions ({n} items, 10% fail once)", "runs", samples["executions"],
               target=f"{n + n // 10} for both"),
        Row.of("wall time to all-success (run + retry)", "s", samples["wall"]),
        Row.of("entries left after success (prodigy: DLQ; parallel: joblog lines)", "entries", samples["leftover"],
               target="prodigy DLQ 0"),
    ], notes=[f"retry: DLQ counted with {dlq_how[0] if dlq_how else '?'}"])


def _lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0
