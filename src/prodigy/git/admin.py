"""`prodigy worktree ls` and `clean`: prodigy's worktrees under PRODIGY_HOME/worktrees, what session each belongs
to, and their removal. The worktree of a running or resumable session is never removed without force."""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import AmbiguousIdError, NotFoundError, StateError
from prodigy.git.repo import (
    branch_exists,
    common_dir,
    count_commits,
    current_branch,
    delete_branch,
    dirty_paths,
    remove_worktree,
)
from prodigy.git.worktree import SessionWorktree, remove_session_worktree
from prodigy.ids import SESSION_ID_RE
from prodigy.state import locks, sessions
from prodigy.state.sessions import RESUMABLE, SessionRecord, now_iso

NO_SESSION = "no session"


@dataclass(frozen=True)
class WorktreeEntry:
    session_id: str
    kind: str  # session | agent
    path: str
    branch: str
    repo: str | None  # the user's checkout it belongs to (None when it cannot be told)
    status: str  # the session's status, or "no session"
    exists: bool
    locked: bool  # a live prodigy process is executing the session
    unmerged: int | None = None  # commits on the branch that its target branch lacks
    uncommitted: int = 0  # changed or untracked files in the worktree

    @property
    def protected(self) -> str | None:
        """Why this worktree must not be removed without --force, or None."""
        if self.locked:
            return "its session is running (a prodigy process holds its lock)"
        if self.kind == "session" and self.status in RESUMABLE:
            return f"its session is resumable (status {self.status}); resume or finish it first"
        return None

    @property
    def orphaned(self) -> bool:
        """No session record; a missing directory; or an agent worktree no running process uses."""
        return self.status == NO_SESSION or not self.exists or (self.kind == "agent" and not self.locked)

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "orphaned": self.orphaned, "protected": self.protected}


def list_worktrees() -> tuple[list[WorktreeEntry], list[str]]:
    from prodigy.legacy.listing import original_rows

    # The original (Rust) prodigy's sessions (read-only), so their worktrees are not taken for orphans.
    originals, _w, original_ids = original_rows()
    records, warnings = sessions.load_all(skip=original_ids)
    by_id = {r.id: r for r in records}
    # A session converted from the original runs in the original's worktree, named by the original's id.
    by_path = {r.extra["worktree"].get("path"): r for r in records if r.extra.get("worktree")}
    original_status = {row.id: row.status for row in originals}
    entries: list[WorktreeEntry] = []
    seen: set[str] = set()
    root = paths.home() / "worktrees"
    for folder in sorted(root.glob("*/*")) if root.is_dir() else []:
        if folder.is_dir() and SESSION_ID_RE.match(folder.name):
            record = by_id.get(folder.name) or by_path.get(str(folder))
            entry = _session_entry(record.id if record else folder.name, folder, record)
            if record is None and folder.name in original_status:
                entry = dataclasses.replace(entry, status=original_status[folder.name])
            entries.append(entry)
            seen.add(str(folder))
        elif folder.is_dir() and folder.name.endswith(".agents") and SESSION_ID_RE.match(folder.name[:-7]):
            record = by_id.get(folder.name[:-7]) or by_path.get(str(folder.with_name(folder.name[:-7])))
            entries += [_agent_entry(record.id if record else folder.name[:-7], child, record)
                        for child in sorted(folder.glob("item_*"))]
    for record in records:  # recorded worktrees whose folder is gone (the branch may remain)
        data = record.extra.get("worktree")
        if data and not data.get("removed_at") and data.get("path") not in seen:
            entries.append(_session_entry(record.id, Path(data["path"]), record))
    return entries, warnings


def _session_entry(session_id: str, folder: Path, record: SessionRecord | None) -> WorktreeEntry:
    data = record.extra.get("worktree") if record else None
    exists = folder.is_dir()
    if data:
        wt = SessionWorktree.from_json(session_id, data)
        repo: Path | None = wt.repo_root
        branch = wt.branch
        unmerged = (count_commits(wt.repo_root, wt.target, wt.branch)
                    if wt.repo_root.is_dir() and branch_exists(wt.repo_root, wt.branch) else None)
    else:
        repo = _repo_of(folder) if exists else None
        branch = (current_branch(folder) if exists else None) or f"prodigy-{session_id}"
        unmerged = None
    return WorktreeEntry(session_id=session_id, kind="session", path=str(folder), branch=branch,
                         repo=str(repo) if repo else None, status=record.status if record else NO_SESSION,
                         exists=exists, locked=locks.is_locked(session_id), unmerged=unmerged,
                         uncommitted=len(dirty_paths(folder)) if exists else 0)


