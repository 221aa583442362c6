"""Convert one original (a session, or a job without one) into our records, once, through the state package's
writers. The original's files are only read; a conversion record (state/conversions.py) says what was read and
what it became, so the conversion can be checked and redone."""

from __future__ import annotations

import json
import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from prodigy import __version__, paths
from prodigy.errors import LockHeldError, StateError, UsageError, WorkflowFileError
from prodigy.execution import environment
from prodigy.ids import new_job_id
from prodigy.legacy import discover, shapes
from prodigy.legacy import worktree as legacy_worktree
from prodigy.legacy.mapreduce import JobPlan, plan_job
from prodigy.legacy.model import ConversionReport, Original, converted_session_id
from prodigy.legacy.recover import recover
from prodigy.legacy.standard import StandardPlan, plan_standard
from prodigy.state import checkpoints, conversions, sessions
from prodigy.state.cleanup import remove_paths
from prodigy.state.jobs import JobMeta, JobStore, write_mappings
from prodigy.state.locks import ExecutionLock
from prodigy.state.sessions import SessionRecord, now_iso
from prodigy.workflow.load import load_workflow
from prodigy.workflow.model import Workflow


def latest_checkpoint(session_id: str) -> shapes.RustCheckpoint | None:
    """The newest checkpoint by mtime, as the original chose it. A damaged one is an error, not skipped: an
    older file would be another run's."""
    for path in discover.checkpoint_files(session_id):
        return shapes.read_checkpoint(path)
    return None


def resolve_workflow_path(recorded: str | None, *, override: str | None, path: Path | None, worktree: Path | None,
                          original_id: str, mapreduce: bool = False) -> tuple[Path, str]:
    """The workflow file: --workflow; else the recorded path: absolute as it is, relative against --path, the
    current directory (where the original resolved it) and the session worktree, in that order."""
    hint = f"Point resume at it with: prodigy resume {original_id} --workflow PATH"
    if override:
        chosen = Path(override).expanduser().absolute()
        if not chosen.is_file():
            raise WorkflowFileError(f"Workflow file not found: {chosen}", hint="Check the --workflow path.")
        return chosen, "--workflow"
    if not recorded:
        why = ("it records no workflow file for a MapReduce run" if mapreduce else
               "its checkpoint has no workflow_path, or there is no checkpoint")
        raise WorkflowFileError(f"The original prodigy did not record the workflow file of {original_id} ({why}).",
                                hint=hint)
    given = Path(recorded).expanduser()
    tried = [given] if given.is_absolute() else [
        *([path / given] if path else []), Path.cwd() / given, *([worktree / given] if worktree else [])]
    for candidate in tried:
        if candidate.is_file():
            return candidate.absolute(), "recorded path" if given.is_absolute() else f"recorded path, under {candidate.parent}"
    raise WorkflowFileError(
        f"Workflow file not found: {recorded}\nThe workflow file may have been moved or deleted. Looked at:\n  "
        + "\n  ".join(str(p) for p in dict.fromkeys(tried)), hint=hint)


def _original_lock(session_id: str) -> None:
    """resume_locks/{id}.lock is the original's own resume lock (JSON with process_id and hostname)."""
    try:
        data = json.loads(paths.lock_file(session_id).read_bytes())
    except (OSError, ValueError):
        return
    pid = data.get("process_id") if isinstance(data, dict) else None
    host = data.get("hostname")
    if isinstance(pid, int) and psutil.pid_exists(pid) and host in (None, "localhost", socket.gethostname()):
        raise LockHeldError(f"The original prodigy is resuming {session_id} right now (pid {pid} on {host}, since "
                            f"{data.get('acquired_at', '?')}).", hint="Let it finish, or stop it, then try again.")


def _job_stamp(job_id: str | None, session: shapes.RustSession | None) -> datetime:
    if job_id:
        match = re.match(r"^(?:session-)?mapreduce-(\d{8}_\d{6})", job_id)
        if match:
            return datetime.strptime(match.group(1), "%Y%m%d_%H%M%S")
        match = re.match(r"^(?:session-)?mapreduce-(\d{12,14})$", job_id)
        if match:
            return datetime.fromtimestamp(int(match.group(1)) / 1000)
    started = shapes.epoch(session.started_at) if session else None
    return datetime.fromtimestamp(started) if started else datetime.now()


