"""A MapReduce job from start (or from wherever it stopped) to end: setup -> map -> reduce.

`run_new_job` creates the job; `execute_job` is shared by run and resume, so a resumed job runs through
exactly the same code as a fresh one."""

from __future__ import annotations

import time
from collections import ChainMap
from dataclasses import dataclass, field, replace
from typing import Any

from prodigy import git, paths
from prodigy.errors import ExitCode, ProdigyError, StateWriteError, UsageError
from prodigy.execution import environment, gitvars
from prodigy.execution import outcome as o
from prodigy.execution.agents.conversation import transcript_dir
from prodigy.execution.agents.invocation import checked
from prodigy.execution.agents.policy import AgentGovernor, AgentStop, stop_summary
from prodigy.execution.context import Masker
from prodigy.execution.mapreduce.coordinator import Coordinator, MapRun
from prodigy.execution.mapreduce.mapvars import MapVariables, counts
from prodigy.execution.mapreduce.phases import run_phase_steps
from prodigy.execution.mapreduce.pool import ItemExecutor, LocalExecutor
from prodigy.execution.process import reap_recorded
from prodigy.execution.reporter import Reporter
from prodigy.execution.session import RunOptions, step_context
from prodigy.execution.signals import StopRequest
from prodigy.ids import new_job_id
from prodigy.state import sessions
from prodigy.state.events import EventLog, new_correlation_id
from prodigy.state.jobs import RUNNING, JobMeta, JobState, JobStore, write_mappings
from prodigy.state.sessions import SessionRecord, now_iso
from prodigy.state.spend import difference, job_spend, readable
from prodigy.workflow.interpolate import render
from prodigy.workflow.load import parse_duration
from prodigy.workflow.model import Workflow


@dataclass(frozen=True)
class JobSummary:
    session_id: str
    job_id: str
    job_dir: str
    events_path: str
    status: str  # completed | completed_with_failures | failed | interrupted | stopped (resumable, see stop)
    phase: str  # the phase reached: setup | map | reduce | done
    exit_code: int
    duration: float
    counts: dict[str, int]
    map_run: MapRun | None
    setup_steps: tuple[int, int]  # (done, total)
    reduce_steps: tuple[int, int]
    error: str | None = None
    hint: str | None = None  # what to do about the error (a bad input found mid-run)
    failure: o.StepOutcome | None = None
    failed_phase: str | None = None
    resumed: bool = False
    plan: Any = None  # the resume plan, when resumed
    reaped: int = 0
    warnings: list[str] = field(default_factory=list)
    worktree: Any = None  # git.WorktreeReport
    executor: str = "local"  # where map items ran: local | dask
    scheduler: str | None = None  # the Dask scheduler's address
    agents: dict[str, Any] | None = None  # agent economics: job totals, completed items, this run's share
    stop: Any = None  # agents.policy.AgentStop when status is "stopped" (resumable)
    conversations: list[tuple[str, str]] = field(default_factory=list)  # interrupted agents: continued/restarted

    @property
    def next_command(self) -> str | None:
        if self.status in ("interrupted", "failed", "stopped"):
            hint = getattr(self.stop, "hint", None) or ""
            if getattr(self.stop, "kind", None) == "cluster" and ": prodigy resume-job " in hint:
                return hint.rsplit(": ", 1)[1]  # the same cluster options again
            return f"prodigy resume {self.session_id}"
        if self.counts.get("dlq"):
            from prodigy.resume.plan import retry_command

            return retry_command(self.job_id)
        return None


def run_new_job(workflow: Workflow, record: SessionRecord, options: RunOptions, stop: StopRequest,
                reporter: Reporter, *, on_line: Any = None) -> JobSummary:
    """`prodigy run` of a MapReduce workflow; the caller holds the session lock."""
    job_id = new_job_id(record.id)
    record.job_id, record.phase = job_id, "setup"
    meta = JobMeta(job_id=job_id, session_id=record.id, workflow_path=str(workflow.path),
                   workflow_sha256=workflow.sha256, run_dir=str(options.run_dir), repo=record.repo or "",
                   created_at=now_iso())
    store = JobStore.create(meta, _workflow_text(workflow))
    write_mappings(job_id, record.id, workflow.name)
    sessions.save(record)
    reporter.emit("job_created", job_id=job_id, job_dir=str(store.folder),
                  events_path=str(paths.events_file(meta.repo, job_id)))
    store.append({"t": "job_status", "status": "running"})
    return execute_job(workflow, record, store, options, stop, reporter, on_line=on_line)


