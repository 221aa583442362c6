"""`prodigy sessions export`: one archive with everything another machine needs to finish a session.

Order matters for a session that is still running: its state is read first and its git branch after, so every
step or item the state calls done has its commits in the bundle (an item merged after the state was read is
found by its merge commit on resume and not run again)."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy import __version__, paths
from prodigy.errors import StateError
from prodigy.state import carry, locks
from prodigy.state.archive import ArchiveWriter
from prodigy.state.sessions import SessionRecord, now_iso

BUNDLE = "git/session.bundle"
WIP_REF = "refs/prodigy/export/{sid}"


@dataclass(frozen=True)
class ExportResult:
    session_id: str
    job_id: str | None
    kind: str
    status: str
    archive: str
    size: int
    files: int
    live: bool  # the session was running while it was exported
    branch: str | None = None
    commits: int = 0  # commits on the session branch since it started (carried in the bundle)
    uncommitted: int = 0  # changed files of the session worktree, carried as a commit of their own
    excluded: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def export_session(session_id: str, out: Path, *, logs: bool = True) -> ExportResult:
    """Write the archive of a session (already resolved to its full id) to `out`."""
    live = locks.is_locked(session_id)
    collected = carry.collect(session_id)
    record = collected.record
    excluded = list(collected.excluded)
    if not logs:
        kept = [m for m in collected.members if not m.name.startswith(carry.LOGS)]
        if len(kept) != len(collected.members):
            excluded.append(f"{len(collected.members) - len(kept)} agent log(s) (--no-logs)")
        collected.members[:] = kept
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="prodigy-export-") as tmp:
        git_part, bundle = _git_part(record, Path(tmp), notes)
        manifest = _manifest(record, live, git_part, excluded)
        with ArchiveWriter(out) as writer:
            for member in collected.members:
                if member.data is not None:
                    writer.add_bytes(member.name, member.data)
                else:
                    assert member.path is not None
                    writer.add_file(member.name, member.path, member.size)
            if bundle is not None:
                writer.add_file(BUNDLE, bundle)
            info = writer.finish(manifest)
    git_info = git_part or {}
    return ExportResult(session_id=record.id, job_id=record.job_id, kind=record.kind, status=record.status,
                        archive=str(info.path), size=info.size, files=info.files, live=live,
                        branch=git_info.get("branch"), commits=int(git_info.get("commits") or 0),
                        uncommitted=int((git_info.get("uncommitted") or {}).get("files") or 0),
                        excluded=tuple(excluded), notes=tuple(notes))


def _manifest(record: SessionRecord, live: bool, git_part: dict[str, Any] | None,
              excluded: list[str]) -> dict[str, Any]:
    home = paths.home()
    worktree = record.extra.get("worktree") or {}
    root = worktree.get("repo_root") or (git_part or {}).get("toplevel") or record.run_dir
    return {
        "session_id": record.id, "job_id": record.job_id, "kind": record.kind, "status": record.status,
        "workflow_name": record.workflow_name, "exported_at": now_iso(), "prodigy_version": __version__,
        "host": socket.gethostname(), "live": live,
        "source": {"home": str(home), "home_real": os.path.realpath(home), "repo_root": str(root),
                   "repo_root_real": os.path.realpath(root), "run_dir": record.run_dir,
                   "workflow_path": record.workflow_path},
        "git": git_part,
        "excluded": excluded + ["secrets and the environment (a resume takes them from its own environment)",
                                "execution locks and crash logs"],
    }


def _git_part(record: SessionRecord, tmp: Path, notes: list[str]) -> tuple[dict[str, Any] | None, Path | None]:
    """What the manifest says about git, and the bundle file (None when there are no commits to carry)."""
    from prodigy.git import bundle as bundles
    from prodigy.git import carry as gitcarry
    from prodigy.git.command import GitError
    from prodigy.git.repo import branch_exists, count_commits, head_of, toplevel

    data = record.extra.get("worktree")
    if not data:
        try:
            top = toplevel(Path(record.run_dir)) if Path(record.run_dir).is_dir() else None
        except GitError:
            top = None
        if top is None:
            return None, None
        return {"worktree": False, "toplevel": str(top), "roots": list(gitcarry.root_commits(top))}, None
    repo, path, branch, base = (Path(data["repo_root"]), Path(data["path"]), data["branch"],
                                data["original_head"])
    where = path if path.is_dir() and toplevel(path) == path.resolve() else repo
    if not where.is_dir() or not branch_exists(where, branch):
        if record.resumable:
            raise StateError(f"Cannot export session {record.id}: its branch {branch} is gone from {repo}, so the "
                             "commits of its completed work cannot travel.",
                             hint="The session cannot be resumed anywhere; start a new run with prodigy run.")
        notes.append(f"the session branch {branch} no longer exists (the session {record.status}); "
                     "only its records are exported")
        return {"worktree": False, "branch_gone": branch, "roots": []}, None
    if where == repo and path != repo:
        notes.append(f"the session worktree {path} is gone; its branch {branch} is exported")
    wip = gitcarry.snapshot_uncommitted(where, f"prodigy: uncommitted changes of {record.id}") if where == path \
        else gitcarry.Uncommitted(None, 0)
    if wip.skipped:
        notes.append(f"{wip.files} uncommitted file(s) in {path} were not exported: {wip.skipped}")
    ref = WIP_REF.format(sid=record.id)
    refs = [f"refs/heads/{branch}"]
    try:
        if wip.commit:
            gitcarry.set_ref(where, ref, wip.commit)
            refs.append(ref)
        made = bundles.create(where, tmp / "session.bundle", refs, exclude=(base,))
    finally:
        if wip.commit:
            gitcarry.delete_ref(where, ref)
    tip = head_of(where, f"refs/heads/{branch}")
    part = {"worktree": True, "branch": branch, "base": base, "tip": tip,
            "original_branch": data.get("original_branch"), "subdir": data.get("subdir", ""),
            "commits": count_commits(where, base, branch), "roots": list(gitcarry.root_commits(where)),
            "bundle": BUNDLE if made else None,
            "uncommitted": {"ref": ref, "commit": wip.commit, "files": wip.files} if wip.commit else None}
    return part, made.path if made else None
