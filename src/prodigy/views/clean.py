"""`prodigy clean all|worktrees|sessions|logs|state|events|dlq`: what belongs to finished sessions (completed or
cancelled, idle for --older-than) and can go, and what is kept and why. The state of a resumable session
(running with no live process, interrupted, failed) and a completed job's non-empty DLQ are kept unless
force is given; a session whose lock is held is never touched. Removal goes through state/cleanup, the
session's own lock, git's worktree removal and the journal's dlq_purge record."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import LockHeldError, NotFoundError, StateError
from prodigy.ids import JOB_ID_RE
from prodigy.resume.plan import retry_command
from prodigy.resume.resolve import Target
from prodigy.state import cleanup, locks, sessions
from prodigy.state.jobs import find_job_folder
from prodigy.state.sessions import RESUMABLE, SessionRecord, now_iso
from prodigy.views import sessions as session_views
from prodigy.views.common import age_seconds, job_ref

TARGETS = ("all", "worktrees", "sessions", "logs", "state", "events", "dlq")


@dataclass(frozen=True)
class Removal:
    what: str  # worktree | session | state | logs | events | dlq | crash-log
    session_id: str | None
    status: str | None
    paths: tuple[str, ...]
    size: int  # bytes on disk
    detail: str = ""  # what is lost ("3 unmerged commit(s) on prodigy-session-..."), how many DLQ items ...


@dataclass(frozen=True)
class Kept:
    what: str
    session_id: str | None
    reason: str


@dataclass(frozen=True)
class CleanPlan:
    target: str
    older_than: float
    force: bool
    remove: tuple[Removal, ...]
    kept: tuple[Kept, ...]

    @property
    def size(self) -> int:
        return sum(r.size for r in self.remove)


@dataclass(frozen=True)
class CleanResult:
    removed: tuple[Removal, ...]
    skipped: tuple[tuple[Removal, str], ...]


def _size(targets: list[Path]) -> int:
    total = 0
    for target in targets:
        if target.is_file():
            total += target.stat().st_size
        elif target.is_dir():
            for folder, _dirs, files in os.walk(target):
                total += sum((Path(folder) / f).stat().st_size for f in files if (Path(folder) / f).is_file())
    return total


def _existing(targets: list[Path]) -> list[Path]:
    return [p for p in dict.fromkeys(targets) if p.exists()]


def keep_reason(record: SessionRecord, *, older_than: float, force: bool, now: float,
                dlq_matters: bool = False) -> str | None:
    """Why a session's things stay, or None when they may go."""
    if locks.is_locked(record.id):
        return "in progress (a prodigy process holds its lock)"
    age = age_seconds(record.updated_at, now) or 0.0
    if age < older_than:
        return "idle for less than --older-than"
    if record.status in RESUMABLE and not force:
        return f"resumable ({record.status}): resume it with prodigy resume {record.id}, or pass -f to remove it"
    dlq = int(record.progress.get("dlq") or 0)
    if dlq_matters and dlq and not force:
        return (f"its dead-letter queue has {dlq} item(s): retry them ({retry_command(record.job_id)}) "
                "or pass -f")
    return None


def plan_clean(target: str, *, older_than: float, force: bool = False, now: float | None = None) -> CleanPlan:
    now = time.time() if now is None else now
    from prodigy.legacy.discover import original_session_ids

    records, _warnings = sessions.load_all(skip=set(original_session_ids()))  # not the original (Rust) prodigy's
    remove: list[Removal] = []
    kept: list[Kept] = []
    kinds = ("worktrees", "sessions") if target == "all" else (target,)  # a session's removal has its logs
    for kind in kinds:
        if kind == "worktrees":
            _worktrees(records, older_than, force, now, remove, kept)
            continue
        for record in records:
            reason = keep_reason(record, older_than=older_than, force=force, now=now,
                                 dlq_matters=kind in ("sessions", "state", "dlq"))
            removal = None if reason else _session_removal(kind, record)
            if reason:
                if _has_any(kind, record):
                    kept.append(Kept(kind, record.id, reason))
            elif removal is not None:
                remove.append(removal)
    if target in ("logs", "all"):
        remove += _crash_logs(older_than, now)
    if target == "all":
        remove += _orphans(records, older_than, now)
    return CleanPlan(target=target, older_than=older_than, force=force, remove=tuple(remove), kept=tuple(kept))


