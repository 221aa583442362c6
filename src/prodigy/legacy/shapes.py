"""The original (Rust) prodigy's records, recognised by their shape and read into frozen values.

Each reader checks the fields it relies on and raises LegacyFormatError naming the file and the field for
anything else (exit 6); fields the original added later with serde defaults may be missing. Nothing here
writes: the originals are only ever read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prodigy.errors import StateError

SESSION_STATUSES = ("Initializing", "Running", "Paused", "Completed", "Failed", "Cancelled")
CHECKPOINT_STATUSES = ("Running", "Paused", "Completed", "Failed", "Interrupted")
# The original's statuses as ours: anything that stopped without finishing is resumable.
STATUS_MAP = {"Initializing": "interrupted", "Running": "interrupted", "Paused": "interrupted",
              "Interrupted": "interrupted", "Failed": "failed", "Completed": "completed", "Cancelled": "cancelled"}


class LegacyFormatError(StateError):
    """A file of the original prodigy that does not have the shape its code writes (exit 6)."""


def _problem(path: Path, what: str, field: str, problem: str) -> LegacyFormatError:
    return LegacyFormatError(
        f"The original prodigy's {what} {path} has an unexpected shape: field `{field}` {problem}.",
        hint="Nothing was changed. If the file was damaged, restore it from a backup; if it is intact, "
             "please report it (with the file) so this shape can be read.")


def read_json_file(path: Path, what: str) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LegacyFormatError(f"Cannot read the original prodigy's {what} {path}: {exc.strerror}.") from exc
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LegacyFormatError(f"The original prodigy's {what} {path} is not valid JSON ({exc}).",
                                hint="Nothing was changed. The file may have been truncated by a crash; "
                                     "restore it from a backup to resume this session.") from exc


class _Fields:
    """Typed access to one JSON object, with errors that name the file and the dotted field."""

    def __init__(self, data: Any, path: Path, what: str, prefix: str = "") -> None:
        if not isinstance(data, dict):
            raise _problem(path, what, prefix or "(top level)", f"should be an object, not {_kind(data)}")
        self.data, self.path, self.what, self.prefix = data, path, what, prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(self, key: str, types: type | tuple[type, ...], *, required: bool = False, default: Any = None) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise _problem(self.path, self.what, self.name(key), "is missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise _problem(self.path, self.what, self.name(key), f"should be {_names(types)}, not a boolean")
        if not isinstance(value, types):
            raise _problem(self.path, self.what, self.name(key), f"should be {_names(types)}, not {_kind(value)}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], *, required: bool = True) -> str | None:
        value = self.get(key, str, required=required)
        if value is not None and value not in allowed:
            raise _problem(self.path, self.what, self.name(key), f"is {value!r}, not one of {', '.join(allowed)}")
        return value

    def sub(self, key: str, *, required: bool = False) -> _Fields | None:
        value = self.get(key, dict, required=required)
        return None if value is None else _Fields(value, self.path, self.what, self.name(key))

    def duration(self, key: str) -> float | None:
        """std::time::Duration ({secs, nanos}), chrono's [secs, nanos], or plain seconds."""
        value = self.data.get(key)
        if value is None:
            return None
        seconds = duration_seconds(value)
        if seconds is None:
            raise _problem(self.path, self.what, self.name(key), f"should be a duration, not {_kind(value)}")
        return seconds


