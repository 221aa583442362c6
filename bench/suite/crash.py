"""Crash consistency: items of `echo start ID >> ledger; sleep 0.3; echo end ID >> ledger` at 4 in parallel;
the coordinator is SIGKILLed at random moments (also while resuming), then resumed, until the job completes.
The same with `parallel --joblog` + kill -9 + `parallel --resume`.

Each launch gets a generation number (BENCH_GEN, written on every ledger line), so a start can be attributed
to the run (or resume) that made it."""

from __future__ import annotations

import random
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from suite import prodigy_io as pio
from suite.builds import parallel_argv
from suite.common import BenchError, Context, Result, Row, hard_kill, kill_tagged, spawn, tagged

JOBS = 4
KILL_AFTER = (0.2, 2.0)  # seconds after a launch
ORPHAN_CHECK = 1.0  # seconds after a resume starts
FINISH_TIMEOUT = 180.0
LEDGER_SETTLE = 0.05  # a command released just before the kill writes its start line a moment later


@dataclass
class Kill:
    gen: int
    in_flight: int  # commands of the killed run started and not ended in the ledger at the kill
    recorded: set[int]  # completions durable (journal / joblog) at the kill
    orphans: int | None = None  # commands of the killed run alive ORPHAN_CHECK after the resume started


class ProdigyJob:
    name = "prodigy"

    def __init__(self, ctx: Context, n: int) -> None:
        self.ctx, self.work = ctx, ctx.folder("crash-prodigy")
        self.home, self.ledger = self.work / "home", self.work / "ledger"
        command = (f"echo start $PRODIGY_ITEM_ID $BENCH_GEN >> {self.ledger}; sleep 0.3; "
                   f"echo end $PRODIGY_ITEM_ID $BENCH_GEN >> {self.ledger}")
        self.workflow = pio.write_workflow(self.work, n, command, JOBS)

    def launch(self, gen: int) -> subprocess.Popen[bytes]:
        try:
            argv = pio.resume_argv(pio.session_id(self.home)) if gen else pio.run_argv(self.workflow)
        except BenchError:  # killed before its session existed: nothing ran, so a user runs it again
            argv = pio.run_argv(self.workflow)
        return spawn(argv, cwd=self.work, env=self.ctx.env(self.home, BENCH_GEN=str(gen)),
                     stdout=self.work / "out.txt")

    def recorded(self) -> set[int]:
        try:
            return pio.succeeded_in_journal(self.home)
        except BenchError:
            return set()

    @staticmethod
    def item(text: str) -> int:
        return int(text.removeprefix("item_"))

    completed_codes = (0, 5)  # 5: killed after the job completed, so the resume found nothing to do


class ParallelJob:
    name = "parallel"

    def __init__(self, ctx: Context, n: int) -> None:
        self.ctx, self.work = ctx, ctx.folder("crash-parallel")
        self.ledger, self.joblog = self.work / "ledger", self.work / "joblog"
        self.inputs = pio.write_inputs(self.work, n)
        self.command = (f"echo start {{}} $BENCH_GEN >> {self.ledger}; sleep 0.3; "
                        f"echo end {{}} $BENCH_GEN >> {self.ledger}")

    def launch(self, gen: int) -> subprocess.Popen[bytes]:
        extra = ("--resume",) if gen else ()
        return spawn(parallel_argv(JOBS, self.joblog, [self.command], self.inputs, *extra), cwd=self.work,
                     env=self.ctx.env(self.work, BENCH_GEN=str(gen)))

    def recorded(self) -> set[int]:
        try:
            rows = self.joblog.read_text().splitlines()[1:]
        except FileNotFoundError:
            return set()
        return {int(r.split("\t")[0]) - 1 for r in rows if r.count("\t") >= 8 and r.split("\t")[6] == "0"}

    @staticmethod
    def item(text: str) -> int:
        return int(text)

    completed_codes = (0,)


def run(ctx: Context) -> Result:
    n, kills = (20, 2) if ctx.quick else (200, 20)
    figures = {}
    for job_type in (ProdigyJob, ParallelJob):  # the same seed: both get the same kill moments
        figures[job_type.name] = crash_rounds(ctx, job_type, n, kills, random.Random(7))
    samples = {metric: {tool: [values[metric]] for tool, values in figures.items()}
               for metric in figures["prodigy"]}
    return Result(rows=[
        Row.of(f"lost items ({kills} kills, {n} items, -j{JOBS})", "items", samples["lost"], target="0"),
        Row.of("completion recorded at the kill, ran again", "items", samples["completed_rerun"], target="0"),
        Row.of("re-runs per crash", "runs", samples["reruns_per_crash"], target="<= in flight"),
        Row.of("items in flight per crash", "items", samples["in_flight_per_crash"]),
        Row.of("most re-runs after one crash", "runs", samples["max_reruns"], target=f"<= {JOBS} (max_parallel)"),
        Row.of("crashes with more re-runs than commands running at the kill", "kills", samples["over_reruns"]),
        Row.of("commands of the killed run alive 1 s into the resume", "procs", samples["orphans"], target="0"),
        Row.of("items that ran to the end more than once", "items", samples["ended_twice"]),
    ], notes=[f"crash: {figures['prodigy']['checks']:.0f} orphan checks (skipped when the next kill came "
              f"sooner); kills after {KILL_AFTER[0]}-{KILL_AFTER[1]} s of each run or resume; a command that "
              "ended before the kill but whose completion was not yet recorded is re-run without having been "
              "running at the kill"])


