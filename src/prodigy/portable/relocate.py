"""`prodigy resume ID -p DIR` when the checkout the session ran in is gone but DIR is a clone of the same
repository (a CI runner that kept PRODIGY_HOME, a re-cloned project): the recorded paths move to DIR, and the
session worktree is recreated from the session branch, taken from the clone or fetched from its remotes.

Without that branch the commits of the completed work are not here, so the resume is refused (nothing is
changed) rather than finishing a session whose merge would silently lack them."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from prodigy import paths
from prodigy.errors import NotFoundError, UsageError
from prodigy.execution.reporter import Reporter
from prodigy.portable.rebase import Prefixes, rebase_checkpoint, rebase_journal, rebase_lines
from prodigy.state import carry, locks, sessions
from prodigy.state.jobs import JobStore
from prodigy.state.sessions import SessionRecord, now_iso


@dataclass(frozen=True)
class Relocated:
    record: SessionRecord
    run_dir: Path


def gone(record: SessionRecord) -> Path | None:
    """The recorded checkout when it no longer exists (None: it is there, or the session has nothing to move)."""
    data = record.extra.get("worktree")
    if data and not data.get("removed_at"):
        root = Path(str(data.get("repo_root", "")))
        return None if root.is_dir() else root
    run_dir = Path(record.run_dir)
    return None if run_dir.is_dir() else run_dir


def relocate_if_moved(record: SessionRecord, run_dir: Path, reporter: Reporter) -> Relocated | None:
    """Move a session whose checkout is gone to the clone run_dir is in. None when nothing has to move."""
    old = gone(record)
    if old is None or not record.resumable:
        return None
    if Path(os.path.abspath(run_dir)) == Path(os.path.abspath(record.run_dir)):
        raise UsageError(f"The checkout session {record.id} ran in is gone: {old}.",
                         hint=f"In a clone of the same repository, resume with: prodigy resume {record.id} -p . "
                         "(its session branch must be in the clone or on its remote; see docs/ci.md). Or export "
                         "the session where it ran (prodigy sessions export) and import it here.")
    with locks.ExecutionLock(record.id, purpose="relocate"):
        record = sessions.load(record.id)
        if record.extra.get("worktree") and not record.extra["worktree"].get("removed_at"):
            return _with_worktree(record, run_dir, reporter)
        return _plain(record, run_dir, reporter)


def _plain(record: SessionRecord, run_dir: Path, reporter: Reporter) -> Relocated:
    old = record.run_dir
    prefixes = Prefixes.of({old: str(run_dir), os.path.realpath(old): str(run_dir)})
    record = _rewrite(record, prefixes, run_dir)
    reporter.emit("note", text=f"The run directory {old} is gone: continuing in {run_dir} (the recorded paths "
                  "were moved there).")
    return Relocated(record, run_dir)


def _with_worktree(record: SessionRecord, run_dir: Path, reporter: Reporter) -> Relocated:
    from prodigy.git.carry import checkout_branch, find_branch, set_aside_stale, worktree_of_branch
    from prodigy.git.repo import is_ancestor, toplevel

    data = record.extra["worktree"]
    old_root, branch, base = str(data["repo_root"]), str(data["branch"]), str(data["original_head"])
    root = toplevel(run_dir)
    if root is None:
        raise UsageError(f"{run_dir} is not in a git repository; session {record.id} ran in a git worktree of "
                         f"{old_root}, which is gone.", hint="Resume it from a clone of that repository: -p CLONE")
    found = find_branch(root, branch)
    if found is None:
        raise UsageError(
            f"Cannot continue session {record.id} in {root}: its branch {branch} is neither in this clone nor on "
            f"its remotes, so the commits of its completed work ({_done(record)}) cannot be recovered here. "
            "Nothing was changed.",
            hint=f"Push the branch from the machine it ran on (git push origin {branch}), or export the session "
            f"there (prodigy sessions export {record.id} -o FILE) and import it here. See docs/ci.md.")
    if not is_ancestor(root, base, branch):
        raise UsageError(f"The branch {branch} in {root} does not descend from commit {base[:12]} the session "
                         f"started from: {root} is not a clone of {old_root}'s repository, or the branch was "
                         "rewritten. Nothing was changed.", hint="Resume from a clone of the session's repository.")
    notes = [f"The checkout {old_root} is gone: continuing in {root} (a clone of the same repository).",
             f"Session branch {branch}: {found.source} (at {found.commit[:12]})."]
    if found.source != "local branch":
        notes.append("Could not recover: commits made on the old machine after the branch was last pushed, and the "
                     "old worktree's uncommitted changes (only what was pushed travels).")
    old_path = Path(str(data["path"]))
    path = paths.session_worktree_dir(record.repo or paths.repo_name(root), record.id)
    notes += [f"Could not recover the old worktree's uncommitted changes through git (its repository is gone); "
              f"its files are kept at {aside}." for aside in set_aside_stale([old_path, path], paths.home())]
    where = worktree_of_branch(root, branch)
    if where is not None and where.resolve() != path.resolve():
        raise UsageError(f"The branch {branch} is checked out at {where}; prodigy needs it in its own worktree "
                         f"{path}.", hint="Switch that checkout to another branch, then resume again.")
    if where is None:
        checkout_branch(root, path, branch)
        notes.append(f"Recreated the session worktree at {path}.")
    mapping = {old_root: str(root), os.path.realpath(old_root): str(root)}
    old_home = old_path.parents[2] if len(old_path.parents) > 2 and old_path.parents[1].name == "worktrees" else None
    if old_home is not None and old_home != paths.home():
        mapping[str(old_home)] = str(paths.home())
    subdir = str(data.get("subdir") or "")
    new_run_dir = root / subdir if subdir else root
    record = _rewrite(record, Prefixes.of(mapping), new_run_dir, worktree_path=path)
    for note in notes:
        reporter.emit("note", text=note)
    return Relocated(record, new_run_dir)


def _rewrite(record: SessionRecord, prefixes: Prefixes, run_dir: Path, *,
             worktree_path: Path | None = None) -> SessionRecord:
    """Every record of the session with its paths moved; process records dropped unless they are this host's."""
    holder = locks.read_holder(record.id) or {}
    drop = holder.get("host") != socket.gethostname()
    data = prefixes.value(record.to_json())
    data["run_dir"] = str(run_dir)
    moved = sessions.from_json(data, paths.session_file(record.id))
    if worktree_path is not None:
        moved.extra["worktree"].update(path=str(worktree_path))
    moved.extra.setdefault("relocated", []).append({"at": now_iso(), "from": record.run_dir, "to": str(run_dir)})
    if record.kind == "workflow":
        from prodigy.state import checkpoints

        checkpoint = checkpoints.load(record.id)
        if checkpoint is not None:
            from dataclasses import asdict

            rebased = rebase_checkpoint(asdict(checkpoint), prefixes, drop_processes=drop)
            checkpoints.save(type(checkpoint)(**rebased))
    elif record.job_id:
        _rewrite_job(record, prefixes, run_dir, drop)
    sessions.save(moved)
    return moved


