"""An original MapReduce job as our job folder: the frozen work list with the same item ids, and a journal that
records what the original finished, so the resume runs only the rest."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prodigy.errors import StateError
from prodigy.legacy.discover import JobFiles
from prodigy.legacy.recover import Attempt, Recovery
from prodigy.workflow.model import Workflow


@dataclass
class JobPlan:
    original_job_id: str | None
    recovery: Recovery | None
    items: list[Any] | None  # None: the work list is frozen by the resume, from the input (nothing progressed)
    records: list[dict[str, Any]]  # journal records after items_frozen
    setup_done: dict[str, Any] | None  # captures, or None when setup runs again
    recovered: list[str] = field(default_factory=list)
    not_recovered: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def _ids(indexes: list[int], limit: int = 8) -> str:
    shown = ", ".join(f"item_{i}" for i in indexes[:limit])
    return shown + (f" and {len(indexes) - limit} more" if len(indexes) > limit else "")


def plan_job(job_id: str | None, files: JobFiles | None, recovery: Recovery | None, workflow: Workflow,
             resolve_input: Any) -> JobPlan:
    """resolve_input() -> (items, source) reads the workflow's map input (only when the original's job state
    did not keep the list); None when it cannot be read now (a dry run of an input command)."""
    plan = JobPlan(original_job_id=job_id, recovery=recovery, items=None, records=[], setup_done={})
    if recovery is None or not recovery.progressed:
        where = f"job {job_id}" if job_id else "this session"
        plan.not_recovered.append(f"the original recorded no map progress for {where}: the job runs from its "
                                  "setup phase")
        plan.setup_done = None
        return plan
    plan.files = list(recovery.files)
    plan.warnings += recovery.warnings
    if recovery.work_items is not None:
        plan.items = list(recovery.work_items)
        plan.recovered.append(f"work list: {len(plan.items)} item(s) from the job state {Path(recovery.files[0]).name}")
    else:
        resolved = resolve_input()
        if resolved is not None:
            items, source = resolved
            _check_lineup(items, source, recovery, plan)
            plan.items = items
            plan.recovered.append(f"work list: {len(items)} item(s) from the workflow's map input ({source}), "
                                  f"checked against the original's record")
    _setup(recovery, workflow, plan)
    _items(recovery, plan)
    if recovery.reduce_completed:
        plan.records += [{"t": "map_done"}, {"t": "reduce_done"}]
        plan.recovered.append("the reduce phase had completed")
    elif recovery.reduce_started:
        plan.records.append({"t": "map_done"})
        plan.not_recovered.append("the reduce phase had started, but the original records no reduce step "
                                  "progress: reduce runs from its first step")
    return plan


def _check_lineup(items: list[Any], source: str, recovery: Recovery, plan: JobPlan) -> None:
    """Item ids are positions in the list: the list read now must be the one the original numbered."""
    problems = []
    if recovery.total_items is not None and recovery.total_items != len(items):
        problems.append(f"the original's job had {recovery.total_items} item(s) (job_started event), the map "
                        f"input gives {len(items)} now")
    highest = max([*recovery.attempts, *recovery.started_unfinished], default=-1)
    if highest >= len(items):
        problems.append(f"the original recorded item_{highest}, beyond the {len(items)} item(s) of the input now")
    for index, data in sorted(recovery.dlq_data.items()):
        if index < len(items) and data is not None and items[index] != data:
            problems.append(f"item_{index} in the original's DLQ holds different data than item_{index} of the "
                            "input now")
            break
    if problems:
        raise StateError(
            f"Cannot line up the original's item ids with the map input ({source}): " + "; ".join(problems) + ".",
            hint="The input changed since the original ran, so the items it finished cannot be told apart. Restore "
                 "the input as it was, or run the workflow again with prodigy run.")
    if recovery.total_items is None and not recovery.dlq_data:
        plan.warnings.append("the original left no record to check the work list against (no job_started event, "
                             "no DLQ item data): item ids are taken to match the map input as it is now")


def _setup(recovery: Recovery, workflow: Workflow, plan: JobPlan) -> None:
    setup = workflow.setup
    captures_needed = bool(setup and (setup.captures or any(s.capture_output or s.capture for s in setup.steps)))
    if recovery.variables:
        plan.setup_done = {k: v for k, v in recovery.variables.items() if not k.startswith("__")}
        plan.recovered.append(f"setup: done, {len(plan.setup_done)} variable(s) restored from the job state")
    elif captures_needed:
        plan.setup_done = None
        plan.not_recovered.append("setup captures variables, and the original did not record their values: the "
                                  "setup phase runs again to restore them (as the original's own resume did)")
    else:
        plan.setup_done = {}
        plan.recovered.append("setup: done (the map phase had started)")


def _done(index: int, attempt: Attempt, final: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"t": "done", "i": index, "legacy": attempt.source}
    if attempt.attempt > 1:
        record["a"] = attempt.attempt
    if attempt.status != "succeeded":
        record["s"] = attempt.status
        if final:
            record["final"] = "dlq"
    record["d"] = round(attempt.duration, 3) if attempt.duration is not None else 0.0
    for key, value in (("x", attempt.exit_code), ("err", attempt.error), ("out", attempt.output),
                       ("log", attempt.log), ("ts", attempt.time)):
        if value is not None:
            record[key] = value
    return record


def _items(recovery: Recovery, plan: JobPlan) -> None:
    total = len(plan.items) if plan.items is not None else 0
    succeeded, failed = recovery.indexes("succeeded"), recovery.indexes("failed", "timed_out")
    for index in sorted(recovery.attempts):
        attempts = recovery.attempts[index]
        numbers: set[int] = set()
        for n, attempt in enumerate(attempts):
            number = max(attempt.attempt, max(numbers, default=0) + 1)  # attempt numbers only go up
            numbers.add(number)
            plan.records.append(_done(index, replace(attempt, attempt=number), final=n == len(attempts) - 1))
    rerun = sorted(set(recovery.started_unfinished) - set(recovery.attempts))
    for index in rerun:  # started, never finished: in flight at the interruption (no process of it is left)
        plan.records.append({"t": "start", "i": index, "legacy": "started, no completion record"})
    pending = total - len(succeeded) - len(failed)
    plan.counts = {"total": total, "succeeded": len(succeeded), "failed": len(failed), "rerun": len(rerun),
                   "pending": max(pending, 0)}
    plan.recovered.append(f"{len(succeeded)} item(s) finished successfully: they are not run again")
    if failed:
        plan.recovered.append(f"{len(failed)} item(s) failed ({_ids(failed)}): they are in the dead-letter queue "
                              "and run again only with --force")
    if rerun:
        plan.not_recovered.append(f"no completion record for {len(rerun)} item(s) that had started ({_ids(rerun)}): "
                                  "they will run again")
    never = max(pending - len(rerun), 0)
    if never:
        plan.recovered.append(f"{never} item(s) had not started: they run")
    plan.recovered += recovery.notes