def crash_rounds(ctx: Context, job_type: type, n: int, kills_total: int, rng: random.Random) -> dict[str, float]:
    all_kills: list[Kill] = []
    totals: Counter[str] = Counter()
    while len(all_kills) < kills_total:
        job = job_type(ctx, n)
        kills = one_job(ctx, job, kills_total - len(all_kills), rng)
        figures = evaluate(job, n, kills)
        totals["max_reruns"] = max(totals["max_reruns"], figures.pop("max_reruns"))
        totals.update(figures)
        all_kills += kills
        kill_tagged(ctx.tag)
    in_flight = sum(k.in_flight for k in all_kills)
    checks = [k.orphans for k in all_kills if k.orphans is not None]
    return {"lost": totals["lost"], "completed_rerun": totals["completed_rerun"],
            "reruns_per_crash": totals["reruns"] / len(all_kills), "in_flight_per_crash": in_flight / len(all_kills),
            "orphans": sum(checks), "ended_twice": totals["ended_twice"], "checks": len(checks),
            "over_reruns": totals["over_reruns"], "max_reruns": totals["max_reruns"]}


def one_job(ctx: Context, job: ProdigyJob | ParallelJob, kills_left: int, rng: random.Random) -> list[Kill]:
    """Run one job to completion, killing its coordinator up to kills_left times."""
    gen, kills = 0, []
    proc, launched = job.launch(gen), time.monotonic()
    killed_pid, killed_at = 0, 0.0
    while True:
        delay = rng.uniform(*KILL_AFTER) if len(kills) < kills_left else None
        if kills and kills[-1].orphans is None and (delay is None or delay > ORPHAN_CHECK):
            time.sleep(max(0.0, launched + ORPHAN_CHECK - time.monotonic()))
            kills[-1].orphans = len(tagged(ctx.tag, created_before=killed_at, exclude=(killed_pid, proc.pid)))
        if delay is None:
            try:
                code = proc.wait(timeout=FINISH_TIMEOUT)
            except subprocess.TimeoutExpired:
                hard_kill(proc)
                raise BenchError(f"{job.name} did not finish within {FINISH_TIMEOUT:.0f}s") from None
            _check_completed(job, code)
            return kills
        while proc.poll() is None and time.monotonic() < launched + delay:
            time.sleep(0.01)
        if proc.poll() is not None:
            _check_completed(job, proc.returncode)
            return kills
        killed_pid, killed_at = proc.pid, hard_kill(proc)
        at_kill = len(_ledger(job.ledger))
        time.sleep(LEDGER_SETTLE)
        kills.append(Kill(gen=gen, in_flight=_in_flight(job.ledger, gen, at_kill), recorded=job.recorded()))
        gen += 1
        proc, launched = job.launch(gen), time.monotonic()


def _check_completed(job: ProdigyJob | ParallelJob, code: int) -> None:
    if code not in job.completed_codes:
        raise BenchError(f"{job.name} exited {code} in {job.work}")


def _ledger(path: Path) -> list[tuple[str, str, int]]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:  # a line torn by a kill has fewer fields
            entries.append((parts[0], parts[1], int(parts[2])))
    return entries


def _in_flight(ledger: Path, gen: int, at_kill: int) -> int:
    """Commands of the killed run (generation `gen`) that had started and not ended at the kill.

    `at_kill` is how many ledger lines existed at the kill: an end written after it was written by an orphan.
    Starts are read a moment later, since a command released just before the kill writes its line late.
    """
    lines = _ledger(ledger)
    started = {item for kind, item, line_gen in lines if kind == "start" and line_gen == gen}
    ended = {item for kind, item, line_gen in lines[:at_kill] if kind == "end" and line_gen == gen}
    return len(started - ended)


def evaluate(job: ProdigyJob | ParallelJob, n: int, kills: list[Kill]) -> Counter[str]:
    starts: dict[int, list[int]] = {}
    ends: Counter[int] = Counter()
    for kind, item, gen in _ledger(job.ledger):
        index = job.item(item)
        if kind == "start":
            starts.setdefault(index, []).append(gen)
        else:
            ends[index] += 1
    result: Counter[str] = Counter()
    result["lost"] = sum(1 for i in range(n) if ends[i] == 0)
    result["reruns"] = sum(len(gens) - 1 for gens in starts.values())
    result["ended_twice"] = sum(1 for count in ends.values() if count > 1)
    result["completed_rerun"] = sum(1 for kill in kills for i in kill.recorded
                                    if any(gen > kill.gen for gen in starts.get(i, [])))
    reruns: Counter[int] = Counter()  # a start that follows a start of the same item: the earlier run's crash
    for gens in starts.values():
        for earlier in gens[:-1]:
            reruns[earlier] += 1
    result["over_reruns"] = sum(1 for kill in kills if reruns[kill.gen] > kill.in_flight)
    result["max_reruns"] = max((reruns[kill.gen] for kill in kills), default=0)
    return result
