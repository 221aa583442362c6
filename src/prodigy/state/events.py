"""Observability events: events/{repo}/{job_id}/events.jsonl, one JSON object per line.

Events are for people and tools reading what happened; the job journal is the source of truth. Only
events that happen once per invocation or phase are written here (item events are a view of the journal,
see item_events.py); each is written when emitted, never fsync'd."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from prodigy.state import storage
from prodigy.state.atomic import write_bytes
from prodigy.state.sessions import now_iso


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:12]


class EventLog:
    def __init__(self, path: Path, *, session_id: str, job_id: str, correlation_id: str,
                 mask: Any = None) -> None:
        storage.private_dir(path.parent)
        self.path = path
        self.session_id = session_id
        self.job_id = job_id
        self.correlation_id = correlation_id
        self._mask = mask
        self._buffer: list[str] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._host = socket.gethostname()

    def emit(self, event: str, **fields: Any) -> None:
        record = {"ts": now_iso(), "event": event, "correlation_id": self.correlation_id,
                  "session_id": self.session_id, "job_id": self.job_id, "host": self._host, "pid": os.getpid()}
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(record, ensure_ascii=False, default=str)
        if self._mask:
            line = self._mask(line)
        with self._lock:
            self._buffer.append(line + "\n")
        # Only job, phase and resume events come here (item events are derived from the journal), so each is
        # written at once: a follower sees `job_started` before the first item of the job.
        self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        if lines:
            fd = storage.open_file(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                storage.write_all(fd, "".join(lines).encode("utf-8", "backslashreplace"), self.path)
            finally:
                os.close(fd)

    def close(self) -> None:
        self.flush()


def read_events(path: Path) -> tuple[list[dict[str, Any]], int]:
    """All readable events and the number of unreadable lines skipped."""
    events, bad = [], 0
    try:
        handle = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], 0
    with handle:
        for line in handle:
            if not line.endswith("\n"):
                bad += 1
                break
            try:
                record = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(record, dict):
                events.append(record)
    return events, bad


def rewrite_events(path: Path, keep: list[str], drop: list[str], *, archive: Path | None = None) -> None:
    """`prodigy events clean`: keep some lines of an events file (atomically), optionally appending the others
    to an archive first. The caller holds the session's lock, so no run appends meanwhile."""
    if archive is not None and drop:
        archive.parent.mkdir(parents=True, exist_ok=True)
        with open(archive, "a", encoding="utf-8") as handle:
            handle.write("".join(drop))
            handle.flush()
            os.fsync(handle.fileno())
    if keep:
        write_bytes(path, "".join(keep).encode("utf-8"))
    else:
        path.unlink(missing_ok=True)