def _workflow_text(workflow: Workflow) -> str:
    """What the job folder keeps as the workflow it started with: the file, or a composed workflow resolved."""
    if workflow.composition is not None:
        import json

        return json.dumps(workflow.composition["resolved"], indent=2, ensure_ascii=False, default=str) + "\n"
    return workflow.path.read_text(encoding="utf-8")


def start_offset() -> dict[str, float]:
    """The `sto` of a run/resume record: start records carry the process's start time `st` (psutil's
    create_time, up to a second early), not a `ts` of their own; readers add this to show when it started."""
    from prodigy.execution.process_groups import start_time_offset

    offset = start_time_offset()
    return {"sto": offset} if offset else {}


def reap_orphans(state: JobState) -> int:
    """After a hard kill: end commands of the dead run still alive (checked by start time), before re-running.
    Commands on another host (a cluster worker) are ended through the cluster when the map phase starts."""
    reaped = 0
    for item in state.items.tracked().values():  # a running item is never a compact one
        if item.status != RUNNING or not item.proc or _remote_proc(item.proc):
            continue
        if reap_recorded(int(item.proc[0]), int(item.proc[1]), float(item.proc[2])):
            reaped += 1
    if state.step_proc and reap_recorded(int(state.step_proc[2]), int(state.step_proc[3]),
                                         float(state.step_proc[4])):
        reaped += 1
    return reaped


def _remote_proc(proc: list[Any]) -> bool:
    if len(proc) < 4:
        return False
    from prodigy.execution.mapreduce.dask_executor import is_local_host, worker_host

    return not is_local_host(worker_host(str(proc[3])))


def execute_job(workflow: Workflow, record: SessionRecord, store: JobStore, options: RunOptions,
                stop: StopRequest, reporter: Reporter, *, on_line: Any = None, resumed: bool = False,
                plan: Any = None, dispatch_order: list[int] | None = None, reaped: int = 0,
                correlation_id: str | None = None) -> JobSummary:
    started = time.monotonic()
    state = store.state
    assert state is not None
    meta_repo = record.repo or paths.repo_name(options.run_dir)
    try:
        env = environment.build(workflow, session_id=record.id, run_dir=options.run_dir, profile=options.profile,
                                extra={"PRODIGY_JOB_ID": state.job_id}, inputs=options.inputs)
    except UsageError as exc:  # e.g. an env value command failed: nothing ran, the job is resumable
        env = environment.RunEnvironment(process_env={}, variables={}, masker=Masker())
        failed: Any = exc
    else:
        failed = None
    events = EventLog(paths.events_file(meta_repo, state.job_id), session_id=record.id, job_id=state.job_id,
                      correlation_id=correlation_id or new_correlation_id(), mask=env.masker)
    ctx = step_context(workflow, record.id, options, stop, env, on_line)
    base_vars: dict[str, Any] = {**gitvars.builtin_variables(workflow, record.id, options.inputs), **env.variables}
    runner = _JobRun(workflow, record, store, state, options, stop, reporter, events, ctx, base_vars, env)
    if not resumed:  # a resume wrote its own {"t": "resume", "cid": ...} record
        store.append({"t": "run", "cid": events.correlation_id, **start_offset()})
    events.emit("resume_started" if resumed else "job_started", phase=state.phase,
                workflow=str(workflow.path))
    try:
        summary = runner.run(dispatch_order, failed)
    finally:
        store.close()
    events.emit("resume_finished" if resumed else "job_finished", status=summary.status,
                exit_code=summary.exit_code, **{k: v for k, v in summary.counts.items()})
    events.close()
    return JobSummary(**{**summary.__dict__, "duration": time.monotonic() - started, "resumed": resumed,
                         "plan": plan, "reaped": reaped, "warnings": state.warnings + summary.warnings})


def mask_error(exc: ProdigyError, mask: Any) -> None:
    """Mask secrets in an error's message and hint in place (it may quote a command's stderr)."""
    if mask:
        exc.message, exc.hint = mask(exc.message), mask(exc.hint) if exc.hint else exc.hint
        exc.args = (exc.message,)