def _agent_entry(session_id: str, folder: Path, record: SessionRecord | None) -> WorktreeEntry:
    data = record.extra.get("worktree") if record else None
    repo = Path(data["repo_root"]) if data else _repo_of(folder)
    branch = f"{data['branch']}-{folder.name}" if data else f"prodigy-{session_id}-{folder.name}"
    return WorktreeEntry(session_id=session_id, kind="agent", path=str(folder),
                         branch=branch, repo=str(repo) if repo else None,
                         status=record.status if record else NO_SESSION, exists=True,
                         locked=locks.is_locked(session_id))


def _repo_of(folder: Path) -> Path | None:
    """The main checkout a linked worktree belongs to (the parent of the common .git folder)."""
    common = common_dir(folder)
    return common.parent if common is not None and common.name == ".git" else None


# ---------------------------------------------------------------- clean


@dataclass(frozen=True)
class CleanPlan:
    remove: list[WorktreeEntry]
    skipped: list[tuple[WorktreeEntry, str]]


@dataclass(frozen=True)
class CleanResult:
    removed: list[WorktreeEntry]
    problems: list[str]


def plan_clean(session_id: str | None = None, *, orphaned: bool = False, force: bool = False) -> CleanPlan:
    entries, _warnings = list_worktrees()
    if session_id is not None:
        entries = _of_session(entries, session_id)
    if orphaned:
        entries = [e for e in entries if e.orphaned]
    remove: list[WorktreeEntry] = []
    skipped: list[tuple[WorktreeEntry, str]] = []
    for entry in entries:
        reason = entry.protected
        if reason and not force:
            skipped.append((entry, reason + "; --force removes it anyway"))
        else:
            remove.append(entry)
    return CleanPlan(remove=remove, skipped=skipped)


def _of_session(entries: list[WorktreeEntry], session_id: str) -> list[WorktreeEntry]:
    matching = sorted({e.session_id for e in entries if e.session_id.startswith(session_id)})
    if not matching:
        raise NotFoundError(f"No prodigy worktree belongs to a session {session_id!r}.",
                            hint="List them with: prodigy worktree ls")
    if len(matching) > 1 and session_id not in matching:
        raise AmbiguousIdError(session_id, matching)
    chosen = session_id if session_id in matching else matching[0]
    return [e for e in entries if e.session_id == chosen]


def apply_clean(plan: CleanPlan) -> CleanResult:
    """Agents first, then sessions; each removal is independent, and a failure is reported, not raised."""
    problems: list[str] = []
    removed: list[WorktreeEntry] = []
    for entry in sorted(plan.remove, key=lambda e: e.kind != "agent"):
        found = _remove(entry)
        problems += found
        if not found:
            removed.append(entry)
    return CleanResult(removed=removed, problems=problems)


def _remove(entry: WorktreeEntry) -> list[str]:
    path = Path(entry.path)
    repo = Path(entry.repo) if entry.repo and Path(entry.repo).is_dir() else None
    if repo is None:  # not attached to any repository we can find: only the folder is left
        shutil.rmtree(path, ignore_errors=True)
        return [f"could not remove {path}"] if path.exists() else []
    if entry.kind == "agent":
        problems = [p for p in (remove_worktree(repo, path), delete_branch(repo, entry.branch)) if p]
        if path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()
        return problems
    record = _record(entry.session_id)
    data = record.extra.get("worktree") if record else None
    wt = (SessionWorktree.from_json(entry.session_id, data) if data else
          SessionWorktree(entry.session_id, repo, path, entry.branch, None, "", ""))
    problems = remove_session_worktree(wt, force_branch=True)
    if record is not None and data is not None and not problems:
        data["removed_at"] = now_iso()
        sessions.save(record)
    return problems


def _record(session_id: str) -> SessionRecord | None:
    try:
        return sessions.load(session_id)
    except (NotFoundError, StateError):
        return None