def _rewrite_job(record: SessionRecord, prefixes: Prefixes, run_dir: Path, drop: bool) -> None:
    from prodigy.state.jobs import find_job_folder

    assert record.job_id is not None
    try:
        folder = find_job_folder(record.job_id, record.repo)
    except NotFoundError:
        return
    meta_data = prefixes.value(carry.read_record_file(folder / "job.json", "job metadata"))
    meta = carry.read_job_meta({**meta_data, "run_dir": str(run_dir)}, folder / "job.json")
    journal_path = JobStore(folder).journal_path
    journal = journal_path.read_bytes() if journal_path.is_file() else b""
    rebased = rebase_journal(journal, prefixes, drop_processes=drop)
    events = paths.events_file(folder.parents[2].name, record.job_id)
    events_data = rebase_lines(events.read_bytes(), prefixes) if events.is_file() else None
    carry.rewrite_job(folder, meta, rebased if rebased != journal else None, events, events_data)


def _done(record: SessionRecord) -> str:
    """How much completed work the journal (or checkpoint) records: what would be lost."""
    try:
        if record.kind == "workflow":
            from prodigy.state import checkpoints

            checkpoint = checkpoints.load(record.id)
            done, total = (len(checkpoint.completed), checkpoint.total_steps) if checkpoint else (0, "?")
            return f"{done} of {total} step(s) done"
        from prodigy.state.jobs import SUCCEEDED, open_store

        state = open_store(str(record.job_id), record.repo).load_state()
        total = state.item_count if state.item_count is not None else "?"
        return f"{state.count(SUCCEEDED)} of {total} item(s) done"
    except Exception:  # noqa: BLE001 - only for the message; a damaged state is reported by the resume itself
        return "its recorded progress"
