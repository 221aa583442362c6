"""Session and job ids: minting, validation, type detection and parsing."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import Enum

from prodigy.errors import InvalidIdError

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SESSION_ID_RE = re.compile(rf"^session-{_UUID}$")
JOB_ID_RE = re.compile(rf"^mapreduce-(\d{{8}}_\d{{6}})_(session-{_UUID})$")
# What any id (or id prefix) typed by a user may contain before it is joined to a path.
_SAFE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


class IdType(Enum):
    SESSION = "session"
    JOB = "job"
    UNKNOWN = "unknown"


def new_session_id() -> str:
    return f"session-{uuid.uuid4()}"


def new_job_id(session_id: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    return f"mapreduce-{stamp}_{session_id}"


def check_id(value: str) -> str:
    """Reject anything that could escape a folder ('../x', 'a/b', '', '.')."""
    if not isinstance(value, str) or not _SAFE_ID_RE.match(value) or ".." in value:
        raise InvalidIdError(
            f"Invalid id: {value!r}",
            hint="Ids look like session-<uuid> or mapreduce-<date>_<time>_session-<uuid>; "
            "list them with: prodigy sessions list",
        )
    return value


def detect_id_type(value: str) -> IdType:
    if value.startswith("mapreduce-"):
        return IdType.JOB
    if value.startswith("session-"):
        return IdType.SESSION
    return IdType.UNKNOWN


def session_from_job_id(job_id: str) -> str | None:
    """The session id embedded in a job id (mapreduce-<ts>_session-<uuid>), if any."""
    match = JOB_ID_RE.match(job_id)
    return match.group(2) if match else None