def duration_seconds(value: Any) -> float | None:
    """A duration as the original wrote it: std::time::Duration ({secs, nanos}), chrono's [secs, nanos], or
    plain seconds; None for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict) and isinstance(value.get("secs"), int):
        return value["secs"] + (value.get("nanos") or 0) / 1e9
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0] + value[1] / 1e9
    return None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _names(types: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", dict: "an object", list: "a list",
             bool: "a boolean"}
    return " or ".join(names.get(t, t.__name__) for t in (types if isinstance(types, tuple) else (types,)))


def epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def fingerprint(path: Path) -> dict[str, Any]:
    """Enough to tell later whether an original changed: sha256 of small files, size and mtime of big ones."""
    stat = path.stat()
    entry: dict[str, Any] = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if stat.st_size <= 8 * 1024 * 1024:
        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return entry


def unchanged(entry: dict[str, Any]) -> bool:
    path = Path(entry["path"])
    try:
        now = fingerprint(path)
    except OSError:
        return False
    if "sha256" in entry or "sha256" in now:
        return now.get("sha256") == entry.get("sha256")
    return (now["size"], now["mtime_ns"]) == (entry["size"], entry["mtime_ns"])


# ---------------------------------------------------------------- UnifiedSession: sessions/{id}.json


def looks_like_session(data: Any) -> bool:
    """A UnifiedSession of the original, not one of our session records (which have kind and schema_version)."""
    return isinstance(data, dict) and "session_type" in data and "kind" not in data and "schema_version" not in data


@dataclass(frozen=True)
class RustSession:
    path: Path
    id: str
    session_type: str  # Workflow | MapReduce
    status: str
    started_at: str | None
    updated_at: str | None
    error: str | None
    workflow_name: str | None
    workflow_id: str | None
    current_step: int | None
    total_steps: int | None
    completed_steps: tuple[int, ...]
    variables: dict[str, Any]
    worktree_name: str | None
    job_id: str | None  # mapreduce_data.job_id
    mr_total: int | None
    mr_processed: int | None
    mr_failed: int | None
    mr_phase: str | None
    has_workflow_data: bool

    @property
    def our_status(self) -> str:
        return STATUS_MAP[self.status]


def read_session(path: Path) -> RustSession:
    what = "session record"
    f = _Fields(read_json_file(path, what), path, what)
    session_id = f.get("id", str, required=True)
    if session_id != path.stem:
        raise _problem(path, what, "id", f"is {session_id!r} but the file is named {path.name}")
    wd = f.sub("workflow_data")
    mr = f.sub("mapreduce_data")
    completed: tuple[int, ...] = ()
    if wd is not None:
        steps = wd.get("completed_steps", list, default=[])
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in steps):
            raise _problem(path, what, "workflow_data.completed_steps", "should be a list of step indexes")
        completed = tuple(sorted(set(steps)))
    variables = wd.get("variables", dict, default={}) if wd else {}
    return RustSession(
        path=path, id=session_id, session_type=f.choice("session_type", ("Workflow", "MapReduce")) or "Workflow",
        status=f.choice("status", SESSION_STATUSES) or "Paused", started_at=f.get("started_at", str),
        updated_at=f.get("updated_at", str), error=f.get("error", str),
        workflow_name=wd.get("workflow_name", str) if wd else None,
        workflow_id=wd.get("workflow_id", str) if wd else None,
        current_step=wd.get("current_step", int) if wd else None,
        total_steps=wd.get("total_steps", int) if wd else None, completed_steps=completed,
        variables=dict(variables), worktree_name=wd.get("worktree_name", str) if wd else None,
        job_id=mr.get("job_id", str, required=True) if mr else None,
        mr_total=mr.get("total_items", int) if mr else None, mr_processed=mr.get("processed_items", int) if mr else None,
        mr_failed=mr.get("failed_items", int) if mr else None,
        mr_phase=mr.choice("phase", ("Setup", "Map", "Reduce", "Complete"), required=False) if mr else None,
        has_workflow_data=wd is not None,
    )


# ---------------------------------------------------------------- WorkflowCheckpoint: state/{id}/checkpoints/


@dataclass(frozen=True)
class RustStep:
    index: int
    success: bool
    command: str | None
    output: str | None
    captured: dict[str, Any]
    duration: float | None


@dataclass(frozen=True)
class RustCheckpoint:
    path: Path
    workflow_id: str
    status: str  # execution_state.status
    current_step_index: int
    total_steps: int
    steps: tuple[RustStep, ...]
    variables: dict[str, Any]
    workflow_path: str | None
    workflow_name: str | None
    version: int

    @property
    def our_status(self) -> str:
        return STATUS_MAP[self.status]


def read_checkpoint(path: Path) -> RustCheckpoint:
    what = "workflow checkpoint"
    f = _Fields(read_json_file(path, what), path, what)
    version = f.get("version", int, default=1)
    if version > 1:
        raise LegacyFormatError(f"The original prodigy's workflow checkpoint {path} has version {version}; "
                                "this prodigy reads version 1 (the only one the original wrote).")
    state = f.sub("execution_state", required=True)
    assert state is not None
    steps = []
    raw_steps = f.get("completed_steps", list, required=True)
    for n, raw in enumerate(raw_steps):
        step = _Fields(raw, path, what, f"completed_steps[{n}]")
        index = step.get("step_index", int, required=True)
        if index < 0:
            raise _problem(path, what, step.name("step_index"), "is negative")
        captured = step.get("captured_variables", dict, default={})
        steps.append(RustStep(index=index, success=step.get("success", bool, default=True),
                              command=step.get("command", str), output=step.get("output", str),
                              captured=dict(captured), duration=step.duration("duration")))
    total = state.get("total_steps", int, required=True)
    return RustCheckpoint(
        path=path, workflow_id=f.get("workflow_id", str, required=True),
        status=state.choice("status", CHECKPOINT_STATUSES) or "Interrupted",
        current_step_index=state.get("current_step_index", int, required=True),
        total_steps=f.get("total_steps", int, default=total), steps=tuple(steps),
        variables=dict(f.get("variable_state", dict, default={})), workflow_path=f.get("workflow_path", str),
        workflow_name=f.get("workflow_name", str), version=version,
    )