class _JobRun:
    def __init__(self, workflow: Workflow, record: SessionRecord, store: JobStore, state: JobState,
                 options: RunOptions, stop: StopRequest, reporter: Reporter, events: EventLog, ctx: Any,
                 base_vars: dict[str, Any], env: environment.RunEnvironment) -> None:
        self.workflow, self.record, self.store, self.state = workflow, record, store, state
        self.options, self.stop, self.reporter, self.events = options, stop, reporter, events
        self.ctx, self.base_vars, self.env = ctx, base_vars, env
        self.map_run: MapRun | None = None
        self.warnings: list[str] = []
        choice = options.extra.get("executor") or {}
        self.executor: tuple[str, str | None] = (choice.get("kind", "local"), choice.get("scheduler"))
        self.spend_before = dict(state.spend)  # to tell this invocation's agent spend from the job's
        self.governor = AgentGovernor(workflow.agents, spent_usd=state.spend.get("usd", 0.0),
                                      max_cost_usd=options.extra.get("max_cost"))
        self.conversations: list[tuple[str, str]] = []  # interrupted agents of setup/reduce: continued or not

    def run(self, dispatch_order: list[int] | None, failed: ProdigyError | None = None) -> JobSummary:
        self._set_session(status="running", phase=self.state.phase)
        try:
            if failed is not None:
                raise failed
            return self._phases(dispatch_order)
        except StateWriteError:
            raise  # nothing more can be recorded; the session stays resumable as it is on disk
        except ProdigyError as exc:  # bad input found mid-run (map input, max_parallel ...): resumable
            mask_error(exc, self.env.masker)  # the terminal gets the masked message too, not only the events
            message = exc.message
            self.events.emit("phase_failed", phase=self.state.phase, error=message)
            self._finish_session("failed", ExitCode(exc.exit_code), message)
            if not isinstance(exc, UsageError):
                raise  # state that cannot be written (exit 6) and the like: the one error handler reports it
            return self._summary("failed", ExitCode(exc.exit_code), error=message, failed_phase=self.state.phase,
                                 hint=self.env.masker(exc.hint) if exc.hint else None)

    def _phases(self, dispatch_order: list[int] | None) -> JobSummary:
        if not self.state.setup_complete:
            failure = self._setup()
            if failure is not None:
                return self._stopped("setup", failure)
        if not self.state.map_complete:
            stopped = self._map(dispatch_order)
            if stopped is not None:
                return stopped
        if not self.state.reduce_complete:
            failure = self._reduce()
            if failure is not None:
                return self._stopped("reduce", failure)
        return self._completed()

    # -- phases
    def _setup(self) -> o.StepOutcome | None:
        setup = self.workflow.setup
        steps = setup.steps if setup else ()
        self._phase_started("setup", len(steps))
        ctx = self.ctx
        if setup and setup.timeout:
            ctx = _with_deadline(ctx, setup.timeout)
        failure = run_phase_steps("setup", steps, self.state.setup_steps, self.base_vars, self.store, ctx,
                                  self.reporter, self.events, setup.captures if setup else (), self.governor,
                                  self.conversations)
        if failure is not None:
            return failure
        captures = {k: v for vars_ in self.state.setup_steps.values() for k, v in vars_.items()}
        self.store.append({"t": "setup_done", "captures": _exportable(captures)})
        self._phase_finished("setup")
        return None

    def _map(self, dispatch_order: list[int] | None) -> JobSummary | None:
        spec = self.workflow.map
        assert spec is not None
        variables = {**self.base_vars, **self.state.captures}
        if self.state.item_count is None:  # frozen once: a resume does not read the input again
            from prodigy.workflow.items import InputError, resolve_items

            try:
                work = resolve_items(spec, run_dir=self.ctx.run_dir, variables=variables,
                                     env=self.env.process_env, holds_secret=self.env.masker.holds_secret)
            except InputError as exc:
                raise self._explained(exc) from None
            for warning in work.warnings:
                self.reporter.emit("warning", text=warning)
                self.warnings.append(warning)
            self.store.freeze_items(work.items)
            self.events.emit("items_frozen", count=len(work.items), found=work.found, source=work.source)
        order = dispatch_order if dispatch_order is not None else self.state.indexes("pending", RUNNING)
        override = self.options.extra.get("max_parallel")
        max_parallel = int(override) if override else self._max_parallel(spec.max_parallel, variables)
        self._phase_started("map", self.state.item_count or 0)
        self._set_session(phase="map")
        items = self.store.load_items(set(order))
        coordinator = Coordinator(
            store=self.store, items=items, steps=spec.agent_template, variables=variables,
            policy=self.workflow.error_policy, max_parallel=max_parallel,
            timeout=_seconds(spec.agent_timeout_secs, variables), reporter=self.reporter, events=self.events,
            stop=self.stop, governor=self.governor)
        workspaces = self._agent_workspaces()
        coordinator.tree_for = self._tree_for(workspaces)
        cli = checked(self.ctx.claude_bin)
        coordinator.cli_version = cli.version if cli else None
        coordinator.transcripts = transcript_dir(self.ctx.process_env)
        executor = self._executor(max_parallel, coordinator, workspaces)
        try:
            self._end_remote_orphans(executor)
            self.map_run = coordinator.execute(executor, order)
        finally:
            executor.shutdown()
            for warning in workspaces.drain_warnings() if workspaces else []:
                self._warn(warning, event="worktree_warning")
        if self.map_run.interrupted:
            return self._interrupted("map")
        if self.map_run.agent_stop is not None:
            return self._agent_stopped("map", self.map_run.agent_stop)
        if self.map_run.stopped_by_policy:
            return self._stopped("map", None, error=f"map phase stopped: {self.map_run.stopped_by_policy}")
        numbers = counts(self.state)
        self.store.append({"t": "map_done", **numbers})
        self.events.emit("phase_completed", phase="map", **numbers)
        self.reporter.emit("phase_finished", phase="map", **numbers)
        return None

    def _reduce(self) -> o.StepOutcome | None:
        steps = self.workflow.reduce
        self._phase_started("reduce", len(steps))
        self._set_session(phase="reduce")
        map_vars = MapVariables(self.store, self.state)
        variables = ChainMap(map_vars, self.state.captures, self.base_vars)
        ctx = _with_env(self.ctx, map_vars.env())
        failure = run_phase_steps("reduce", steps, self.state.reduce_steps, variables, self.store, ctx,
                                  self.reporter, self.events, governor=self.governor, notes=self.conversations)
        if failure is not None:
            return failure
        self.store.append({"t": "reduce_done"})
        self._phase_finished("reduce")
        return None

    # -- helpers
    def _executor(self, max_parallel: int, coordinator: Coordinator, workspaces: Any) -> ItemExecutor:
        """The one place the map phase's executor is chosen (--executor)."""
        choice = self.options.extra.get("executor") or {}
        if choice.get("kind") != "dask":
            return LocalExecutor(max_parallel, self.ctx, self.state.job_id, coordinator.record_process,
                                 hook=coordinator.record_progress,
                                 workspaces=workspaces)
        from prodigy.execution.mapreduce.dask_executor import DaskExecutor

        executor = DaskExecutor(choice, max_parallel, self.ctx, self.state.job_id, coordinator.record_process,
                                workspaces=workspaces, env=self.env, steps=coordinator.steps,
                                notify=lambda text: self._warn(text, event="cluster"))
        self.executor = (executor.name, executor.scheduler)
        where = f"a LocalCluster for this run at {executor.scheduler}" if choice.get("local_workers") else (
            f"scheduler {executor.scheduler}")
        transfer = ", commits shipped to the workers as git bundles" if executor.transfer == "git" else ""
        self.reporter.emit("note", text=f"Map phase on Dask: {where}, {executor.workers} worker(s){transfer}.")
        self.events.emit("executor_started", executor=executor.name, scheduler=executor.scheduler,
                         workers=executor.workers, repo_transfer=executor.transfer)
        for warning in executor.warnings:
            self._warn(warning)
        return executor

    def _end_remote_orphans(self, executor: Any) -> None:
        """Commands of a killed run on another host: end them through the cluster before their items re-run."""
        reap = getattr(executor, "reap", None)
        ended = 0
        for index in self.state.indexes(RUNNING):
            proc = self.state.item(index).proc
            if not proc or not _remote_proc(proc):
                continue
            try:
                result = reap(str(proc[3]), int(proc[0]), int(proc[1]), float(proc[2])) if reap else None
            except Exception:  # noqa: BLE001 - an unreachable worker is reported below, not fatal
                result = None
            if result is None:
                self._warn(f"item_{index}'s command (pid {proc[0]}) of the interrupted run may still be running "
                           f"on {proc[3]}; it could not be reached from here (resume with --executor dask and "
                           "that cluster, or end it by hand).")
            ended += bool(result)
        if ended:
            self.reporter.emit("note", text=f"Ended {ended} command(s) of the interrupted run on the cluster.")
            self.events.emit("orphans_reaped", count=ended, where="cluster")

    def _agent_workspaces(self) -> Any:
        """Agent worktrees (with a session worktree); leftovers of an interrupted run are removed first, except
        those of items whose interrupted agent may continue its conversation in them."""
        workspaces = git.agent_workspaces(self.options.worktree, self.state.job_id)
        if workspaces is not None:
            removed = workspaces.sweep(keep=frozenset(self._continuable()))
            if removed:
                self.reporter.emit("note", text=f"Removed {removed} agent worktree(s) left by the interrupted run.")
                self.events.emit("agent_worktrees_removed", count=removed)
        return workspaces

    def _continuable(self) -> list[int]:
        return [index for index, item in self.state.items.items()
                if item.status in ("pending", RUNNING) and item.progress and any(
                    isinstance(part, dict) and part.get("agent") for part in item.progress.get("parts", {}).values())]

    def _tree_for(self, workspaces: Any) -> Any:
        """Where item i's next attempt runs, for checking a conversation's recorded cwd against it."""
        if workspaces is None:
            return lambda index: self.ctx.run_dir
        subdir = workspaces.session.subdir

        def tree(index: int) -> Any:
            path = workspaces.path_for(index)
            return (path / subdir if subdir else path) if path.is_dir() else None

        return tree

    def _explained(self, exc: Any) -> Any:
        """A map input missing from the session worktree but present in the checkout: say why."""
        explain = self.ctx.explain_missing
        missing = explain(self.ctx.run_dir, path=exc.missing) if explain and exc.missing is not None else None
        if missing is None:
            return exc
        return type(exc)(f"{missing.reason} (map input not found: {exc.missing}).", hint=f"{missing.advice}.")

    def _warn(self, text: str, *, event: str = "warning") -> None:
        self.reporter.emit("warning", text=text)
        self.events.emit(event, message=text)
        self.warnings.append(text)

    def _max_parallel(self, value: int | str, variables: dict[str, Any]) -> int:
        if isinstance(value, int):
            return value
        text = render(value, {**self.env.process_env, **variables})
        if not text.strip().isdigit() or int(text) < 1:
            raise UsageError(f"map.max_parallel {value!r} resolved to {text!r}, not a positive integer.",
                             hint="Set the variable in the workflow's env: or the environment.")
        return int(text)

    def _phase_started(self, phase: str, total: int) -> None:
        self.events.emit("phase_started", phase=phase, total=total)
        self.reporter.emit("phase_started", phase=phase, total=total,
                           done=self._done_in(phase),
                           **({"succeeded_before": counts(self.state)["successful"]} if phase == "map" else {}))

    def _done_in(self, phase: str) -> int:
        if phase == "setup":
            return len(self.state.setup_steps)
        if phase == "reduce":
            return len(self.state.reduce_steps)
        return counts(self.state)["successful"] + counts(self.state)["failed"]

    def _phase_finished(self, phase: str) -> None:
        self.events.emit("phase_completed", phase=phase)
        self.reporter.emit("phase_finished", phase=phase)

    def _set_session(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.record, key, value)
        numbers = counts(self.state)
        self.record.progress = {"done": numbers["successful"] + numbers["failed"], "total": numbers["total"],
                                "failed": numbers["failed"], "dlq": numbers["dlq"]}
        sessions.save(self.record)

    def _summary(self, status: str, exit_code: ExitCode, *, error: str | None = None,
                 failure: o.StepOutcome | None = None, failed_phase: str | None = None,
                 hint: str | None = None, stop: Any = None) -> JobSummary:
        setup_total = len(self.workflow.setup.steps) if self.workflow.setup else 0
        return JobSummary(
            session_id=self.record.id, job_id=self.state.job_id, job_dir=str(self.store.folder),
            events_path=str(self.events.path), status=status, phase=self.state.phase, exit_code=int(exit_code),
            duration=0.0, counts=counts(self.state), map_run=self.map_run,
            setup_steps=(len(self.state.setup_steps), setup_total),
            reduce_steps=(len(self.state.reduce_steps), len(self.workflow.reduce)),
            error=error, hint=hint, failure=failure, failed_phase=failed_phase, warnings=self.warnings,
            executor=self.executor[0], scheduler=self.executor[1], agents=self._agents(), stop=stop,
            conversations=self.conversations + (self.map_run.conversations if self.map_run else []),
        )

    def _agents(self) -> dict[str, Any] | None:
        figures = job_spend(self.state)
        if figures is None:
            return None
        return {**figures, "this_run": readable(difference(self.state.spend, self.spend_before))}

    def _finish_session(self, status: str, exit_code: ExitCode, error: str | None) -> None:
        self.store.append({"t": "job_status", "status": status, "error": error})
        self.record.exit_code = int(exit_code)
        self.record.error = error
        self.record.finished_at = now_iso() if status == "completed" else None
        self._set_session(status=status, phase=self.state.phase)

    def _stopped(self, phase: str, failure: o.StepOutcome | None, error: str | None = None) -> JobSummary:
        run_level = failure is not None and failure.failure_kind is not None and failure.failure_kind.run_level
        if failure is not None and (failure.status == o.INTERRUPTED or (run_level and self.stop.requested)):
            return self._interrupted(phase)
        if self.governor.stop is not None and (run_level or failure is None or failure.status == o.SKIPPED):
            return self._agent_stopped(phase, self.governor.stop, failure)
        message = error or f"{phase} failed: {failure.error if failure else 'unknown error'}"
        self.events.emit("phase_failed", phase=phase, error=message)
        self._finish_session("failed", ExitCode.FAILED, self.env.masker(message))
        return self._summary("failed", ExitCode.FAILED, error=message, failure=failure, failed_phase=phase)

    def _agent_stopped(self, phase: str, stop: AgentStop, failure: o.StepOutcome | None = None) -> JobSummary:
        """Stopped, resumably, for a reason outside the work: nothing failed, a plain resume continues."""
        message = self.env.masker(f"{phase} stopped: {stop_summary(stop)}")
        self.events.emit("job_stopped", phase=phase, kind=stop.kind, reason=stop.reason, error=message)
        self._finish_session("interrupted", ExitCode.STOPPED, message)
        return self._summary("stopped", ExitCode.STOPPED, error=message, hint=stop.hint, failed_phase=phase,
                             failure=failure if failure is not None and failure.status != o.SKIPPED else None,
                             stop=stop)

    def _interrupted(self, phase: str) -> JobSummary:
        self.events.emit("job_interrupted", phase=phase, signal=self.stop.signal_name)
        self._finish_session("interrupted", ExitCode.INTERRUPTED, f"interrupted during {phase}")
        return self._summary("interrupted", ExitCode.INTERRUPTED, error=f"interrupted during {phase}")

    def _completed(self) -> JobSummary:
        numbers = counts(self.state)
        status = "completed_with_failures" if numbers["dlq"] else "completed"
        code = ExitCode.DLQ_NOT_EMPTY if numbers["dlq"] else ExitCode.OK
        self._finish_session("completed", code, None)
        return self._summary(status, code)


def _with_deadline(ctx: Any, seconds: float) -> Any:
    return replace(ctx, deadline=time.monotonic() + seconds)


def _with_env(ctx: Any, extra: dict[str, str]) -> Any:
    return replace(ctx, process_env={**ctx.process_env, **extra})


def _seconds(value: float | str | None, variables: dict[str, Any]) -> float | None:
    if value is None or isinstance(value, float):
        return value
    seconds = parse_duration(render(value, variables))
    if seconds is None:
        raise UsageError(f"agent_timeout_secs {value!r} did not resolve to a duration.")
    return seconds


def _exportable(captures: dict[str, Any]) -> dict[str, Any]:
    """Setup captures handed to map and reduce: named captures, not every step's ${shell.output}."""
    return {k: v for k, v in captures.items() if not k.startswith(("shell.", "claude."))}
