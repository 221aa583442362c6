"""Sub-workflows (`workflows:`): run in order, each as its own session (its own lock, checkpoints or job, worktree
and resume command), then the parent's own steps as one more. The parent session (kind `workflows`) records
each child's session id before the child starts, so a resume of the parent, after an interrupt or a kill -9,
skips the completed children, resumes the interrupted one and starts the rest. A child's listed `outputs` are
handed to the ones after it as ${child.variable}."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import ExitCode, ProdigyError
from prodigy.execution.reporter import Reporter
from prodigy.execution.signals import StopRequest
from prodigy.ids import new_session_id
from prodigy.state import sessions
from prodigy.state.sessions import SessionRecord, now_iso
from prodigy.workflow.interpolate import render
from prodigy.workflow.model import SubWorkflow, Workflow


@dataclass(frozen=True)
class ChildResult:
    name: str
    session_id: str | None
    status: str  # completed | completed_with_failures | failed | interrupted | skipped (done before) | error
    exit_code: int
    summary: Any = None
    error: str | None = None


@dataclass(frozen=True)
class ParentSummary:
    session_id: str
    workflow_path: str
    status: str  # completed | failed | interrupted
    exit_code: int
    children: tuple[ChildResult, ...]
    not_run: tuple[str, ...]
    resumed: bool
    worktree: Any = None

    @property
    def resume_command(self) -> str | None:
        return None if self.status == "completed" else f"prodigy resume {self.session_id}"


def plan(workflow: Workflow) -> list[SubWorkflow]:
    """The children in order: the sub-workflows, then the parent's own steps (if any) as one more."""
    children = list(workflow.subworkflows)
    if workflow.steps:
        doc = workflow.composition
        own = dataclasses.replace(workflow, subworkflows=(),
                                  composition={**doc, "workflows": []} if doc is not None else None)
        children.append(SubWorkflow(name=workflow.name, workflow=own))
    return children


def execute_parent(workflow: Workflow, record: SessionRecord, options: Any, stop: StopRequest, reporter: Reporter,
                   *, resumed: bool, on_line: Any = None) -> ParentSummary:
    """Run (or continue) the children in order. The caller holds the parent's execution lock."""
    children = plan(workflow)
    entries: list[dict[str, Any]] = record.extra.setdefault("children", [])
    while len(entries) < len(children):
        entries.append({"name": children[len(entries)].name, "session_id": None, "status": "pending"})
    outputs: dict[str, Any] = dict(record.extra.get("outputs") or {})
    record.status, record.error, record.finished_at = "running", None, None
    _progress(record, entries, len(children))
    results: list[ChildResult] = []
    for index, child in enumerate(children):
        entry = entries[index]
        reporter.emit("subworkflow_starting", number=index + 1, total=len(children), name=child.name,
                      session_id=entry.get("session_id"))
        result = _run_child(child, entry, record, options, stop, reporter, outputs, on_line)
        results.append(result)
        entry.update(session_id=result.session_id, status=result.status, exit_code=result.exit_code)
        if result.status in ("completed", "skipped") and child.outputs and result.session_id:
            found = _outputs(result.session_id, child)
            entry["outputs"] = found
            outputs.update({f"{child.name}.{k}": v for k, v in found.items()})
            record.extra["outputs"] = outputs
        _progress(record, entries, len(children))
        reporter.emit("subworkflow_finished", name=child.name, result=result)
        if result.exit_code not in (ExitCode.OK,) and result.status != "skipped":
            if child.continue_on_error and result.exit_code != ExitCode.INTERRUPTED:
                reporter.emit("note", text=f"Sub-workflow {child.name} did not complete (exit {result.exit_code}); "
                                           "continuing (continue_on_error).")
                continue
            rest = tuple(c.name for c in children[index + 1:])
            return _finish(record, workflow, results, rest, result.exit_code, resumed)
    return _finish(record, workflow, results, (), ExitCode.OK, resumed)


def _progress(record: SessionRecord, entries: list[dict[str, Any]], total: int) -> None:
    record.progress = {"done": sum(1 for e in entries if e.get("status") in ("completed", "skipped")),
                       "total": total}
    sessions.save(record)


