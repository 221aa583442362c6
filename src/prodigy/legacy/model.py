"""What the legacy package works with: an original (what a typed id named) and a conversion report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from prodigy.legacy.shapes import RustSession

# Our id for an original is derived from the original's id, so converting again gives the same ids.
_NAMESPACE = uuid.UUID("6f1d4c3e-2b1a-4d8e-9c7b-5a4f3e2d1c0b")


def converted_session_id(original_key: str) -> str:
    return f"session-{uuid.uuid5(_NAMESPACE, 'prodigy-rust:' + original_key)}"


@dataclass(frozen=True)
class Original:
    """Something the original prodigy left: a session (with its checkpoint and jobs), or a job without one."""

    key: str  # the original session id, or the job id of a job no session record owns
    session: RustSession | None
    job_ids: tuple[str, ...] = ()  # original MapReduce job ids (named by the user, or found for the session)
    named_by: str = "session id"  # how the typed id led here (for the report)

    @property
    def session_id(self) -> str:
        return self.session.id if self.session else self.key


@dataclass(frozen=True)
class ConversionReport:
    original_id: str
    kind: str  # workflow | mapreduce
    original_status: str  # the original's own word (Paused, Failed ...)
    status: str  # ours
    action: str  # converted | would_convert | already_converted | nothing_to_resume | cancelled | failed
    session_id: str | None = None  # ours
    job_id: str | None = None  # ours
    original_job_id: str | None = None
    workflow_path: str | None = None
    worktree: str | None = None
    named_by: str = "session id"
    files: tuple[str, ...] = ()  # the original's files this conversion read
    recovered: tuple[str, ...] = ()  # what was recovered, one line each
    not_recovered: tuple[str, ...] = ()  # what could not be, and what happens instead
    warnings: tuple[str, ...] = ()
    counts: dict[str, Any] = field(default_factory=dict)
    marker: str | None = None  # the conversion record
    error: str | None = None
    exit_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}
