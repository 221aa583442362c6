"""One `prodigy run` that starts several sessions: `--args` (one run per value), `--map` (one run per matching
file) and `-n` (up to N iterations of a standard workflow, stopping early when one makes no commits). Each run
is its own session, resumable on its own; the result lists them all."""

from __future__ import annotations

import dataclasses
import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import ExitCode, ProdigyError, UsageError
from prodigy.execution.reporter import Reporter
from prodigy.execution.session import RunOptions, run_workflow
from prodigy.execution.signals import StopRequest
from prodigy.workflow.model import Workflow


@dataclass(frozen=True)
class RunInput:
    """The values one run gets: ARG, ARG_1, PRODIGY_ARG (--args); also FILE and FILE_PATH (--map)."""

    label: str
    variables: dict[str, str]


def arg_inputs(values: tuple[str, ...], *, mapreduce: bool) -> list[RunInput]:
    """Standard workflow: one run per value. MapReduce: one run with ARG_1..N (the original's rule)."""
    if not values:
        return []
    if mapreduce:
        numbered = {f"ARG_{n}": value for n, value in enumerate(values, 1)}
        if len(values) == 1:
            numbered.update(ARG=values[0], PRODIGY_ARG=values[0])
        return [RunInput(" ".join(f"{k}={v}" for k, v in numbered.items() if k.startswith("ARG_")), numbered)]
    return [RunInput(f"ARG={value}", {"ARG": value, "ARG_1": value, "PRODIGY_ARG": value}) for value in values]


def map_arg(path: str) -> str:
    """`$ARG` of a --map file: its stem up to the first '-' (`specs/65-foo.md` -> `65`)."""
    stem = Path(path).stem
    return stem.split("-", 1)[0] or stem


def map_inputs(patterns: tuple[str, ...], run_dir: Path) -> list[RunInput]:
    """One run per file matching any pattern (relative to the run directory), each file once, sorted."""
    found: list[str] = []
    for pattern in patterns:
        base = os.path.expanduser(pattern)
        absolute = os.path.isabs(base)
        matches = sorted(glob.glob(base if absolute else str(run_dir / base), recursive=True))
        files = [m for m in matches if os.path.isfile(m)]
        if not files:
            raise UsageError(f"--map {pattern!r} matches no file in {run_dir}.",
                             hint="The pattern is a glob relative to the run directory (-p), e.g. 'specs/*.md'; "
                                  "quote it so the shell does not expand it.")
        for match in files:
            shown = match if absolute else os.path.relpath(match, run_dir)
            if shown not in found:
                found.append(shown)
    return [RunInput(path, {"ARG": map_arg(path), "ARG_1": map_arg(path), "PRODIGY_ARG": map_arg(path),
                            "FILE": os.path.basename(path), "FILE_PATH": path}) for path in found]


def plan_inputs(workflow: Workflow, *, args: tuple[str, ...], maps: tuple[str, ...], run_dir: Path,
                iterations: int) -> list[RunInput | None]:
    """What each run gets; [None] is one plain run. Checked before anything is created."""
    if iterations > 1 and workflow.is_mapreduce:
        raise UsageError(f"-n/--max-iterations repeats a standard workflow; {workflow.path.name} is a MapReduce "
                         "workflow.", hint="Run it again with `prodigy run`, or resume it with `prodigy resume`.")
    if maps and workflow.is_mapreduce:
        raise UsageError(f"--map runs a standard workflow once per file; {workflow.path.name} is a MapReduce "
                         "workflow.", hint="Give the files to its map phase instead (map.input: a command such "
                                           "as \"find specs -name '*.md'\"), or use: prodigy batch PATTERN --command CMD")
    inputs: list[RunInput | None] = [*arg_inputs(args, mapreduce=workflow.is_mapreduce), *map_inputs(maps, run_dir)]
    return inputs or [None]


@dataclass(frozen=True)
class RunEntry:
    """One session started by the invocation."""

    label: str | None
    iteration: int | None
    session_id: str | None
    exit_code: int
    summary: Any = None  # StandardRunSummary | JobSummary; None when an error stopped the run first
    error: str | None = None
    commits: int | None = None  # commits the run made (None: not known)

    @property
    def status(self) -> str:
        if self.summary is None:
            return "error"
        return str(getattr(self.summary, "status", None) or self.summary.result.status)


