"""Resume a MapReduce job in the phase where it stopped. The lock is taken once, here, for the whole run."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prodigy import git
from prodigy.errors import NothingToResumeError
from prodigy.execution.mapreduce.job import JobSummary, execute_job, reap_orphans, run_new_job, start_offset
from prodigy.execution.reporter import Reporter
from prodigy.execution.session import RunOptions, check_tools, conclude, recorded_inputs, reopen
from prodigy.execution.signals import StopRequest
from prodigy.resume.plan import plan_resume, retry_command
from prodigy.resume.resolve import Target
from prodigy.resume.standard import load_recorded_workflow
from prodigy.state import sessions
from prodigy.state.events import new_correlation_id
from prodigy.state.jobs import JobStore, open_store
from prodigy.state.locks import ExecutionLock
from prodigy.workflow.load import check_workflow
from prodigy.workflow.model import Workflow, step_fingerprint


def resume_job(target: Target, options: RunOptions, stop: StopRequest, reporter: Reporter, *,
               workflow_override: str | None = None, on_line: Any = None) -> JobSummary:
    force = bool(options.extra.get("force"))
    max_retries = int(options.extra.get("max_retries", 2))
    with ExecutionLock(target.session.id, purpose="resume"):
        record = sessions.load(target.session.id)  # re-read under the lock
        if record.status == "cancelled":
            raise NothingToResumeError(f"Session {record.id} was cancelled and cannot be resumed.")
        options = replace(options, inputs=recorded_inputs(record))
        workflow = load_recorded_workflow(record, workflow_override, reporter, announce_change=False)
        job_id = target.job_id or record.job_id
        if job_id is None:  # the run died before its job existed: nothing was done, start the job now
            check_tools(workflow)
            reporter.emit("note", text=f"Session {record.id} stopped before its job was created; starting it.")
            options = reopen(record, options, reporter)
            summary = run_new_job(workflow, record, options, stop, reporter, on_line=on_line)
            return conclude(summary, workflow, record, options, stop, on_line)
        store = open_store(job_id, record.repo)
        store.meta()  # a damaged job.json is a clear error here, not a surprise later
        state = store.load_state()
        for warning in state.warnings:
            reporter.emit("warning", text=warning)
        _report_changes(store, workflow, record.workflow_sha256, reporter)
        dlq_only = options.extra.get("dlq_only")

        def plan() -> Any:
            return plan_resume(state, setup_total=len(workflow.setup.steps) if workflow.setup else 0,
                               reduce_total=len(workflow.reduce), force=force, max_retries=max_retries,
                               dlq_only=set(dlq_only) if dlq_only is not None else None)

        resume_plan = plan()
        if resume_plan.nothing_to_do:
            hint = (f"{len(resume_plan.dlq)} item(s) are in the dead-letter queue; retry them with: "
                    f"{retry_command(job_id)}" if resume_plan.dlq and not force else None)
            raise NothingToResumeError(f"Job {job_id} already completed, nothing to resume.", hint=hint)
        check_tools(workflow)  # after the plan: a job with nothing left to run needs no agent CLI to say so
        reaped = reap_orphans(state)  # first: an item recovered below may still have a command running
        options = reopen(record, options, reporter)
        if git.recover_merged(store, state, options.worktree, reporter):
            resume_plan = plan()
        correlation_id = new_correlation_id()
        store.append({"t": "resume", "cid": correlation_id, "force": force, "max_retries": max_retries,
                      **start_offset()})
        if resume_plan.retry_dlq:
            if state.map_complete:
                store.append({"t": "map_reopened", "reason": "retrying DLQ items"})
            store.append({"t": "dlq_retry", "items": list(resume_plan.dlq), "budget": max_retries})
        record.resumes += 1
        record.workflow_path, record.workflow_sha256 = str(workflow.path), workflow.sha256
        sessions.save(record)
        reporter.emit("job_resume_plan", session_id=record.id, job_id=job_id, job_dir=str(store.folder),
                      plan=resume_plan, force=force, reaped=reaped)
        summary = execute_job(workflow, record, store, options, stop, reporter, on_line=on_line, resumed=True,
                              plan=resume_plan, dispatch_order=_order(resume_plan, state), reaped=reaped,
                              correlation_id=correlation_id)
        return conclude(summary, workflow, record, options, stop, on_line)


def _order(resume_plan: Any, state: Any) -> list[int] | None:
    """Items to dispatch; None (all pending, once frozen) when the work list was not frozen before the stop."""
    return resume_plan.dispatch_order if state.item_count is not None else None


def _report_changes(store: JobStore, workflow: Workflow, recorded_sha: str, reporter: Reporter) -> None:
    if workflow.sha256 == recorded_sha:
        return
    changed = []
    try:
        original = check_workflow(store.workflow_copy_path).workflow
    except Exception:  # noqa: BLE001 - the copy is informational; a damaged copy only loses the detail
        original = None
    if original is not None:
        old, new = original.phase_steps(), workflow.phase_steps()
        changed = [phase for phase in ("setup", "map", "reduce")
                   if step_fingerprint(old.get(phase, ())) != step_fingerprint(new.get(phase, ()))]
        if original.map and workflow.map and (original.map.input, original.map.filter) != (
                workflow.map.input, workflow.map.filter):
            changed.append("map input (ignored: the work list was frozen when the map phase started)")
    detail = f" (changed: {', '.join(changed)})" if changed else ""
    reporter.emit("workflow_changed", old=recorded_sha, new=workflow.sha256, detail=detail)
