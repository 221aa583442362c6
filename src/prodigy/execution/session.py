"""Sessions: what `run` and `resume` share. Create or reopen the session record, hold the execution lock for
the whole execution, run the executor, record the outcome."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy import git, paths
from prodigy.errors import ExitCode, ProdigyError, StateWriteError, UsageError
from prodigy.execution import environment, gitvars
from prodigy.execution.context import StepContext
from prodigy.execution.reporter import Reporter
from prodigy.execution.signals import StopRequest
from prodigy.execution.steps.common import claude_binary
from prodigy.ids import new_session_id
from prodigy.state import sessions
from prodigy.state.locks import ExecutionLock
from prodigy.state.sessions import SessionRecord, now_iso
from prodigy.workflow.model import Workflow

if TYPE_CHECKING:
    from prodigy.execution.standard import StandardResult
    from prodigy.git.worktree import SessionWorktree
    from prodigy.state.checkpoints import StandardCheckpoint


@dataclass(frozen=True)
class RunOptions:
    run_dir: Path
    profile: str | None = None
    yes: bool = False
    verbose: int = 0
    json_output: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # executor-specific options (max_retries, force ...)
    no_worktree: bool = False
    refresh: bool = True  # resume: bring in new commits of the branch the session started from (--no-refresh)
    refreshed: Any = None  # set by reopen: what the resume brought in (git.refresh.Refresh)
    worktree: SessionWorktree | None = None  # set from git.start / git.reopen: steps run inside it
    confirm: Callable[[str], bool] | None = None  # asks the user a yes/no question (a terminal); None: no prompt
    inputs: dict[str, str] = field(default_factory=dict)  # this run's own values (--args, --map): ARG, FILE ...
    input_label: str | None = None  # how the summary names this run's input ("ARG=42", "specs/65-x.md")
    session_id: str | None = None  # a sub-workflow's id, chosen (and recorded) by its parent before it starts
    parent: dict[str, Any] | None = None  # a sub-workflow's parent: {"session_id", "name"}

    @property
    def exec_dir(self) -> Path:
        """Where steps run: the run directory's counterpart in the session worktree, or the run directory."""
        return self.worktree.run_dir if self.worktree is not None else self.run_dir


@dataclass(frozen=True)
class StandardRunSummary:
    session_id: str
    workflow_path: str
    result: StandardResult
    resumed: bool
    exit_code: int
    worktree: Any = None  # git.WorktreeReport
    agents: dict[str, Any] | None = None  # agent economics: the session's totals and this run's share

    @property
    def resume_command(self) -> str | None:
        if self.result.status == "completed":
            return None
        return f"prodigy resume {self.session_id}"


def new_session_record(session_id: str, workflow: Workflow, options: RunOptions) -> SessionRecord:
    return SessionRecord(
        id=session_id, kind="mapreduce" if workflow.is_mapreduce else "workflows" if workflow.subworkflows
        else "workflow", status="running",
        workflow_path=str(workflow.path), workflow_sha256=workflow.sha256, workflow_name=workflow.name,
        run_dir=str(options.run_dir), repo=paths.repo_name(options.run_dir),
        extra={**({"profile": options.profile} if options.profile else {}),
               **({"inputs": {"label": options.input_label, "variables": dict(options.inputs)}}
                  if options.inputs else {}),
               **({"parent": options.parent} if options.parent else {})},
    )


def step_context(workflow: Workflow, session_id: str, options: RunOptions, stop: StopRequest,
                 env: environment.RunEnvironment, on_line: Any = None) -> StepContext:
    return StepContext(
        run_dir=options.exec_dir, process_env=env.process_env, session_id=session_id,
        claude_bin=claude_binary(), log_dir=paths.claude_logs_dir(), stop_event=stop.event,
        on_line=on_line, masker=env.masker, explain_missing=git.missing_explainer(options.worktree),
        git_context=gitvars.needed(workflow),
    )


def check_tools(workflow: Workflow) -> None:
    if workflow.uses_claude():
        from prodigy.execution.steps.claude import require_claude

        require_claude(workflow)