class _Conversion:
    """The analysis, shared by a dry run and a real one; `write` does the rest."""

    def __init__(self, original: Original, *, path: Path | None, workflow_override: str | None,
                 dry_run: bool) -> None:
        self.original, self.path, self.override, self.dry_run = original, path, workflow_override, dry_run
        self.session = original.session
        self.files: list[str] = [str(self.session.path)] if self.session else []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.session_id = converted_session_id(original.key)

    def report(self, **fields: Any) -> ConversionReport:
        base = {"original_id": self.original.key, "named_by": self.original.named_by, "files": tuple(self.files),
                "warnings": tuple(self.warnings), "kind": getattr(self, "kind", "workflow"),
                "original_status": getattr(self, "original_status", "?"), "status": getattr(self, "status", "?")}
        return ConversionReport(**{**base, **fields})

    def analyse(self) -> ConversionReport | None:
        """None when there is something to convert; else the report of why not."""
        original, session = self.original, self.session
        self.checkpoint = latest_checkpoint(original.session_id) if self.session or not original.job_ids else None
        if self.checkpoint is not None:
            self.files.append(str(self.checkpoint.path))
        self.jobs = list(original.job_ids) or (discover.jobs_of_session(session) if session else [])
        if len(self.jobs) > 1:
            raise UsageError(f"Session {original.key} of the original prodigy ran {len(self.jobs)} MapReduce jobs: "
                             f"{', '.join(self.jobs)}.", hint="Resume one of them by its job id: prodigy resume-job "
                             f"{self.jobs[-1]}")
        self.job_files = discover.job_files(self.jobs[0]) if self.jobs else None
        self.recovery = recover(self.job_files) if self.job_files and self.job_files.exists else None
        mapreduce_session = bool(session and (session.session_type == "MapReduce" or session.job_id))
        self.kind = "mapreduce" if mapreduce_session or self.jobs else "workflow"
        self.original_status = session.status if session else (self.checkpoint.status if self.checkpoint else
                                                                "Interrupted")
        self.status = shapes.STATUS_MAP[self.original_status]
        if self.status not in ("completed", "cancelled") and (
                (self.checkpoint is not None and self.checkpoint.status == "Completed" and self.kind == "workflow")
                or (self.recovery is not None and self.recovery.job_completed and session is None)):
            self.status = "completed"
        if self.status in ("completed", "cancelled"):
            action = "nothing_to_resume" if self.status == "completed" else "cancelled"
            return self.report(action=action, original_job_id=self.jobs[0] if self.jobs else None)
        if self.original_status == "Running":
            self.warnings.append("the original recorded this session as Running: if an original prodigy process "
                                 "is still running it, stop that first")
        _original_lock(original.session_id)
        return None

    def locate(self) -> None:
        """The worktree, the run directory, the workflow file."""
        session, recovery = self.session, self.recovery
        wt_path = legacy_worktree.find(self.original.session_id, session.worktree_name if session else None)
        if wt_path is None and recovery is not None and recovery.parent_worktree:
            candidate = Path(recovery.parent_worktree)
            wt_path = candidate if candidate.is_dir() else None
        if wt_path is None and self.job_files is not None:
            for repo in self.job_files.repos:
                wt_path = wt_path or legacy_worktree.find(repo)
        if wt_path is None:
            raise legacy_worktree.missing(self.original.session_id, self.path or Path.cwd())
        self.worktree = legacy_worktree.describe(wt_path, wt_path.name)
        self.run_dir = self.path or Path(self.worktree["repo_root"])
        recorded = self.checkpoint.workflow_path if self.checkpoint else None
        workflow_path, how = resolve_workflow_path(recorded, override=self.override, path=self.path,
                                                   worktree=wt_path, original_id=self.original.key,
                                                   mapreduce=self.kind == "mapreduce" and recorded is None)
        self.workflow: Workflow = load_workflow(workflow_path)
        self.notes.append(f"workflow: {workflow_path} ({how})")
        if self.kind == "mapreduce" and not self.workflow.is_mapreduce:
            raise WorkflowFileError(f"{workflow_path} is a standard workflow, but {self.original.key} ran a MapReduce "
                                    "job in the original prodigy.", hint="Point resume at the MapReduce workflow "
                                    f"with: prodigy resume {self.original.key} --workflow PATH")
        if self.kind == "workflow" and self.workflow.is_mapreduce:
            self.kind = "mapreduce"  # the original stored every run as a Workflow session
        self.job_id = new_job_id(self.session_id, _job_stamp(self.jobs[0] if self.jobs else None, session)) \
            if self.kind == "mapreduce" else None

    def plan(self) -> StandardPlan | JobPlan:
        if self.kind == "workflow":
            return plan_standard(self.checkpoint, self.session, self.workflow)
        return plan_job(self.jobs[0] if self.jobs else None, self.job_files, self.recovery, self.workflow,
                        self._resolve_input)

    def _resolve_input(self) -> tuple[list[Any], str] | None:
        from prodigy.workflow.interpolate import render
        from prodigy.workflow.items import resolve_items

        spec = self.workflow.map
        assert spec is not None
        exec_dir = Path(self.worktree["path"])
        env = environment.build(self.workflow, session_id=self.session_id, run_dir=self.run_dir)
        variables = {**env.variables, **((self.recovery.variables if self.recovery else None) or {})}
        if self.dry_run:
            target = Path(render(spec.input, variables).strip()).expanduser()
            if not (target if target.is_absolute() else exec_dir / target).is_file():
                self.warnings.append("dry run: the map input is a command, not run now; the work list is read and "
                                     "checked when the conversion runs")
                return None
        work = resolve_items(spec, run_dir=exec_dir, variables=variables, env=env.process_env,
                             holds_secret=env.masker.holds_secret)
        self.warnings += work.warnings
        return work.items, work.source