@dataclass(frozen=True)
class MultiRunSummary:
    runs: tuple[RunEntry, ...]
    not_run: tuple[str, ...]  # inputs never started (after an interrupt or with --fail-fast)
    iterations: int
    stopped: str | None  # why it ended before running everything
    exit_code: int


def run_many(workflow: Workflow, inputs: list[RunInput | None], options: RunOptions, stop: StopRequest,
             reporter: Reporter, *, iterations: int = 1, fail_fast: bool = False,
             on_line: Any = None) -> MultiRunSummary:
    runs: list[RunEntry] = []
    stopped: str | None = None
    total = len(inputs)
    for number, run_input in enumerate(inputs, 1):
        for iteration in range(1, iterations + 1):
            entry = _one(workflow, run_input, options, stop, reporter, number=number, total=total,
                         iteration=iteration if iterations > 1 else None, iterations=iterations, on_line=on_line)
            runs.append(entry)
            reporter.emit("run_finished", entry=entry)
            if entry.exit_code == ExitCode.INTERRUPTED or stop.requested:
                stopped = "interrupted"
                break
            if entry.exit_code != ExitCode.OK:
                if iterations > 1:
                    reporter.emit("iterations_stopped", label=run_input.label if run_input else None,
                                  iteration=iteration, iterations=iterations, reason="the run did not complete")
                break
            if iterations > 1 and iteration < iterations and entry.commits == 0:
                reporter.emit("iterations_stopped", label=run_input.label if run_input else None,
                              iteration=iteration, iterations=iterations, reason="it made no commits")
                break
        last = runs[-1]
        if stopped == "interrupted" or (fail_fast and last.exit_code != ExitCode.OK):
            stopped = stopped or "--fail-fast"
            rest = [i.label for i in inputs[number:] if i is not None]
            return MultiRunSummary(tuple(runs), tuple(rest), iterations, stopped, _exit_code(runs))
    return MultiRunSummary(tuple(runs), (), iterations, stopped, _exit_code(runs))


def _one(workflow: Workflow, run_input: RunInput | None, options: RunOptions, stop: StopRequest,
         reporter: Reporter, *, number: int, total: int, iteration: int | None, iterations: int,
         on_line: Any) -> RunEntry:
    variables = dict(run_input.variables) if run_input else {}
    label = run_input.label if run_input else None
    if iteration is not None:
        variables["ITERATION"] = str(iteration)
        label = f"{label}, iteration {iteration}" if label else f"iteration {iteration}"
    reporter.emit("run_starting", number=number, total=total, label=label, iteration=iteration,
                  iterations=iterations)
    run_options = dataclasses.replace(options, inputs=variables, input_label=label)
    before = _head(options.run_dir)
    try:
        summary = run_workflow(workflow, run_options, stop, reporter, on_line=on_line)
    except ProdigyError as exc:
        if exc.exit_code == ExitCode.INTERRUPTED:
            raise
        reporter.emit("run_error", label=label, message=exc.message, hint=exc.hint)
        return RunEntry(label, iteration, None, int(exc.exit_code), error=exc.message)
    return RunEntry(label, iteration, summary.session_id, summary.exit_code, summary,
                    commits=_commits(summary, options.run_dir, before))


def _head(run_dir: Path) -> str | None:
    from prodigy import git

    return git.head(run_dir)


def _commits(summary: Any, run_dir: Path, before: str | None) -> int | None:
    """Commits the run made: on its session branch (worktree), else a moved HEAD in the run directory."""
    report = getattr(summary, "worktree", None)
    if report is not None and report.isolated:
        return report.commits if summary.exit_code == ExitCode.OK else None
    after = _head(run_dir)
    if before is None and after is None:
        return None  # not a git repository: nothing to count
    return 0 if after == before else 1


def _exit_code(runs: list[RunEntry]) -> int:
    """Interrupted wins, then an error that stopped a run, then a failed run, then items in the DLQ."""
    codes = [r.exit_code for r in runs]
    if ExitCode.INTERRUPTED in codes:
        return int(ExitCode.INTERRUPTED)
    for code in codes:
        if code not in (ExitCode.OK, ExitCode.FAILED, ExitCode.DLQ_NOT_EMPTY):
            return int(code)
    for code in (ExitCode.FAILED, ExitCode.DLQ_NOT_EMPTY):
        if code in codes:
            return int(code)
    return int(ExitCode.OK)