def _finish(record: SessionRecord, workflow: Workflow, results: list[ChildResult], rest: tuple[str, ...],
            code: int, resumed: bool) -> ParentSummary:
    status = ("completed" if code == ExitCode.OK else "interrupted" if code == ExitCode.INTERRUPTED else "failed")
    record.status, record.exit_code = status, int(code)
    record.finished_at = now_iso() if status == "completed" else None
    failed = next((r for r in results if r.exit_code not in (0,) and r.status != "skipped"), None)
    record.error = (f"sub-workflow {failed.name}: {failed.error or failed.status}" if failed and code else None)
    sessions.save(record)
    return ParentSummary(record.id, str(workflow.path), status, int(code), tuple(results), rest, resumed)


def _child_options(child: SubWorkflow, record: SessionRecord, options: Any, outputs: dict[str, Any],
                   session_id: str) -> Any:
    variables = {**dict(child.workflow.parameters), **outputs, **options.inputs}
    inputs = {**options.inputs, **outputs, **{name: render(text, variables) for name, text in child.inputs}}
    run_dir = options.run_dir
    if child.working_dir:
        run_dir = Path(child.working_dir).expanduser()
        run_dir = run_dir if run_dir.is_absolute() else Path(record.run_dir) / run_dir
    return dataclasses.replace(options, run_dir=run_dir.absolute(), inputs={k: str(v) for k, v in inputs.items()},
                               input_label=f"sub-workflow {child.name} of {record.id}", profile=None,
                               session_id=session_id, parent={"session_id": record.id, "name": child.name},
                               worktree=None)


def _run_child(child: SubWorkflow, entry: dict[str, Any], record: SessionRecord, options: Any, stop: StopRequest,
               reporter: Reporter, outputs: dict[str, Any], on_line: Any) -> ChildResult:
    from prodigy.execution.session import run_workflow
    from prodigy.resume.resolve import Target
    from prodigy.resume.run import resume_target

    session_id = entry.get("session_id")
    existing = sessions.load(session_id) if session_id and sessions.exists(session_id) else None
    if existing is not None and existing.status == "completed":
        reporter.emit("note", text=f"Sub-workflow {child.name}: completed before ({existing.id}), not run again.")
        return ChildResult(child.name, existing.id, "skipped", ExitCode.OK)
    if existing is not None and existing.status == "cancelled":
        return ChildResult(child.name, existing.id, "error", ExitCode.FAILED, error="cancelled")
    if not session_id:
        session_id = new_session_id()
        entry["session_id"] = session_id
        sessions.save(record)  # recorded before the child exists: a kill -9 in between is resumed with this id
    child_options = _child_options(child, record, options, outputs, session_id)
    try:
        if existing is not None:
            target = Target(existing, existing.job_id, "parent session")
            summary = resume_target(target, dataclasses.replace(child_options, session_id=None, parent=None,
                                                                input_label=None), stop, reporter, on_line=on_line)
        else:
            summary = run_workflow(child.workflow, child_options, stop, reporter, on_line=on_line)
    except ProdigyError as exc:
        if exc.exit_code == ExitCode.INTERRUPTED:
            raise
        reporter.emit("warning", text=f"sub-workflow {child.name}: {exc.message}")
        return ChildResult(child.name, session_id, "error", int(exc.exit_code), error=exc.message)
    status = str(getattr(summary, "status", None) or summary.result.status)
    return ChildResult(child.name, summary.session_id, status, summary.exit_code, summary,
                       error=getattr(summary, "error", None))


def _outputs(session_id: str, child: SubWorkflow) -> dict[str, Any]:
    """The listed variables of a finished child: a standard child's captured values."""
    from prodigy.state import checkpoints

    try:
        checkpoint = checkpoints.load(session_id)
    except ProdigyError:
        return {}
    variables = checkpoint.variables if checkpoint is not None else {}
    return {name: variables[name] for name in child.outputs if name in variables}


def resume_parent(record: SessionRecord, options: Any, stop: StopRequest, reporter: Reporter, *,
                  workflow_override: str | None = None, on_line: Any = None) -> ParentSummary:
    """Continue a parent session. The caller holds its execution lock."""
    from prodigy.resume.standard import load_recorded_workflow, refuse_if_finished

    refuse_if_finished(record)
    workflow = load_recorded_workflow(record, workflow_override, reporter)
    done = sum(1 for e in record.extra.get("children") or [] if e.get("status") in ("completed", "skipped"))
    reporter.emit("note", text=f"Resuming session {record.id}: {done} of {len(plan(workflow))} sub-workflow(s) "
                               "done; the next one resumes where it stopped.")
    record.resumes += 1
    sessions.save(record)
    return execute_parent(workflow, record, options, stop, reporter, resumed=True, on_line=on_line)
