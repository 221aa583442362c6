"""`prodigy sessions import`: a session archive into this PRODIGY_HOME and a clone of the same repository.

Everything is checked before anything changes (the archive's checksums and schema, its records, that this
repository holds the commit the session started from, that the session is not here already); then the branch
comes out of the bundle, the worktree is recreated and the state is written, the session record last. If any
of that fails, what was done is taken back: a refused or failed import changes nothing."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import StateError, UsageError
from prodigy.ids import SESSION_ID_RE, check_id
from prodigy.portable import import_git
from prodigy.portable.rebase import Prefixes, rebase_checkpoint, rebase_journal, rebase_lines
from prodigy.state import carry, locks, sessions
from prodigy.state.archive import read_archive
from prodigy.state.sessions import SessionRecord, now_iso

GIT_PART = "git"  # the manifest's git section


@dataclass(frozen=True)
class ImportResult:
    session_id: str
    job_id: str | None
    kind: str
    status: str
    run_dir: str
    workflow_path: str
    repo: str | None = None  # the checkout the session continues in
    worktree: str | None = None
    branch: str | None = None
    commits: int = 0
    uncommitted: int = 0
    replaced: bool = False
    resume_command: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Plan:
    record: SessionRecord
    manifest: dict[str, Any]
    files: Path  # the extracted archive
    root: Path | None  # the new checkout's top level (git sessions)
    git: dict[str, Any] | None
    worktree: Path | None
    checkpoint: dict[str, Any] | None = None
    job: carry.JobInstall | None = None
    events: bytes | None = None
    logs: dict[str, Path] = field(default_factory=dict)
    generated: dict[str, Path] = field(default_factory=dict)
    imported_workflow: Path | None = None
    notes: list[str] = field(default_factory=list)


def import_archive(archive: Path, directory: Path, *, replace: bool = False) -> ImportResult:
    directory = Path(os.path.abspath(directory))
    if not directory.is_dir():
        raise UsageError(f"Directory not found: {directory}", hint="Give a clone of the session's repository with -p DIR.")
    with tempfile.TemporaryDirectory(prefix="prodigy-import-") as tmp:
        manifest = read_archive(archive, Path(tmp))
        plan = _plan(manifest, Path(tmp), directory)
        sid = plan.record.id
        with locks.ExecutionLock(sid, purpose="import"):
            found = _existing(plan)
            if found and not replace:
                raise UsageError(f"Session {sid} is already here: {'; '.join(found)}. Nothing was imported.",
                                 hint="It was imported before, or it ran here. To overwrite it with the archive "
                                 "(its state here, its branch and worktree are replaced), add --replace.")
            if found:
                _remove_existing(plan)
            _apply(plan)
    record = plan.record
    return ImportResult(
        session_id=sid, job_id=record.job_id, kind=record.kind, status=record.status, run_dir=record.run_dir,
        workflow_path=record.workflow_path, repo=str(plan.root) if plan.root else None,
        worktree=str(plan.worktree) if plan.worktree else None, branch=(plan.git or {}).get("branch"),
        commits=int((plan.git or {}).get("commits") or 0),
        uncommitted=int(((plan.git or {}).get("uncommitted") or {}).get("files") or 0), replaced=bool(found),
        resume_command=f"prodigy resume {sid}" if record.resumable else None, notes=tuple(plan.notes))


# ---------------------------------------------------------------- checking (nothing changes yet)


def _plan(manifest: dict[str, Any], files: Path, directory: Path) -> _Plan:
    sid = str(manifest.get("session_id"))
    if not SESSION_ID_RE.match(check_id(sid)):
        raise StateError(f"The archive names no valid session (session_id {sid!r}).")
    data = carry.read_record_file(files / carry.SESSION, "session record")
    record = sessions.from_json(data, files / carry.SESSION)
    if record.id != sid:
        raise StateError(f"The archive's session record is {record.id}, its manifest says {sid}.")
    source = manifest.get("source") or {}
    git = manifest.get(GIT_PART) if isinstance(manifest.get(GIT_PART), dict) else None
    root, run_dir = import_git.target(record, git, source, directory, files)
    mapping = {str(source.get("home", "")): str(paths.home()), str(source.get("home_real", "")): str(paths.home())}
    old_root = str(source.get("repo_root") or record.run_dir)
    old_real = str(source.get("repo_root_real") or old_root)
    new_root = str(root) if root else str(run_dir)
    mapping.update({old_root: new_root, old_real: new_root})
    prefixes = Prefixes.of(mapping)
    other_host = manifest.get("host") != socket.gethostname()
    plan = _Plan(record=_rebased_record(data, prefixes, manifest, run_dir), manifest=manifest, files=files,
                 root=root, git=git if git and git.get("worktree") else None, worktree=None)
    if plan.git:
        plan.worktree = Path(plan.record.extra["worktree"]["path"])
    _plan_state(plan, prefixes, drop_processes=other_host)
    _plan_workflow(plan)
    if other_host:
        plan.notes.append(f"exported on {manifest.get('host')}: the records of its running commands name processes "
                          "of that machine and were dropped (nothing here is signalled)")
    return plan


def _rebased_record(data: dict[str, Any], prefixes: Prefixes, manifest: dict[str, Any],
                    run_dir: Path) -> SessionRecord:
    rebased = prefixes.value({k: v for k, v in data.items() if k != "schema_version"})
    rebased["run_dir"] = str(run_dir)
    record = sessions.from_json(rebased, paths.session_file(str(data["id"])))
    status_then = record.status
    if record.status == "running":
        record.status = "interrupted"  # it is not running here; on its old machine it may still be
    worktree = record.extra.get("worktree")
    if isinstance(worktree, dict) and (manifest.get(GIT_PART) or {}).get("worktree"):
        path = Path(worktree.get("path", ""))
        if not path.is_relative_to(paths.home()):
            path = paths.session_worktree_dir(record.repo or paths.repo_name(run_dir), record.id)
        worktree.update(path=str(path), repo_root=prefixes.path(str(worktree.get("repo_root", ""))))
        worktree.pop("removed_at", None)
        worktree.pop("outcome", None)
    record.extra["imported"] = {"at": now_iso(), "from_host": manifest.get("host"),
                                "exported_at": manifest.get("exported_at"), "status_at_export": status_then,
                                "live_at_export": bool(manifest.get("live")),
                                "from_home": (manifest.get("source") or {}).get("home"),
                                "from_repo": (manifest.get("source") or {}).get("repo_root")}
    return record


def _plan_state(plan: _Plan, prefixes: Prefixes, *, drop_processes: bool) -> None:
    files = plan.files
    checkpoint = files / carry.CHECKPOINT
    if checkpoint.is_file():
        plan.checkpoint = rebase_checkpoint(carry.read_record_file(checkpoint, "checkpoint"), prefixes,
                                            drop_processes=drop_processes)
        plan.checkpoint.pop("schema_version", None)
    job = files / carry.JOB
    if (job / "job.json").is_file():
        meta_data = prefixes.value(carry.read_record_file(job / "job.json", "job metadata"))
        meta = carry.read_job_meta({**meta_data, "run_dir": plan.record.run_dir}, job / "job.json")
        if meta.job_id != plan.record.job_id or meta.session_id != plan.record.id:
            raise StateError(f"The archive's job {meta.job_id} does not belong to its session {plan.record.id}.")
        check_id(meta.job_id)
        journal = (job / "journal.jsonl").read_bytes() if (job / "journal.jsonl").is_file() else b""
        rebased = rebase_journal(journal, prefixes, drop_processes=drop_processes)
        snapshot = job / "checkpoint.json"
        plan.job = carry.JobInstall(
            meta=meta, workflow_text=(job / "workflow.yml").read_bytes() if (job / "workflow.yml").is_file() else b"",
            items=(job / "items.jsonl").read_bytes() if (job / "items.jsonl").is_file() else None, journal=rebased,
            snapshot=snapshot.read_bytes() if rebased == journal and snapshot.is_file() else None)
        if (files / carry.EVENTS).is_file():
            plan.events = rebase_lines((files / carry.EVENTS).read_bytes(), prefixes)
    elif plan.record.job_id:
        plan.notes.append("the job had not been created when the session was exported; the resume starts it")
    for folder, target in ((files / carry.LOGS, plan.logs), (files / carry.GENERATED, plan.generated)):
        if folder.is_dir():
            target.update({p.name: p for p in sorted(folder.iterdir()) if p.is_file()})


def _plan_workflow(plan: _Plan) -> None:
    """The workflow at its rebased path; when this checkout lacks it, the copy the archive carries."""
    record = plan.record
    path = Path(record.workflow_path)
    if path.is_file() or (path.parent == paths.generated_dir() and path.name in plan.generated):
        return
    copy = plan.files / carry.WORKFLOW
    if copy.is_file():
        plan.imported_workflow = paths.generated_dir() / f"imported-{record.id}.yml"
        plan.generated[plan.imported_workflow.name] = copy
        plan.notes.append(f"the workflow {path} is not in this checkout: the copy the session ran with is used "
                          f"({plan.imported_workflow})")
        record.workflow_path = str(plan.imported_workflow)
        if plan.job is not None:
            plan.job.meta = type(plan.job.meta)(**{**plan.job.meta.__dict__, "workflow_path": record.workflow_path})
        if plan.checkpoint is not None:
            plan.checkpoint["workflow_path"] = record.workflow_path
    else:
        plan.notes.append(f"the workflow {path} is not in this checkout and not in the archive: resume with "
                          f"--workflow PATH")


def _existing(plan: _Plan) -> list[str]:
    from prodigy.git.repo import branch_exists

    record = plan.record
    found = [str(p) for p in carry.existing(record.id, record.job_id, record.repo)]
    if plan.git and plan.root is not None and branch_exists(plan.root, plan.git["branch"]):
        found.append(f"the branch {plan.git['branch']} in {plan.root}")
    if plan.worktree is not None and plan.worktree.exists():
        found.append(f"the worktree {plan.worktree}")
    return found


# ---------------------------------------------------------------- changing


def _remove_existing(plan: _Plan) -> None:
    """--replace: the session's state here, and its branch and worktree in this repository, go first."""
    from prodigy.git.command import GIT_LOCK
    from prodigy.git.repo import delete_branch, remove_worktree
    from prodigy.state import cleanup
    from prodigy.views.sessions import session_paths

    sid = plan.record.id  # the caller holds the session's lock: no run or resume of it is in progress here
    if sessions.exists(sid):
        old = sessions.load(sid)
        lock = paths.lock_file(sid)
        cleanup.remove_paths(p for p in session_paths(old) if p.exists() and p != lock)
    cleanup.remove_paths(p for p in carry.existing(sid, plan.record.job_id, plan.record.repo) if p.exists())
    cleanup.remove_paths([p for p in [paths.claude_logs_dir() / sid] if p.exists()])
    if plan.git and plan.root is not None:
        from prodigy.git.carry import worktree_of_branch

        with GIT_LOCK:
            for path in {plan.worktree, worktree_of_branch(plan.root, plan.git["branch"])}:
                if path is not None and path != plan.root:
                    problem = remove_worktree(plan.root, Path(path))
                    if problem:
                        raise StateError(problem)
            problem = delete_branch(plan.root, plan.git["branch"])
        if problem:
            raise StateError(problem)


def _apply(plan: _Plan) -> None:
    written: list[Path] = []
    made_branch = made_worktree = False
    try:
        if plan.git and plan.root is not None:
            made_branch = True
            import_git.make_branch(plan.root, plan.files, plan.git, plan.record.id)
            assert plan.worktree is not None
            from prodigy.git.carry import checkout_branch

            made_worktree = True
            checkout_branch(plan.root, plan.worktree, plan.git["branch"])
            note = import_git.restore_uncommitted(plan.root, plan.worktree, plan.git, plan.record.id)
            plan.notes += [note] if note else []
        carry.install(plan.record, checkpoint=plan.checkpoint, job=plan.job, events=plan.events, logs=plan.logs,
                      generated_files=plan.generated, written=written)
    except BaseException:
        carry.remove(written)
        if plan.git and plan.root is not None:
            import_git.undo(plan.root, plan.worktree, plan.git["branch"], plan.record.id, made_branch=made_branch,
                            made_worktree=made_worktree)
        raise


