"""Append-only JSON-lines journals: one record per line, flushed and fsync'd before append() returns.

A crash can leave a torn last line; readers ignore it with a warning and never lose the records before it.
Readers can start at a byte offset (the end of what a snapshot already folded), so loading never needs
the whole history.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class JournalRead:
    records: list[dict[str, Any]]
    end_offset: int  # byte offset just after the last complete record
    warnings: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # start offset of each record


class Journal:
    """A writer for one journal file. Thread-safe; concurrent appends share fsyncs (group commit)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._repair_torn_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._offset = os.fstat(self._fd).st_size
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0  # sequence number of the last write
        self._synced = 0  # sequence number covered by the last fsync

    @staticmethod
    def _repair_torn_tail(path: Path) -> None:
        """Cut a torn last line left by a crash so the next record starts on a line of its own."""
        try:
            with open(path, "rb+") as handle:
                size = handle.seek(0, os.SEEK_END)
                if size == 0:
                    return
                handle.seek(max(0, size - 1))
                if handle.read(1) == b"\n":
                    return
                # Find the start of the torn line and truncate there.
                block = 65536
                pos = size
                while pos > 0:
                    start = max(0, pos - block)
                    handle.seek(start)
                    chunk = handle.read(pos - start)
                    idx = chunk.rfind(b"\n")
                    if idx >= 0:
                        handle.truncate(start + idx + 1)
                        break
                    pos = start
                else:
                    handle.truncate(0)
                handle.flush()
                os.fsync(handle.fileno())
        except FileNotFoundError:
            return

    @property
    def offset(self) -> int:
        return self._offset

    def append(self, record: dict[str, Any], *, sync: bool = True) -> int:
        """Append one record; returns its start offset. With sync, it is on disk when this returns."""
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
        with self._write_lock:
            start = self._offset
            os.write(self._fd, line)
            self._offset += len(line)
            self._written += 1
            seq = self._written
        if sync:
            self._sync_through(seq)
        return start

    def append_many(self, records: list[dict[str, Any]]) -> None:
        for record in records[:-1]:
            self.append(record, sync=False)
        if records:
            self.append(records[-1])

    def sync(self) -> None:
        self._sync_through(self._written)

    def _sync_through(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced >= seq:
                return  # another thread's fsync already covered this record
            target = self._written
            os.fsync(self._fd)
            self._synced = target

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: Path, start_offset: int = 0) -> JournalRead:
    """Read complete records from start_offset. A torn or garbled line is skipped with a warning."""
    result = JournalRead(records=[], end_offset=start_offset)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return result
    with handle:
        handle.seek(start_offset)
        offset = start_offset
        for raw in handle:
            if not raw.endswith(b"\n"):
                result.warnings.append(
                    f"{path}: ignored an incomplete last record at byte {offset} (a crash during a write)"
                )
                break
            try:
                record = json.loads(raw)
                if not isinstance(record, dict):
                    raise ValueError("not an object")
            except ValueError:
                result.warnings.append(f"{path}: skipped an unreadable record at byte {offset}")
                offset += len(raw)
                result.end_offset = offset
                continue
            result.records.append(record)
            result.offsets.append(offset)
            offset += len(raw)
            result.end_offset = offset
    return result


def read_record_at(path: Path, offset: int) -> dict[str, Any] | None:
    """Read the single record that starts at `offset` (used to fetch an item's output lazily)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            raw = handle.readline()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
