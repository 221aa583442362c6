"""A session's files under PRODIGY_HOME, read out for an archive and written back on another machine.

`collect` takes a consistent snapshot without the session's lock, so it works on a running session: the log
folder is listed first, then the small records are read whole, then the append-only files (journal, events) are
cut at the last complete line, the job snapshot before the journal so the journal always reaches its offset.
Agent logs of commands still in flight (which may hold output not yet masked) are left out.

`install` writes an imported session into this home through the state writers, the session record last (a
failure before that leaves no session behind; `remove` takes back what was written). Member names in the
archive are fixed; destinations come from paths.py, never from the archive."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import NotFoundError, StateError
from prodigy.state import cleanup, generated, sessions
from prodigy.state.archive import safe_name
from prodigy.state.atomic import read_json, write_bytes, write_json
from prodigy.state.jobs import RUNNING, JobMeta, JobStore, find_job_folder, write_mappings
from prodigy.state.sessions import SessionRecord

SESSION = "session.json"
CHECKPOINT = "checkpoint.json"
JOB = "job/"
JOB_FILES = ("job.json", "workflow.yml", "items.jsonl", "checkpoint.json", "journal.jsonl")
EVENTS = "events.jsonl"
LOGS = "logs/"
GENERATED = "generated/"
WORKFLOW = "workflow/workflow.yml"


@dataclass
class Member:
    name: str
    data: bytes | None = None
    path: Path | None = None
    size: int | None = None  # with path: archive only this many bytes (a consistent prefix)


@dataclass
class Collected:
    record: SessionRecord
    members: list[Member] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # what was left out, and why
    job_folder: Path | None = None


def collect(session_id: str) -> Collected:
    logs_dir = paths.claude_logs_dir() / session_id
    listed = sorted(p for p in logs_dir.iterdir() if p.is_file()) if logs_dir.is_dir() else []
    record_bytes = _read(paths.session_file(session_id), f"Session not found: {session_id}")
    record = sessions.from_json(_json(record_bytes, paths.session_file(session_id)), paths.session_file(session_id))
    found = Collected(record, [Member(SESSION, record_bytes)])
    in_flight: set[str] = set()
    if record.kind == "workflow":
        checkpoint = paths.checkpoints_dir(session_id) / "checkpoint.json"
        if checkpoint.is_file():
            data = _read(checkpoint, "")
            found.members.append(Member(CHECKPOINT, data))
            flight = _json(data, checkpoint).get("in_flight") or {}
            if isinstance(flight.get("index"), int):
                in_flight.add(f"step{flight['index'] + 1}")
    elif record.job_id:
        in_flight |= _collect_job(found, record)
    if record.status == "running":
        in_flight.add("merge")
    _collect_logs(found, listed, in_flight)
    for path in generated.files_of(record.workflow_path):
        if path.is_file():
            found.members.append(Member(GENERATED + path.name, path.read_bytes()))
    workflow = Path(record.workflow_path)
    if not generated.files_of(workflow) and workflow.is_file():
        found.members.append(Member(WORKFLOW, workflow.read_bytes()))
    elif not workflow.is_file():
        found.excluded.append(f"the workflow file {workflow} (not found on this machine)")
    return found


def _collect_job(found: Collected, record: SessionRecord) -> set[str]:
    assert record.job_id is not None
    try:
        folder = find_job_folder(record.job_id, record.repo)
    except NotFoundError:
        found.excluded.append(f"the job folder of {record.job_id} (never created: the run stopped before its job)")
        return set()
    found.job_folder = folder
    for name in JOB_FILES[:4]:  # the snapshot before the journal: the journal then reaches its offset
        path = folder / name
        if path.is_file():
            found.members.append(Member(JOB + name, path.read_bytes()) if name != "items.jsonl"
                                 else Member(JOB + name, path=path, size=path.stat().st_size))
    journal = folder / "journal.jsonl"
    if journal.is_file():
        found.members.append(Member(JOB + "journal.jsonl", path=journal, size=_whole_lines(journal)))
    events = paths.events_file(folder.parents[2].name, record.job_id)
    if events.is_file():
        found.members.append(Member(EVENTS, path=events, size=_whole_lines(events)))
    state = JobStore(folder).load_state()
    flight = {f"item_{i}" for i, item in state.items.tracked().items() if item.status == RUNNING}
    if state.step_proc:
        flight.add(f"{state.step_proc[0]}{int(state.step_proc[1]) + 1}")
    return flight


def _collect_logs(found: Collected, listed: list[Path], in_flight: set[str]) -> None:
    skipped = 0
    for path in listed:
        label = path.name.rsplit("-", 2)[0] if path.name.count("-") >= 2 else None
        if label is None or label in in_flight or not safe_name(path.name):
            skipped += 1
            continue
        found.members.append(Member(LOGS + path.name, path=path, size=path.stat().st_size))
    if skipped:
        found.excluded.append(f"{skipped} agent log(s) of commands that were still running (their output may "
                              "not be masked yet; those commands run again on resume)")


def _whole_lines(path: Path) -> int:
    """The length of the file up to its last newline: a prefix of whole records, however it grows meanwhile."""
    with open(path, "rb") as handle:
        end = os.fstat(handle.fileno()).st_size
        pos = end
        while pos > 0:
            start = max(0, pos - 65536)
            handle.seek(start)
            chunk = handle.read(pos - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                return start + cut + 1
            pos = start
    return 0


def _read(path: Path, missing: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(missing or f"{path} disappeared while the session was being read.") from None
    except OSError as exc:
        raise StateError(f"Cannot read {path}: {exc.strerror}") from exc


def _json(data: bytes, path: Path) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise StateError(f"{path} is corrupted ({exc}).") from exc
    if not isinstance(value, dict):
        raise StateError(f"{path} is corrupted (expected a JSON object).")
    return value


# ---------------------------------------------------------------- installing


@dataclass
class JobInstall:
    meta: JobMeta
    workflow_text: bytes
    items: bytes | None
    journal: bytes
    snapshot: bytes | None  # None: rebuilt from the journal (it was rewritten, so its offsets moved)


def existing(session_id: str, job_id: str | None, repo: str | None) -> list[Path]:
    """What this home already holds of the session (an import refuses to overwrite it without --replace)."""
    found = [p for p in (paths.session_file(session_id), paths.session_state_dir(session_id),
                         paths.session_mapping_file(session_id)) if p.exists()]
    if job_id:
        found += [p for p in (paths.job_mapping_file(job_id),) if p.exists()]
        try:
            found.append(find_job_folder(job_id, repo))
        except NotFoundError:
            pass
    return found


def install(record: SessionRecord, *, checkpoint: dict[str, Any] | None, job: JobInstall | None,
            events: bytes | None, logs: dict[str, Path], generated_files: dict[str, Path],
            written: list[Path]) -> None:
    """Write an imported session into this home. Every path written is appended to `written` as it goes."""
    sid = record.id
    for name, source in logs.items():
        _write(paths.claude_logs_dir() / sid / _leaf(name), source.read_bytes(), written)
    for name, source in generated_files.items():
        _write(paths.generated_dir() / _leaf(name), source.read_bytes(), written)
    if job is not None:
        folder = paths.job_dir(job.meta.repo, job.meta.job_id)
        written.append(folder)
        write_job(folder, job)
        if events is not None:
            _write(paths.events_file(job.meta.repo, job.meta.job_id), events, written)
        written += [paths.job_mapping_file(job.meta.job_id), paths.session_mapping_file(sid)]
        write_mappings(job.meta.job_id, sid, record.workflow_name)
    if checkpoint is not None:
        from prodigy.state.checkpoints import StandardCheckpoint, save

        written.append(paths.session_state_dir(sid))
        known = StandardCheckpoint.__dataclass_fields__
        save(StandardCheckpoint(**{k: v for k, v in checkpoint.items() if k in known}))
    written.append(paths.session_file(sid))
    sessions.save(record)


def write_job(folder: Path, job: JobInstall) -> None:
    """A job folder's files; the snapshot as given, or rebuilt by folding the journal."""
    store = JobStore(folder)
    write_json(store.meta_path, job.meta.__dict__)
    write_bytes(store.workflow_copy_path, job.workflow_text)
    if job.items is not None:
        write_bytes(store.items_path, job.items)
    write_bytes(store.journal_path, job.journal)
    if job.snapshot is not None:
        write_bytes(store.snapshot_path, job.snapshot)
        return
    store.snapshot_path.unlink(missing_ok=True)
    state = store.load_state()
    store.write_snapshot(state, len(job.journal))


