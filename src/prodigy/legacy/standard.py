"""A standard session of the original as our checkpoint: which steps completed, and the variables they left."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prodigy.errors import StateError
from prodigy.legacy.shapes import RustCheckpoint, RustSession
from prodigy.state.checkpoints import StandardCheckpoint
from prodigy.state.sessions import now_iso
from prodigy.workflow.model import Workflow


@dataclass
class StandardPlan:
    completed: dict[str, dict[str, Any]]
    variables: dict[str, Any]
    total: int
    recovered: list[str] = field(default_factory=list)
    not_recovered: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def next_step(self) -> int:
        return next((i for i in range(self.total) if str(i) not in self.completed), self.total)

    def checkpoint(self, session_id: str, workflow: Workflow, status: str) -> StandardCheckpoint:
        return StandardCheckpoint(session_id=session_id, workflow_path=str(workflow.path),
                                  workflow_sha256=workflow.sha256, total_steps=self.total, status=status,
                                  completed=dict(self.completed), variables=dict(self.variables))


def plan_standard(checkpoint: RustCheckpoint | None, session: RustSession | None, workflow: Workflow) -> StandardPlan:
    total = len(workflow.steps)
    plan = StandardPlan(completed={}, variables={}, total=total)
    if checkpoint is not None:
        source = checkpoint.path.name
        done = {s.index: s for s in checkpoint.steps if s.success}
        failed = sorted({s.index for s in checkpoint.steps if not s.success} - set(done))
        if failed:
            plan.not_recovered.append(f"step(s) {', '.join(str(i + 1) for i in failed)} are in completed_steps "
                                      "with success: false: they run again")
        variables: dict[str, Any] = dict(checkpoint.variables)
        for step in checkpoint.steps:
            for key, value in step.captured.items():
                variables.setdefault(key, value)
        if checkpoint.total_steps != total:
            plan.warnings.append(f"the workflow has {total} steps; the original's checkpoint recorded "
                                 f"{checkpoint.total_steps}: completed steps are matched by position")
    elif session is not None and session.has_workflow_data:
        source = f"{session.path.name} (workflow_data; no checkpoint was found)"
        done = {i: None for i in session.completed_steps}
        variables = dict(session.variables)
        plan.warnings.append("no checkpoint of this session was found: the completed steps come from the session "
                             "record's workflow_data, which the original did not always keep up to date")
    else:
        source, done, variables = "nothing", {}, {}
        plan.not_recovered.append("no record of completed steps: every step runs")
    beyond = sorted(i for i in done if i >= total)
    if beyond:
        raise StateError(f"The original recorded step {beyond[0] + 1} as completed, but {workflow.path} has only "
                         f"{total} steps: this is not the workflow the session ran.",
                         hint="Point resume at the right file with --workflow PATH.")
    for index in sorted(done):
        step = done[index]
        plan.completed[str(index)] = {
            "status": "succeeded", "exit_code": None, "attempts": 1,
            "duration": round(step.duration, 3) if step is not None and step.duration is not None else None,
            "recovered": False, "finished_at": now_iso(), "legacy": source}
    internal = sorted(k for k in variables if k.startswith("__"))
    if internal:
        plan.not_recovered.append(f"the original's internal state {', '.join(internal)} is not restored "
                                  "(error-handler bookkeeping with no meaning here)")
    plan.variables = {k: v for k, v in variables.items() if not k.startswith("__")}
    if done:
        plan.recovered.append(f"{len(done)} of {total} step(s) completed (from {source}); the resume starts at "
                              f"step {plan.next_step + 1}" if plan.next_step < total else
                              f"all {total} step(s) completed (from {source})")
    if plan.variables:
        names = sorted(plan.variables)
        plan.recovered.append(f"{len(names)} variable(s) restored: {', '.join(names[:12])}"
                              + (" ..." if len(names) > 12 else ""))
    if checkpoint is not None and done and checkpoint.current_step_index != plan.next_step and plan.next_step < total:
        plan.warnings.append(f"the checkpoint's current_step_index is {checkpoint.current_step_index}, but the first "
                             f"step without a completion record is step {plan.next_step + 1}: the resume starts there")
    return plan
