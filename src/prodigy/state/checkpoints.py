"""Standard-workflow checkpoints: state/{session_id}/checkpoints/checkpoint.json, rewritten atomically after
every step and before every command spawns (the in-flight record names its process group and start time)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from prodigy import paths
from prodigy.errors import StateError
from prodigy.state import records
from prodigy.state.atomic import read_json, write_json
from prodigy.state.sessions import now_iso

FILE_NAME = "checkpoint.json"


@dataclass
class StandardCheckpoint:
    session_id: str
    workflow_path: str
    workflow_sha256: str
    total_steps: int
    status: str = "running"  # running | interrupted | failed | completed
    completed: dict[str, dict[str, Any]] = field(default_factory=dict)  # str(step index) -> record
    variables: dict[str, Any] = field(default_factory=dict)
    in_flight: dict[str, Any] | None = None  # {index, started_at, pid, pgid, start_time}
    failure: dict[str, Any] | None = None
    partial: dict[str, dict[str, Any]] = field(default_factory=dict)  # str(step index) -> progress inside it
    updated_at: str = field(default_factory=now_iso)
    spend: dict[str, Any] = field(default_factory=dict)  # agent economics of every attempt (state/spend.py)

    def is_done(self, index: int) -> bool:
        return str(index) in self.completed

    def first_incomplete(self) -> int:
        for index in range(self.total_steps):
            if not self.is_done(index):
                return index
        return self.total_steps


def path_for(session_id: str):
    return paths.checkpoints_dir(session_id) / FILE_NAME


def save(checkpoint: StandardCheckpoint) -> None:
    checkpoint.updated_at = now_iso()
    write_json(path_for(checkpoint.session_id), asdict(checkpoint))


def load(session_id: str) -> StandardCheckpoint | None:
    path = path_for(session_id)
    try:
        data = read_json(path, what="checkpoint")
    except FileNotFoundError:
        return None
    data.pop("schema_version", None)
    try:
        checkpoint: StandardCheckpoint = records.convert(data, StandardCheckpoint, "checkpoint")
        records.check_in_flight(checkpoint.in_flight)
    except records.BadRecord as exc:
        raise StateError(f"The checkpoint {path} is damaged: {exc}.",
                         hint="The session cannot be resumed from it; run the workflow again "
                         "(`prodigy checkpoints validate <id>` shows what is wrong).") from None
    return checkpoint
