"""Output capture for `process.run`: a bounded tail per stream (never cut inside a UTF-8 character),
live lines for the caller, and a pump that moves bytes between prodigy and the child's pipes in one
thread with one selector. Where the platform has pidfds (Linux >= 5.3) the leader's exit is in the same
selector, so the pump wakes as soon as the command ends, not at the next poll."""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Callable
from typing import BinaryIO

_CHUNK = 64 * 1024
_MAX_LINE = 64 * 1024
_POLL = 0.05  # how often stop_event, the timeout and the leader are checked
# Without a pidfd, pipes closed and the leader not yet seen exiting: poll for it, first every millisecond (a
# quick exit is seen at once), then backing off to _POLL (a long-running leader costs few wake-ups).
_IDLE_POLL_MIN = 0.001
_LEADER = object()  # selector data of the leader's pidfd


class _Capture:
    """One output stream: a bounded tail, a byte count, the live line callback and the full log."""

    def __init__(
        self,
        name: str,
        cap: int,
        on_line: Callable[[str, str], None] | None,
        sink: BinaryIO | None,
    ) -> None:
        self.name = name
        self.cap = max(cap, 0)
        self.total = 0
        self._tail = bytearray()
        self._on_line = on_line
        self._sink = sink
        self._partial = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self._sink is not None:
            self._sink.write(chunk)
        self._tail += chunk
        # Trim only when twice the cap: amortised O(1) per byte instead of a memmove per chunk.
        if len(self._tail) > 2 * self.cap:
            del self._tail[: len(self._tail) - self.cap]
        if self._on_line is not None:
            self._emit_lines(chunk)

    def finish(self) -> None:
        if self._on_line is not None and self._partial:
            self._on_line(self.name, self._partial.decode("utf-8", "replace"))
        self._partial.clear()

    def text(self) -> str:
        data = self._tail[max(len(self._tail) - self.cap, 0) :] if self.cap else bytearray()
        if self.total > len(data):
            data = data[_skip_continuation(data, 0) :]  # don't start on half a character
        return bytes(data).decode("utf-8", "replace")

    def _emit_lines(self, chunk: bytes) -> None:
        assert self._on_line is not None
        buf = self._partial
        buf += chunk
        start = 0
        while True:
            newline = buf.find(b"\n", start)
            end = newline if newline != -1 else len(buf)
            if end - start > _MAX_LINE:
                cut = _char_boundary(buf, start + _MAX_LINE)
                self._on_line(self.name, buf[start:cut].decode("utf-8", "replace"))
                start = cut
            elif newline != -1:
                self._on_line(self.name, buf[start:newline].decode("utf-8", "replace"))
                start = newline + 1
            else:
                break
        del buf[:start]  # once per chunk, not once per line


def _is_continuation(byte: int) -> bool:
    return 0x80 <= byte < 0xC0


def _skip_continuation(data: bytearray, index: int) -> int:
    for _ in range(3):
        if index < len(data) and _is_continuation(data[index]):
            index += 1
    return index


def _char_boundary(data: bytearray, cut: int) -> int:
    """Move a split point back (at most 3 bytes) so a UTF-8 character is not cut in two."""
    for _ in range(3):
        if _is_continuation(data[cut]):
            cut -= 1
    return cut


class _Pump:
    """Moves bytes between prodigy and the child's pipes without blocking, in one thread."""

    def __init__(self, proc: subprocess.Popen[bytes], captures: list[_Capture], stdin_data: bytes) -> None:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self._selector = selectors.DefaultSelector()
        self._stdin = proc.stdin
        self._readers = 0
        self._idle = _IDLE_POLL_MIN
        # Readable once the leader has exited (a zombie not yet reaped: the pid cannot be reused meanwhile).
        self._pidfd = _open_pidfd(proc.pid)
        self.leader_exit_seen = False
        if self._pidfd is not None:
            self._selector.register(self._pidfd, selectors.EVENT_READ, _LEADER)
        for stream, capture in zip((proc.stdout, proc.stderr), captures, strict=True):
            os.set_blocking(stream.fileno(), False)
            self._selector.register(stream.fileno(), selectors.EVENT_READ, capture)
            self._readers += 1
        self._pending = memoryview(stdin_data)
        if self._pending:
            os.set_blocking(self._stdin.fileno(), False)
            self._selector.register(self._stdin.fileno(), selectors.EVENT_WRITE, None)
        else:
            self._stdin.close()

    @property
    def reading(self) -> bool:
        return self._readers > 0

    def pump(self, timeout: float) -> None:
        if not self._selector.get_map():
            time.sleep(min(timeout, self._idle))
            self._idle = min(self._idle * 2, _POLL)
            return
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._write(key.fd)
            elif key.data is _LEADER:
                self._leader_exited()
            else:
                self._read(key.fd, key.data)

    def drain(self, within: float) -> None:
        deadline = time.monotonic() + within
        while self.reading and time.monotonic() < deadline:
            self.pump(min(_POLL, max(deadline - time.monotonic(), 0.0)))

    def close(self) -> None:
        self._selector.close()
        self._close_pidfd()

    def _leader_exited(self) -> None:
        # A pidfd stays readable: stop watching it, or select would return at once until the pipes close.
        self.leader_exit_seen = True
        self._selector.unregister(self._pidfd)
        self._close_pidfd()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def _read(self, fd: int, capture: _Capture) -> None:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        if chunk:
            capture.feed(chunk)
            return
        self._selector.unregister(fd)
        self._readers -= 1
        capture.finish()

    def _write(self, fd: int) -> None:
        try:
            written = os.write(fd, self._pending[:_CHUNK])
        except BlockingIOError:
            return
        except OSError:
            written = len(self._pending)  # the command closed its stdin: the rest is unwanted
        self._pending = self._pending[written:]
        if not self._pending:
            self._selector.unregister(fd)
            self._stdin.close()  # EOF for the command


def _open_pidfd(pid: int) -> int | None:
    """A pidfd of our (unreaped) child, or None where unsupported (not Linux, kernel < 5.3, seccomp): then the
    leader is polled for."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return pidfd_open(pid)
    except OSError:
        return None