def rewrite_job(folder: Path, meta: JobMeta, journal: bytes | None, events_path: Path,
                events: bytes | None) -> None:
    """A job folder's records moved in place (the caller holds the session lock). The snapshot goes before the
    journal is replaced, so a crash in between leaves the old journal and no snapshot: a full, correct fold."""
    store = JobStore(folder)
    write_json(store.meta_path, meta.__dict__)
    if journal is not None:
        store.snapshot_path.unlink(missing_ok=True)
        write_bytes(store.journal_path, journal)
        store.write_snapshot(store.load_state(), len(journal))
    if events is not None:
        write_bytes(events_path, events)


def read_job_meta(data: dict[str, Any], where: Path) -> JobMeta:
    values = {k: data.get(k) for k in JobMeta.__dataclass_fields__}
    bad = [k for k, v in values.items() if not isinstance(v, str)]
    if bad:
        raise StateError(f"The job metadata {where} is missing fields or has wrong types: {', '.join(bad)}.")
    return JobMeta(**values)  # type: ignore[arg-type]


def read_record_file(path: Path, what: str) -> dict[str, Any]:
    """A JSON record from an extracted archive, with its schema_version checked (newer: refused)."""
    return read_json(path, what=what)


def remove(written: list[Path]) -> None:
    """Take back what an install wrote (a failed import changes nothing)."""
    cleanup.remove_paths(p for p in reversed(written) if p.exists())


def _write(path: Path, data: bytes, written: list[Path]) -> None:
    written.append(path)
    write_bytes(path, data)


def _leaf(name: str) -> str:
    leaf = name.rsplit("/", 1)[-1]
    if not safe_name(leaf) or "/" in leaf:
        raise StateError(f"Refusing the archive member {name!r}: not a plain file name.")
    return leaf
