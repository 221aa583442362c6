"""The execution lock (invariant 5): whoever executes a session holds it for the whole execution.

An OS file lock (filelock) that the kernel releases when the holder dies, so it cannot go stale on one host,
plus a small JSON beside it naming the holder for the "already in progress" message. Taken exactly once per
process per session: callers pass the held lock down instead of acquiring again.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from prodigy import paths
from prodigy.errors import LockHeldError
from prodigy.state import storage
from prodigy.state.atomic import write_json


class ExecutionLock:
    def __init__(self, session_id: str, *, purpose: str = "run") -> None:
        self.session_id = session_id
        self.purpose = purpose
        self._path = paths.lock_file(session_id)
        self._info_path = paths.lock_info_file(session_id)
        self._lock: FileLock | None = None

    @property
    def held(self) -> bool:
        return self._lock is not None and self._lock.is_locked

    def acquire(self) -> ExecutionLock:
        if self.held:
            return self  # already ours: never lock twice (the original deadlocked on itself here)
        storage.private_dir(self._path.parent)
        storage.confined(self._path)
        lock = FileLock(str(self._path), timeout=0, mode=storage.FILE_MODE)
        try:
            lock.acquire()
        except Timeout:
            raise LockHeldError(_held_message(self.session_id, _wait_for_holder(self.session_id)),
                                hint="Wait for it to finish, or stop it (Ctrl-C in its terminal, or kill "
                                "the pid above); the lock is released the moment that process ends.") from None
        self._lock = lock
        write_json(self._info_path, {
            "session_id": self.session_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "purpose": self.purpose,
            "argv": sys.argv[1:],
        })
        return self

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            self._info_path.unlink(missing_ok=True)
        finally:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> ExecutionLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(session_id: str) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(paths.lock_info_file(session_id)).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _wait_for_holder(session_id: str, within: float = 1.0) -> dict[str, Any] | None:
    """The holder writes its info just after taking the lock: wait briefly for it (and for a live pid, so a
    dead holder's leftover file is not shown as the current one)."""
    deadline = time.monotonic() + within
    while True:
        holder = read_holder(session_id)
        alive = holder is not None and isinstance(holder.get("pid"), int) and _pid_exists(holder["pid"])
        if alive or time.monotonic() >= deadline:
            return holder
        time.sleep(0.02)


def is_locked(session_id: str) -> bool:
    """True when a live process holds the session's execution lock.

    Decided from the holder record, never by taking the lock: a probe that briefly held it would make a
    `run` or `resume` starting at that instant fail with "already in progress". A holder on another host
    is assumed alive (we cannot check it from here)."""
    holder = read_holder(session_id)
    if not holder:
        return False
    if holder.get("host") != socket.gethostname():
        return True
    pid = holder.get("pid")
    return isinstance(pid, int) and _pid_exists(pid)


def _pid_exists(pid: int) -> bool:
    import psutil  # only when a lock is found held: not on the start-up path of every run

    return psutil.pid_exists(pid)


def _held_message(session_id: str, holder: dict[str, Any] | None) -> str:
    if not holder:
        return f"Session {session_id} is already in progress in another prodigy process."
    return (
        f"Session {session_id} is already in progress: held by pid {holder.get('pid')} on "
        f"{holder.get('host')} since {holder.get('started_at')} ({holder.get('purpose', 'run')})."
    )
