"""What the views share: durations typed by users, timestamps, and an id -> MapReduce job lookup."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prodigy import paths
from prodigy.errors import NotFoundError, UsageError
from prodigy.resume.resolve import Target, resolve
from prodigy.state.jobs import JobState, JobStore, find_job_folder
from prodigy.state.sessions import SessionRecord

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|wks)?\s*$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60, "h": 3600, "hr": 3600,
                 "hrs": 3600, "d": 86400, "day": 86400, "days": 86400, "w": 604800, "wk": 604800,
                 "wks": 604800}


def parse_age(text: str, *, option: str = "--older-than") -> float:
    """Seconds from '30s', '10m', '2h', '7d', '1w' or a bare number of seconds."""
    match = _AGE.match(text or "")
    if not match:
        raise UsageError(f"Invalid {option} value {text!r}: expected a duration like 30s, 10m, 2h, 7d or 1w.")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


def parse_time(value: object) -> float | None:
    """Epoch seconds from an ISO timestamp or a number; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


def age_seconds(iso: str | None, now: float | None = None) -> float | None:
    moment = parse_time(iso)
    if moment is None:
        return None
    return max(0.0, (time.time() if now is None else now) - moment)


def iso_from_epoch(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobRef:
    """A MapReduce job and where its state lives."""

    session: SessionRecord
    job_id: str
    folder: Path
    events_path: Path

    @property
    def repo(self) -> str:
        return self.folder.parents[2].name  # state/{repo}/mapreduce/jobs/{job_id}

    def store(self) -> JobStore:
        return JobStore(self.folder)

    @property
    def journal_path(self) -> Path:
        return self.store().journal_path


def job_ref(target: Target) -> JobRef:
    record = target.session
    if record.kind != "mapreduce":
        raise UsageError(f"Session {record.id} is a standard workflow: it has no MapReduce job.",
                         hint="The DLQ, events and job checkpoints exist only for MapReduce jobs. "
                         f"See the session with: prodigy sessions show {record.id}")
    job_id = target.job_id or record.job_id
    if job_id is None:
        raise NotFoundError(f"Session {record.id} stopped before its MapReduce job was created.",
                            hint=f"Start the job with: prodigy resume {record.id}")
    folder = find_job_folder(job_id, record.repo)
    return JobRef(session=record, job_id=job_id, folder=folder,
                  events_path=paths.events_file(folder.parents[2].name, job_id))


def find_job(text: str) -> JobRef:
    """A job id, its session id, or a unique prefix of either -> the job."""
    return job_ref(resolve(text))


def load_job(ref: JobRef) -> tuple[JobStore, JobState]:
    store = ref.store()
    return store, store.load_state()