def _job_folder(record: SessionRecord) -> Path | None:
    if not record.job_id:
        return None
    try:
        return find_job_folder(record.job_id, record.repo)
    except NotFoundError:
        return None


def _events_dir(record: SessionRecord) -> Path | None:
    folder = _job_folder(record)
    repo = folder.parents[2].name if folder is not None else (record.repo or "")
    return paths.events_file(repo, record.job_id).parent if record.job_id and repo else None


def _session_paths(kind: str, record: SessionRecord) -> list[Path]:
    agent_logs = paths.claude_logs_dir() / record.id
    if kind == "sessions":
        return [*session_views.session_paths(record), agent_logs]
    if kind == "state":
        return [p for p in (paths.session_state_dir(record.id), _job_folder(record)) if p is not None]
    if kind == "logs":
        return [agent_logs]
    if kind == "events":
        return [p for p in (_events_dir(record),) if p is not None]
    return []


def _has_any(kind: str, record: SessionRecord) -> bool:
    if kind == "dlq":
        return bool(record.progress.get("dlq"))
    return bool(_existing(_session_paths(kind, record)))


def _session_removal(kind: str, record: SessionRecord) -> Removal | None:
    if kind == "dlq":
        dlq = int(record.progress.get("dlq") or 0)
        if not dlq or not record.job_id:
            return None
        return Removal("dlq", record.id, record.status, (), 0,
                       f"{dlq} DLQ item(s) of {record.job_id} purged (recorded in its journal)")
    found = _existing(_session_paths(kind, record))
    if not found or (kind == "sessions" and paths.session_file(record.id) not in found):
        return None
    return Removal("session" if kind == "sessions" else kind, record.id, record.status,
                   tuple(str(p) for p in found), _size(found))


def _worktrees(records: list[SessionRecord], older_than: float, force: bool, now: float,
               remove: list[Removal], kept: list[Kept]) -> None:
    from prodigy.git.admin import list_worktrees

    by_id = {r.id: r for r in records}
    entries, _warnings = list_worktrees()
    for entry in entries:
        record = by_id.get(entry.session_id)
        reason = None
        if entry.locked:
            reason = "in progress (a prodigy process holds its lock)"
        elif record is not None and entry.kind == "session":
            reason = keep_reason(record, older_than=older_than, force=force, now=now)
        elif record is None and entry.status in RESUMABLE and not force:  # a session of the original (Rust) prodigy
            reason = f"a resumable session of the original prodigy: resume it with prodigy resume {entry.session_id}"
        elif record is None and entry.exists and time.time() - Path(entry.path).stat().st_mtime < older_than:
            reason = "no session record, but changed less than --older-than ago"
        if reason:
            kept.append(Kept("worktree", entry.session_id, f"{entry.path}: {reason}"))
            continue
        losses = [f"{entry.unmerged} unmerged commit(s) on {entry.branch}" if entry.unmerged else "",
                  f"{entry.uncommitted} uncommitted file(s)" if entry.uncommitted else ""]
        detail = " and ".join(x for x in losses if x)
        remove.append(Removal("worktree", entry.session_id, entry.status, (entry.path,),
                              _size([Path(entry.path)]) if entry.exists else 0,
                              f"{entry.kind} worktree; " + (f"{detail} will be lost" if detail else "nothing unmerged")))


def _crash_logs(older_than: float, now: float) -> list[Removal]:
    folder = paths.crash_logs_dir()
    found = [p for p in sorted(folder.glob("crash-*.log")) if now - p.stat().st_mtime >= older_than] \
        if folder.is_dir() else []
    return [Removal("crash-log", None, None, (str(p),), p.stat().st_size) for p in found]