def convert(original: Original, *, path: Path | None = None, workflow_override: str | None = None,
            dry_run: bool = False) -> ConversionReport:
    conv = _Conversion(original, path=path, workflow_override=workflow_override, dry_run=dry_run)
    stopped = conv.analyse()
    if stopped is not None:
        return stopped
    conv.locate()
    plan = conv.plan()
    conv.warnings += plan.warnings
    files = [*conv.files, *getattr(plan, "files", [])]
    conv.files = list(dict.fromkeys(files))
    common = {"kind": conv.kind, "session_id": conv.session_id, "job_id": conv.job_id,
              "original_job_id": conv.jobs[0] if conv.jobs else None, "workflow_path": str(conv.workflow.path),
              "worktree": conv.worktree["path"], "recovered": tuple(conv.notes + plan.recovered),
              "not_recovered": tuple(plan.not_recovered),
              "counts": plan.counts if isinstance(plan, JobPlan) else
              {"steps": plan.total, "done": len(plan.completed), "next": plan.next_step + 1}}
    if dry_run:
        return conv.report(action="would_convert", **common)
    marker = _write(conv, plan, common)
    return conv.report(action="converted", marker=str(marker), **common)


# ---------------------------------------------------------------- writing (our records only)


def _record(conv: _Conversion, marker: Path) -> SessionRecord:
    workflow, session = conv.workflow, conv.session
    return SessionRecord(
        id=conv.session_id, kind=conv.kind, status=conv.status, workflow_path=str(workflow.path),
        workflow_sha256=workflow.sha256, workflow_name=workflow.name, run_dir=str(conv.run_dir),
        created_at=datetime.fromtimestamp(shapes.epoch(session.started_at), UTC).isoformat(timespec="milliseconds")
        if session and shapes.epoch(session.started_at) else now_iso(),
        job_id=conv.job_id, repo=paths.repo_name(conv.run_dir), phase="setup" if conv.kind == "mapreduce" else None,
        error=session.error if session else None,
        extra={"worktree": conv.worktree, "legacy": {
            "original_id": conv.original.key, "original_status": conv.original_status,
            "original_job_id": conv.jobs[0] if conv.jobs else None, "converted_at": now_iso(),
            "conversion_record": str(marker), "prodigy": __version__}},
    )


