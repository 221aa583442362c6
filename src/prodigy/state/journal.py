"""Append-only JSON-lines journals: one record per line, flushed and fsync'd before append() returns.

A crash can leave a torn last line; readers ignore it with a warning and never lose the records before it.
A failed write (disk full, I/O error) never leaves half a record behind: the partial line is cut off, the
journal refuses further appends, and the error (StateWriteError, exit 6) stops the run. Every record read
back is checked against its type (`records.decode_journal_line`); one of the wrong shape is skipped with a
warning naming the file and byte offset. Readers can start at a byte offset (the end of what a snapshot
already folded), so loading never needs the whole history.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.errors import StateWriteError
from prodigy.state import storage
from prodigy.state.records import (
    BadRecord,
    decode_journal_block,
    decode_journal_line,
    encode_journal,
    typed_journal_line,
)


@dataclass
class JournalRead:
    records: list[dict[str, Any]]
    end_offset: int  # byte offset just after the last complete record
    warnings: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # start offset of each record


class Journal:
    """A writer for one journal file. Thread-safe; concurrent appends share fsyncs (group commit)."""

    def __init__(self, path: Path) -> None:
        storage.private_dir(path.parent)
        self.path = path
        self._repair_torn_tail(path)
        self._fd = storage.open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        _tighten(self._fd)
        self._offset = os.fstat(self._fd).st_size
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0  # sequence number of the last write
        self._synced = 0  # sequence number covered by the last fsync
        self._broken: StateWriteError | None = None  # the first failed write; no append may follow it

    @staticmethod
    def _repair_torn_tail(path: Path) -> None:
        """Cut a torn last line left by a crash so the next record starts on a line of its own."""
        try:
            handle = open(storage.confined(path), "rb+")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise storage.failure(exc, path, "open") from exc
        with handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(max(0, size - 1))
            if handle.read(1) == b"\n":
                return
            # Find the start of the torn line and truncate there.
            block = 65536
            pos = size
            cut = 0
            while pos > 0:
                start = max(0, pos - block)
                handle.seek(start)
                chunk = handle.read(pos - start)
                idx = chunk.rfind(b"\n")
                if idx >= 0:
                    cut = start + idx + 1
                    break
                pos = start
            try:
                handle.truncate(cut)
                handle.flush()
                storage.fsync(handle.fileno(), path)
            except OSError as exc:
                raise storage.failure(exc, path, "repair") from exc

    @property
    def offset(self) -> int:
        return self._offset

    def append(self, record: dict[str, Any], *, sync: bool = True) -> int:
        """Append one record; returns its start offset. With sync, it is on disk when this returns."""
        line = encode_journal(record) + b"\n"
        with self._write_lock:
            if self._broken is not None:
                raise self._broken
            start = self._offset
            try:
                storage.write_all(self._fd, line, self.path)
            except StateWriteError as exc:
                self._fail(exc, start)
                raise
            self._offset += len(line)
            self._written += 1
            seq = self._written
        if sync:
            self._sync_through(seq)
        return start

    def _fail(self, exc: StateWriteError, start: int) -> None:
        """After a failed write: cut what part of the record reached the file (so the journal ends on a whole
        record even if the disk frees up), and refuse every later append."""
        self._broken = exc
        try:
            os.ftruncate(self._fd, start)
        except OSError:
            pass  # the torn tail is ignored by readers and cut on the next open

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
            if self._broken is not None:
                raise self._broken
            target = self._written
            try:
                storage.fsync(self._fd, self.path)
            except StateWriteError as exc:
                self._broken = exc  # after a failed fsync nothing written since the last one is known durable
                raise
            self._synced = target

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                if self._broken is None:
                    storage.fsync(fd, self.path)
            finally:
                os.close(fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tighten(fd: int) -> None:
    # A journal written by an older prodigy may be readable by others; it holds command output.
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, storage.FILE_MODE)
    except OSError:
        pass


Decoder = Callable[[bytes], dict[str, Any]]


def read_journal(path: Path, start_offset: int = 0, *, decode: Decoder = decode_journal_line,
                 limit: int | None = None) -> JournalRead:
    """Read complete records from start_offset. A torn, garbled or wrongly shaped line is skipped with a
    warning naming the file and its byte offset. With `limit`, stop at the first record boundary at least
    that many bytes on (`end_offset` says where: read on from there)."""
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
                record = decode(raw)
            except BadRecord as exc:
                result.warnings.append(f"{path}: skipped an unreadable record at byte {offset} ({exc})")
                offset += len(raw)
                result.end_offset = offset
                continue
            result.records.append(record)
            result.offsets.append(offset)
            offset += len(raw)
            result.end_offset = offset
            if limit is not None and offset - start_offset >= limit:
                break
    return result


def scan_journal(path: Path, warnings: list[str], *, start: int = 0, stop: int | None = None,
                 block: int = 1 << 20) -> Iterator[list[Any]]:
    """Every record of the journal as its typed Struct (records.JournalRecord), in order, a block of records
    at a time, without keeping them: what a reader that aggregates a whole journal uses (events stats of a
    1,000,000-item job reads 2M records in constant memory). The same records as read_journal: a torn,
    garbled or wrongly shaped line is skipped with a warning naming the file and byte offset (appended to
    `warnings`); records of types this prodigy does not know are skipped silently. `start` and `stop` (record
    boundaries, see `split_point`) read a part of it."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        handle.seek(start)
        offset, carry = start, b""
        while True:
            want = block if stop is None else min(block, stop - offset - len(carry))
            data = handle.read(want) if want > 0 else b""
            if not data:
                break
            data = carry + data
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if not cut:
                continue
            try:
                found = decode_journal_block(data[:cut])
            except BadRecord:  # something in this block is not a plain record: read it line by line
                found = _scan_lines(path, data, cut, offset, warnings)
            offset += cut
            yield found
        if carry:
            warnings.append(f"{path}: ignored an incomplete last record at byte {offset} (a crash during a write)")


def split_point(path: Path, at: int) -> int:
    """The first record boundary at or after byte `at` (the file's size when there is none)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if at <= 0 or at >= size:
            return min(max(at, 0), size)
        handle.seek(at - 1)
        while True:
            chunk = handle.read(65536)
            if not chunk:
                return handle.tell()
            found = chunk.find(b"\n")
            if found >= 0:
                return handle.tell() - len(chunk) + found + 1


def _scan_lines(path: Path, data: bytes, cut: int, offset: int, warnings: list[str]) -> list[Any]:
    found = []
    start = 0
    while start < cut:
        end = data.index(b"\n", start) + 1
        try:
            record = typed_journal_line(data[start:end])
        except BadRecord as exc:
            warnings.append(f"{path}: skipped an unreadable record at byte {offset + start} ({exc})")
            record = None
        if record is not None:
            found.append(record)
        start = end
    return found


def read_record_at(path: Path, offset: int) -> dict[str, Any] | None:
    """Read the single record that starts at `offset` (used to fetch an item's output lazily)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            raw = handle.readline()
    except (FileNotFoundError, ValueError, OSError):
        return None
    try:
        return decode_journal_line(raw)
    except BadRecord:
        return None


def tail_mark(path: Path, offset: int) -> str | None:
    """A fingerprint of the bytes just before `offset`, kept in the snapshot so a journal that was cut and
    grew again past the snapshot's offset is recognised (the offset alone would still fit)."""
    import hashlib

    if offset <= 0:
        return None
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, offset - 256))
            data = handle.read(min(offset, 256))
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest()[:16] if len(data) == min(offset, 256) else None