def _orphans(records: list[SessionRecord], older_than: float, now: float) -> list[Removal]:
    """Leftovers of sessions whose record is gone: agent logs, job folders, events, generated workflows."""
    known = {r.id for r in records}
    referenced = {r.workflow_path for r in records}
    found: list[Path] = []
    logs = paths.claude_logs_dir()
    found += [p for p in logs.glob("session-*") if p.name not in known] if logs.is_dir() else []
    state = paths.home() / "state"
    # Only job ids of ours (mapreduce-<time>_session-<uuid>): the original (Rust) prodigy's job folders are its
    # records, which this prodigy never removes (docs/migrating.md).
    for folder in state.glob("*/mapreduce/jobs/mapreduce-*") if state.is_dir() else []:
        if JOB_ID_RE.match(folder.name) and folder.name.rsplit("_", 1)[-1] not in known:
            found.append(folder)
    events = paths.home() / "events"
    for folder in events.glob("*/mapreduce-*") if events.is_dir() else []:
        if JOB_ID_RE.match(folder.name) and folder.name.rsplit("_", 1)[-1] not in known:
            found.append(folder)
    generated = paths.generated_dir()
    for path in generated.glob("*.yml") if generated.is_dir() else []:
        if str(path) not in referenced:
            found += [path, path.with_name(f"{path.stem}.items.json")]
    old = [p for p in _existing(found) if now - p.stat().st_mtime >= older_than]
    return [Removal("orphan", None, None, (str(p),), _size([p]), "no session record refers to it") for p in old]


# ---------------------------------------------------------------- apply


def apply_clean(plan: CleanPlan) -> CleanResult:
    """Worktrees first (they need the session records), then the rest; each under its session's lock, with the
    session's status checked again. A failure is reported for that entry and the others go on."""
    removed: list[Removal] = []
    skipped: list[tuple[Removal, str]] = []
    for item in sorted(plan.remove, key=lambda r: r.what != "worktree"):
        try:
            problem = _apply(item, plan)
        except LockHeldError:
            problem = "in progress (its lock is held)"
        except (StateError, NotFoundError, OSError) as exc:
            problem = str(exc).splitlines()[0]
        if problem:
            skipped.append((item, problem))
        else:
            removed.append(item)
    return CleanResult(removed=tuple(removed), skipped=tuple(skipped))


def _apply(item: Removal, plan: CleanPlan) -> str | None:
    if item.what == "worktree":
        from prodigy.git.admin import CleanPlan as WorktreePlan
        from prodigy.git.admin import apply_clean as remove_worktrees
        from prodigy.git.admin import list_worktrees

        entries = [e for e in list_worktrees()[0] if e.path == item.paths[0]]
        if not entries:
            return None  # already gone
        result = remove_worktrees(WorktreePlan(remove=entries, skipped=[]))
        return "; ".join(result.problems) or None
    if item.session_id is None:
        cleanup.remove_paths(Path(p) for p in item.paths)
        return None
    if item.what == "session":
        candidate = session_views.CleanCandidate(id=item.session_id, kind="", status=item.status or "",
                                                 workflow="", age_seconds=0.0, paths=item.paths)
        result = session_views.apply_clean(session_views.CleanPlan(plan.older_than, (), (candidate,), {}))
        return result.skipped[0][1] if result.skipped else None
    with locks.ExecutionLock(item.session_id, purpose=f"clean {item.what}"):
        record = sessions.load(item.session_id)
        if record.status != item.status:
            return f"its status changed to {record.status}"
        if item.what == "dlq":
            from prodigy.views.dlq import purge_held

            purge_held(job_ref(Target(record, record.job_id, "session record")))
            return None
        cleanup.remove_paths(Path(p) for p in item.paths)
        if item.what == "state":
            record.extra["state_removed_at"] = now_iso()
            sessions.save(record)
    return None


def summary_json(plan: CleanPlan, result: CleanResult | None, dry_run: bool) -> dict[str, Any]:
    import dataclasses

    return {
        "target": plan.target, "dry_run": dry_run, "older_than_seconds": plan.older_than, "force": plan.force,
        "remove": [dataclasses.asdict(r) for r in plan.remove], "bytes": plan.size,
        "kept": [dataclasses.asdict(k) for k in plan.kept],
        "removed": [dataclasses.asdict(r) for r in result.removed] if result else [],
        "skipped": [{**dataclasses.asdict(r), "reason": why} for r, why in result.skipped] if result else [],
    }