def execute_standard(workflow: Workflow, record: SessionRecord, checkpoint: StandardCheckpoint,
                     options: RunOptions, stop: StopRequest, reporter: Reporter, *, resumed: bool,
                     on_line: Any = None) -> StandardRunSummary:
    """Run (or continue) a standard workflow. The caller holds the session's execution lock."""
    from prodigy.execution.standard import run_standard
    from prodigy.state import checkpoints

    try:
        env = environment.build(workflow, session_id=record.id, run_dir=options.run_dir, profile=options.profile,
                                inputs=options.inputs)
    except UsageError as exc:  # e.g. an env value command failed: nothing ran, the session is resumable
        return _failed_before_steps(workflow, record, checkpoint, exc, resumed)
    ctx = step_context(workflow, record.id, options, stop, env, on_line)
    record.status, record.error, record.finished_at = "running", None, None
    record.progress = {"done": len(checkpoint.completed), "total": len(workflow.steps)}
    sessions.save(record)

    def save(cp: StandardCheckpoint) -> None:
        checkpoints.save(cp)
        done = len(cp.completed)
        if record.progress.get("done") != done:
            record.progress = {"done": done, "total": cp.total_steps}
            sessions.save(record)

    spend_before = dict(checkpoint.spend)
    from prodigy.execution.agents.policy import AgentGovernor, stop_summary

    governor = AgentGovernor(workflow.agents, spent_usd=checkpoint.spend.get("usd", 0.0),
                             max_cost_usd=options.extra.get("max_cost"))
    variables = {**gitvars.builtin_variables(workflow, record.id, options.inputs), **env.variables}
    result = run_standard(workflow, checkpoint, ctx, variables, reporter, save=save, governor=governor)
    record.status = "interrupted" if result.status == "stopped" else result.status  # stopped: resumable
    record.finished_at = now_iso() if result.status == "completed" else None
    exit_code = {"completed": ExitCode.OK, "failed": ExitCode.FAILED, "interrupted": ExitCode.INTERRUPTED,
                 "stopped": ExitCode.STOPPED}[result.status]
    if result.failure is not None and result.status == "failed":
        record.error = env.masker(result.failure.error or "step failed")
    if result.stop is not None:
        record.error = env.masker(stop_summary(result.stop))
    record.exit_code = int(exit_code)
    sessions.save(record)
    agents = None
    if checkpoint.spend:
        from prodigy.state.spend import difference, readable

        agents = {"total": readable(checkpoint.spend),
                  "this_run": readable(difference(checkpoint.spend, spend_before))}
    return StandardRunSummary(record.id, str(workflow.path), result, resumed, int(exit_code), agents=agents)


def _failed_before_steps(workflow: Workflow, record: SessionRecord, checkpoint: StandardCheckpoint,
                         exc: ProdigyError, resumed: bool) -> StandardRunSummary:
    from prodigy.execution import outcome as o
    from prodigy.execution.standard import StandardResult

    failure = o.StepOutcome(status=o.ERRORED, error=exc.message, stderr=exc.hint or "")
    result = StandardResult(status="failed", total_steps=len(workflow.steps), steps_run=0,
                            steps_already_done=len(checkpoint.completed), duration=0.0,
                            failed_index=checkpoint.first_incomplete(), failure=failure)
    record.status, record.error, record.exit_code = "failed", exc.message, int(exc.exit_code)
    sessions.save(record)
    return StandardRunSummary(record.id, str(workflow.path), result, resumed, int(exc.exit_code))


def fresh_checkpoint(record: SessionRecord, workflow: Workflow) -> StandardCheckpoint:
    from prodigy.state.checkpoints import StandardCheckpoint

    return StandardCheckpoint(session_id=record.id, workflow_path=str(workflow.path),
                              workflow_sha256=workflow.sha256, total_steps=len(workflow.steps))


def resolve_run_dir(path: str | None) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path or os.getcwd())))


def recorded_inputs(record: SessionRecord) -> dict[str, str]:
    """The run's own values (--args/--map) a session started with; a resume runs with the same ones."""
    data = record.extra.get("inputs") or {}
    return {str(k): str(v) for k, v in (data.get("variables") or {}).items()}