def _clear_partial(record: SessionRecord) -> None:
    """Our records left by a conversion that stopped before writing its conversion record."""
    found = [paths.session_state_dir(record.id), paths.session_mapping_file(record.id), paths.session_file(record.id)]
    if record.job_id:
        found += [paths.job_dir(record.repo or "", record.job_id), paths.job_mapping_file(record.job_id),
                  paths.events_file(record.repo or "", record.job_id).parent]
    remove_paths(p for p in found if p.exists())


def _write(conv: _Conversion, plan: StandardPlan | JobPlan, common: dict[str, Any]) -> Path:
    marker = paths.conversion_file(conv.original.key)
    record = _record(conv, marker)
    with ExecutionLock(record.id, purpose="convert"):
        if conversions.load(conv.original.key) is not None:
            raise StateError(f"{conv.original.key} was converted by another prodigy process just now.",
                             hint=f"Resume it with: prodigy resume {conv.original.key}")
        _clear_partial(record)
        if isinstance(plan, StandardPlan):
            record.progress = {"done": len(plan.completed), "total": plan.total}
            checkpoints.save(plan.checkpoint(record.id, conv.workflow, conv.status))
        else:
            _write_job(conv, plan, record)
        sessions.save(record)
        fingerprints = [shapes.fingerprint(Path(f)) for f in conv.files if Path(f).is_file()]
        aliases = [a for a in [*conv.jobs, conv.checkpoint.workflow_id if conv.checkpoint else None,
                               conv.session.workflow_id if conv.session else None] if a and discover._safe(a)]
        conversions.save(conv.original.key, {
            "converted_at": now_iso(), "prodigy": __version__, "session_id": record.id, "job_id": record.job_id,
            "repo": record.repo, "kind": conv.kind, "status": conv.status, "original_status": conv.original_status, "files": fingerprints,
            "aliases": aliases, "report": {k: list(v) if isinstance(v, tuple) else v for k, v in common.items()},
            "pid": os.getpid()}, aliases)
    return marker


def _write_job(conv: _Conversion, plan: JobPlan, record: SessionRecord) -> None:
    from prodigy.execution.mapreduce.mapvars import counts

    workflow = conv.workflow
    meta = JobMeta(job_id=record.job_id or "", session_id=record.id, workflow_path=str(workflow.path),
                   workflow_sha256=workflow.sha256, run_dir=record.run_dir, repo=record.repo or "",
                   created_at=now_iso())
    store = JobStore.create(meta, workflow.path.read_text(encoding="utf-8"))
    write_mappings(meta.job_id, record.id, workflow.name)
    try:
        store.append({"t": "legacy_import", "original_id": conv.original.key,
                      "original_job_id": plan.original_job_id, "files": list(conv.files)})
        store.append({"t": "job_status", "status": conv.status})
        if plan.items is not None:
            if plan.setup_done is not None:
                store.append({"t": "setup_done", "captures": plan.setup_done})
            store.freeze_items(plan.items)
            for item_record in plan.records:
                store.append(dict(item_record), sync=False)
            store.sync()
        state = store.state
        assert state is not None
        numbers = counts(state)
        record.phase = state.phase
        record.progress = {"done": numbers["successful"] + numbers["failed"], "total": numbers["total"],
                           "failed": numbers["failed"], "dlq": numbers["dlq"]}
    finally:
        store.close()


# ---------------------------------------------------------------- checking and redoing a conversion


def originals_changed(marker: dict[str, Any]) -> list[str]:
    """The original's files that changed (or went away) since the conversion recorded them."""
    return [Path(entry["path"]).name for entry in marker.get("files", [])
            if isinstance(entry, dict) and "path" in entry and not shapes.unchanged(entry)]


def discard(marker: dict[str, Any]) -> None:
    """Remove what a conversion wrote (our records and the conversion record), so it can run again."""
    session_id = marker.get("session_id")
    original_id = marker["original_id"]
    if isinstance(session_id, str):
        with ExecutionLock(session_id, purpose="redo a conversion"):
            try:
                record = sessions.load(session_id)
            except (StateError, UsageError):
                record = SessionRecord(id=session_id, kind=marker.get("kind", "workflow"), status="interrupted",
                                       workflow_path="", workflow_sha256="", workflow_name="", run_dir="",
                                       job_id=marker.get("job_id"), repo=marker.get("repo"))
            _clear_partial(record)
    conversions.remove(original_id, list(marker.get("aliases", [])))
