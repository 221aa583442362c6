"""Resume a standard workflow session from its first step without a completion record."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prodigy import paths
from prodigy.errors import NothingToResumeError, StateError, WorkflowFileError
from prodigy.execution.reporter import Reporter
from prodigy.execution.session import (
    RunOptions,
    StandardRunSummary,
    check_tools,
    conclude,
    execute_standard,
    fresh_checkpoint,
    recorded_inputs,
    reopen,
)
from prodigy.execution.signals import StopRequest
from prodigy.state import sessions
from prodigy.state.sessions import SessionRecord
from prodigy.workflow.load import load_workflow
from prodigy.workflow.model import Workflow


def refuse_if_finished(record: SessionRecord, *, force: bool = False) -> None:
    if record.status == "completed" and not force:
        raise NothingToResumeError(
            f"Session {record.id} already completed, nothing to resume.",
            hint=f"Run the workflow again to start a new session: prodigy run {record.workflow_path}",
        )
    if record.status == "cancelled":
        raise NothingToResumeError(f"Session {record.id} was cancelled and cannot be resumed.")


def load_recorded_workflow(record: SessionRecord, override: str | None, reporter: Reporter, *,
                           announce_change: bool = True) -> Workflow:
    """The workflow the session ran, from its recorded path (or --workflow); say so when it changed. A composed
    workflow runs as it was resolved when the session started (what changed since is reported); --workflow
    composes it again from the current files, with the same parameter values."""
    if record.extra.get("composed"):
        kept = _kept_composition(record, override, reporter)
        if kept is not None:
            return kept
    path = Path(override).expanduser() if override else Path(record.workflow_path)
    if not path.exists():
        raise WorkflowFileError(
            f"Workflow file not found: {path}\nThe workflow file may have been moved or deleted.",
            hint=f"Point resume at it with: prodigy resume {record.id} --workflow PATH",
        )
    params = None
    if record.extra.get("composed"):
        from prodigy.state import composed
        from prodigy.workflow.compose_params import ParamInput

        try:
            doc = composed.load(record.id) or {}
        except StateError as exc:  # --workflow is the way out of a damaged kept form
            reporter.emit("warning", text=f"{exc.message.splitlines()[0]}; composing without its parameter values")
            doc = {}
        params = ParamInput(cli=dict(doc.get("parameters") or {}))
    workflow = load_workflow(path, params=params, search_dirs=(Path(record.run_dir),))
    if announce_change and workflow.sha256 != record.workflow_sha256:
        reporter.emit("workflow_changed", old=record.workflow_sha256, new=workflow.sha256, detail="")
    if workflow.is_mapreduce != (record.kind == "mapreduce"):
        raise WorkflowFileError(
            f"{path} is a {'MapReduce' if workflow.is_mapreduce else 'standard'} workflow, but session "
            f"{record.id} ran a {'MapReduce' if record.kind == 'mapreduce' else 'standard'} one."
        )
    return workflow


def _kept_composition(record: SessionRecord, override: str | None, reporter: Reporter) -> Workflow | None:
    from prodigy.state import composed
    from prodigy.workflow import compose

    if override:
        return None  # --workflow: composed again from the current files
    doc = composed.load(record.id)
    if doc is None:
        reporter.emit("warning", text=f"the resolved workflow kept for {record.id} is missing; composing it again "
                      "from the current files")
        return None
    changed = compose.changed_sources(doc)
    if changed:
        names = ", ".join(f"{path} ({'deleted' if new is None else 'changed'})" for path, _old, new in changed)
        reporter.emit("note", text=f"Files this composed workflow was made of changed since the session started: "
                      f"{names}. This resume runs the workflow as it was resolved then; to use the current "
                      f"files: prodigy resume {record.id} --workflow {record.workflow_path}")
    try:
        return compose.from_kept(doc)
    except StateError as exc:
        raise StateError(f"{exc.message} ({paths.composed_file(record.id)})",
                         hint=f"Resume it from the current files: prodigy resume {record.id} --workflow "
                              f"{record.workflow_path}") from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise StateError(f"The composed workflow kept for {record.id} is damaged ({paths.composed_file(record.id)}: "
                         f"{type(exc).__name__} {exc}).",
                         hint=f"Resume it from the current files: prodigy resume {record.id} --workflow "
                              f"{record.workflow_path}") from None


def resume_standard(record: SessionRecord, options: RunOptions, stop: StopRequest, reporter: Reporter, *,
                    workflow_override: str | None = None, on_line=None) -> StandardRunSummary:
    """Continue a standard session. The caller holds the session's execution lock."""
    refuse_if_finished(record)
    options = replace(options, inputs=recorded_inputs(record))
    workflow = load_recorded_workflow(record, workflow_override, reporter)
    check_tools(workflow)
    from prodigy.state import checkpoints  # standard sessions only

    checkpoint = checkpoints.load(record.id) or fresh_checkpoint(record, workflow)
    if checkpoint.total_steps != len(workflow.steps):
        reporter.emit("warning", text=f"the workflow now has {len(workflow.steps)} steps (the session started "
                      f"with {checkpoint.total_steps}); completed steps are matched by position")
        checkpoint.total_steps = len(workflow.steps)
    if any(int(i) >= len(workflow.steps) for i in checkpoint.completed):
        raise StateError(f"Checkpoint of {record.id} records steps beyond the end of {workflow.path}.")
    checkpoint.workflow_path = str(workflow.path)
    checkpoint.workflow_sha256 = workflow.sha256
    start = checkpoint.first_incomplete()
    record.workflow_path, record.workflow_sha256 = str(workflow.path), workflow.sha256
    record.resumes += 1
    sessions.save(record)
    options = reopen(record, options, reporter)
    done_costs = [done["ag"].get("usd") for done in checkpoint.completed.values()
                  if isinstance(done.get("ag"), dict) and isinstance(done["ag"].get("usd"), (int, float))]
    reporter.emit("resume_plan", session_id=record.id, start=start, total=len(workflow.steps),
                  done=len(checkpoint.completed), workflow=str(workflow.path),
                  done_cost=round(sum(done_costs), 6) if done_costs else None,
                  agent_conversation=bool((checkpoint.partial.get(str(start)) or {}).get("agent")))
    summary = execute_standard(workflow, record, checkpoint, options, stop, reporter, resumed=True, on_line=on_line)
    return conclude(summary, workflow, record, options, stop, on_line)
