"""Expensive set-ups shared by several benchmarks of one run, built once and kept until the run ends:
completed runs of n `true` items (prodigy and GNU parallel) and "all but 10 done" states to resume."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from suite import prodigy_io as pio
from suite.common import (
    PARALLEL,
    BenchError,
    Context,
    Measured,
    check,
    hard_kill,
    kill_tagged,
    measure,
    spawn,
    wait_until,
)

LEFT = 10  # items left to do in a resume state
BUILD_PARALLEL = {"prodigy": 4, "parallel": 2}  # parallel is slower with more jobs on 2 cores
REAL_BUILD_MAX = 20_000  # above this a resume state is fabricated (a real run takes minutes)

ITEM_SCRIPT = """#!/bin/sh
# $1: the item index. The last items block while BLOCK exists; otherwise they record when they start.
if [ "$1" -ge {limit} ]; then
  [ -e {block} ] && exec sleep 1000
  date +%s.%N >> {first}
fi
"""


@dataclass(frozen=True)
class Completed:
    path: Path  # prodigy: its PRODIGY_HOME; parallel: its joblog
    workdir: Path
    measured: Measured


@dataclass(frozen=True)
class ResumeState:
    path: Path  # prodigy: the pristine PRODIGY_HOME; parallel: the pristine joblog
    workdir: Path
    script: Path
    first: Path  # the remaining items append their start time here
    inputs: Path | None  # parallel's input file
    session_id: str | None
    how: str


def joblog_entries(joblog: Path) -> int:
    try:
        with open(joblog, "rb") as handle:
            return max(0, sum(1 for _ in handle) - 1)
    except FileNotFoundError:
        return 0


def parallel_argv(jobs: int, joblog: Path, command: list[str], inputs: Path, *extra: str) -> list[str]:
    return [PARALLEL, "--will-cite", f"-j{jobs}", "--joblog", str(joblog), *extra, *command, "::::", str(inputs)]


class Cache:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._built: dict[tuple[str, int], object] = {}

    def _once(self, key: tuple[str, int], build):  # type: ignore[no-untyped-def]
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    # -- completed runs of `true`
    def prodigy_completed(self, n: int) -> Completed:
        return self._once(("prodigy_completed", n), lambda: self._prodigy_completed(n))  # type: ignore[return-value]

    def parallel_completed(self, n: int) -> Completed:
        return self._once(("parallel_completed", n), lambda: self._parallel_completed(n))  # type: ignore[return-value]

    def _prodigy_completed(self, n: int) -> Completed:
        self.ctx.log(f"  building: prodigy run of {n:,} items")
        work = self.ctx.folder(f"prodigy-completed-{n}", keep=True)
        home = work / "home"
        workflow = pio.write_workflow(work, n, "true", BUILD_PARALLEL["prodigy"])
        out = work / "out.txt"
        measured = measure(pio.run_argv(workflow), cwd=work, env=self.ctx.env(home), timeout=120 + n * 0.03,
                           stdout=out)
        check(measured, f"prodigy run of {n} items", log=out)
        done = len(pio.succeeded_in_journal(home))
        if done != n:
            raise BenchError(f"prodigy run of {n} items recorded {done} completions")
        return Completed(home, work, measured)

    def _parallel_completed(self, n: int) -> Completed:
        self.ctx.log(f"  building: parallel run of {n:,} jobs")
        work = self.ctx.folder(f"parallel-completed-{n}", keep=True)
        joblog, inputs = work / "joblog", pio.write_inputs(work, n)
        argv = parallel_argv(BUILD_PARALLEL["parallel"], joblog, ["true"], inputs)
        measured = check(measure(argv, cwd=work, env=self.ctx.env(work / "home"), timeout=120 + n * 0.03),
                         f"parallel run of {n} jobs")
        if joblog_entries(joblog) != n:
            raise BenchError(f"parallel's joblog has {joblog_entries(joblog)} entries for {n} jobs")
        return Completed(joblog, work, measured)

    # -- all but LEFT done, ready to resume (copy before use: a resume changes it)
    def prodigy_resume_state(self, n: int) -> ResumeState:
        return self._once(("prodigy_resume", n), lambda: self._prodigy_resume_state(n))  # type: ignore[return-value]

    def parallel_resume_state(self, n: int) -> ResumeState:
        return self._once(("parallel_resume", n), lambda: self._parallel_resume_state(n))  # type: ignore[return-value]

    def _script(self, work: Path, n: int) -> tuple[Path, Path, Path]:
        script, block, first = work / "item.sh", work / "BLOCK", work / "first"
        script.write_text(ITEM_SCRIPT.format(limit=n - LEFT, block=block, first=first))
        block.touch()
        return script, block, first

    def _prodigy_resume_state(self, n: int) -> ResumeState:
        real = n <= REAL_BUILD_MAX
        self.ctx.log(f"  building: prodigy job of {n:,} items, all but {LEFT} done ({'real' if real else 'fabricated'})")
        work = self.ctx.folder(f"prodigy-resume-{n}", keep=True)
        home = work / "home"
        script, block, first = self._script(work, n)
        workflow = pio.write_workflow(work, n, f"sh {script} ${{item}}", 2)
        proc = spawn(pio.run_argv(workflow), cwd=work, env=self.ctx.env(home), stdout=work / "out.txt")
        try:
            tail: list[pio.JournalTail] = []

            def progressed(enough: int) -> bool:
                if not tail:
                    try:
                        tail.append(pio.JournalTail(pio.job_folder(home) / "journal.jsonl"))
                    except BenchError:
                        return False
                return len(tail[0].poll().succeeded) >= enough

            enough = n - LEFT if real else min(3, n - LEFT)
            wait_until(lambda: progressed(enough), 120 + n * 0.03, f"{enough} completions", every=0.1, proc=proc)
            time.sleep(0.5)  # let the blocked items start: they are the in-flight ones at the kill
        finally:
            hard_kill(proc)
            kill_tagged(self.ctx.tag)
        if real:
            how = "a real run killed (SIGKILL) once all but 10 items were done"
        else:
            pio.fabricate_done(home, n, LEFT, in_flight=2)
            how = ("a real run killed early, then completions of all but 10 items appended with prodigy's own "
                   "JobStore (a real run of this size takes minutes)")
        block.unlink()
        return ResumeState(home, work, script, first, None, pio.session_id(home), how)

    def _parallel_resume_state(self, n: int) -> ResumeState:
        real = n <= REAL_BUILD_MAX
        self.ctx.log(f"  building: parallel joblog of {n:,} jobs, all but {LEFT} done ({'real' if real else 'fabricated'})")
        work = self.ctx.folder(f"parallel-resume-{n}", keep=True)
        script, block, first = self._script(work, n)
        joblog, inputs = work / "joblog", pio.write_inputs(work, n)
        if real:
            proc = spawn(parallel_argv(2, joblog, ["sh", str(script), "{}"], inputs), cwd=work,
                         env=self.ctx.env(work / "home"))
            try:
                wait_until(lambda: joblog_entries(joblog) >= n - LEFT, 120 + n * 0.03, "the joblog to fill",
                           every=0.1, proc=proc)
                time.sleep(0.5)
            finally:
                hard_kill(proc)
                kill_tagged(self.ctx.tag)
            how = "a real run killed (SIGKILL) once all but 10 jobs were logged"
        else:
            _write_joblog(joblog, n - LEFT, f"sh {script}")
            how = "a joblog written in parallel's format (a real run of this size takes minutes)"
        block.unlink()
        return ResumeState(joblog, work, script, first, inputs, None, how)


def _write_joblog(joblog: Path, entries: int, command: str) -> None:
    now = time.time() - entries * 0.003
    lines = ["Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"]
    lines += [f"{i + 1}\t:\t{now + i * 0.003:.3f}\t{0.004:10.3f}\t0\t0\t0\t0\t{command} {i}\n" for i in range(entries)]
    joblog.write_text("".join(lines))