def run_workflow(workflow: Workflow, options: RunOptions, stop: StopRequest, reporter: Reporter,
                 on_line: Any = None) -> Any:
    """Create a session for a loaded workflow and execute it under its lock (run, exec, batch, --args ...)."""
    if not options.run_dir.is_dir():
        raise UsageError(f"Run directory does not exist: {options.run_dir}")
    check_tools(workflow)
    environment.check_profile(workflow, options.profile)  # before a session exists that could not run
    if not workflow.is_mapreduce and options.extra.get("executor", {}).get("kind", "local") != "local":
        raise UsageError("--executor applies to the map phase of MapReduce workflows; "
                         f"{workflow.path.name} is a standard workflow (its steps run here, in order).")
    session_id = options.session_id or new_session_id()
    record = new_session_record(session_id, workflow, options)
    with resumable_after_write_failure(session_id), ExecutionLock(session_id, purpose="run"):
        if workflow.composition is not None:  # before the record: a session never lacks what it runs
            from prodigy.state import composed

            composed.save(session_id, workflow.composition)
            record.extra["composed"] = {"sources": sorted(workflow.composition.get("sources") or {})}
        if workflow.subworkflows:  # each sub-workflow is its own session, with its own worktree
            from prodigy.execution.subworkflows import execute_parent

            record.extra["worktree_disabled"] = "each sub-workflow runs in its own session and worktree"
            sessions.save(record)
            reporter.emit("session_started", session_id=session_id, workflow=workflow, run_dir=options.run_dir)
            return execute_parent(workflow, record, options, stop, reporter, resumed=False, on_line=on_line)
        options = dataclasses.replace(options, worktree=git.start(record, options.run_dir,
                                                                  disabled=options.no_worktree))
        sessions.save(record)
        reporter.emit("session_started", session_id=session_id, workflow=workflow, run_dir=options.run_dir)
        git.announce(record, options.worktree, options.run_dir, reporter)
        if workflow.is_mapreduce:
            from prodigy.execution.mapreduce.job import run_new_job

            summary: Any = run_new_job(workflow, record, options, stop, reporter, on_line=on_line)
        else:
            checkpoint = fresh_checkpoint(record, workflow)
            summary = execute_standard(workflow, record, checkpoint, options, stop, reporter, resumed=False,
                                       on_line=on_line)
        return conclude(summary, workflow, record, options, stop, on_line)


def reopen(record: SessionRecord, options: RunOptions, reporter: Reporter) -> RunOptions:
    """A resume continues in the session's worktree, if it had one."""
    reopened = git.reopen(record, reporter, refresh=options.refresh)
    return dataclasses.replace(options, worktree=reopened.worktree, refreshed=reopened.refresh)


def conclude(summary: Any, workflow: Workflow, record: SessionRecord, options: RunOptions, stop: StopRequest,
             on_line: Any = None) -> Any:
    """Attach the worktree report to a run's summary, merging the session branch back when the run completed
    and the user said yes (-y, or the prompt)."""
    report = git.conclude(record, options.worktree, options.run_dir, exit_code=summary.exit_code,
                          status=getattr(summary, "status", ""), yes=options.yes, confirm=options.confirm,
                          merge_steps=_merge_steps(workflow, record, options, stop, on_line),
                          refreshed=options.refreshed)
    return dataclasses.replace(summary, worktree=report)


def _merge_steps(workflow: Workflow, record: SessionRecord, options: RunOptions, stop: StopRequest,
                 on_line: Any) -> git.MergeSteps | None:
    """The workflow's merge: steps, run in a given directory (the session worktree) with the merge.* variables."""
    merge = workflow.merge
    if merge is None:
        return None

    def run(cwd: Path, merge_variables: dict[str, str]) -> str | None:
        from prodigy.execution.runner import run_steps

        env = environment.build(workflow, session_id=record.id, run_dir=options.run_dir, profile=options.profile,
                                inputs=options.inputs)
        ctx = dataclasses.replace(step_context(workflow, record.id, options, stop, env, on_line), run_dir=cwd,
                                  label="merge")
        if merge.timeout:
            ctx = dataclasses.replace(ctx, deadline=time.monotonic() + merge.timeout)
        outcome = run_steps(merge.steps, {**env.variables, **merge_variables}, ctx)
        return None if outcome.ok else env.masker(outcome.error or outcome.status)

    return run


@contextmanager
def resumable_after_write_failure(session_id: str) -> Iterator[None]:
    """A state write that failed (disk full, I/O error) stops the run with exit 6; say how to continue."""
    try:
        yield
    except StateWriteError as exc:
        try:
            recorded = sessions.exists(session_id)
        except OSError:
            recorded = False
        if recorded:
            exc.hint = (f"Free space on that file system (or fix the disk), then resume: prodigy resume {session_id}"
                        "\nNothing recorded before this point is lost; work in flight runs again.")
        else:
            exc.hint = "Free space on that file system (or fix the disk), then run the workflow again."
        raise
