"""The one subprocess wrapper: every command prodigy runs goes through :func:`run`.

Each command starts behind a *start gate*: a tiny ``/bin/sh`` that blocks reading one line from
its stdin and only then ``exec``s the real command. Between spawn and release the caller's
``on_start`` durably records pid, process group and start time, so after a hard kill of prodigy a
later resume can find and reap the command, and no command can ever run unrecorded: if prodigy
dies (or ``on_start`` raises) before the release, the gate reads EOF and exits 125 having run
nothing. ``exec`` keeps the pid and the start time, so what was recorded is the command itself.

The command runs in its own session (pgid == pid); timeouts, interrupts and clean-up kill the
whole group. Output is read in the calling thread with one selector (no helper threads), only
the tail of each stream is kept, and bytes are decoded with ``errors="replace"``.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal as signals
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import psutil

GATE_EXIT_CODE = 125
_GATE_NAME = "prodigy-gate"
# `read` consumes exactly one line (shells read pipes byte by byte so the rest stays for the
# next command). Without stdin_data the command gets /dev/null; with it, the command inherits
# the gate pipe, on which the data follows the release newline.
_GATE_DEVNULL = 'IFS= read -r _go || exit 125; exec "$@" </dev/null'
_GATE_PIPE = 'IFS= read -r _go || exit 125; exec "$@"'

_CHUNK = 64 * 1024
_MAX_LINE = 64 * 1024
_POLL = 0.05  # how often stop_event, the timeout and the leader are checked
_IDLE_POLL = 0.01  # pipes closed, waiting for the leader: stay responsive for quick exits
_ORPHAN_DRAIN = 0.5  # after the leader exits, how long descendants may keep the pipes open
_FINAL_DRAIN = 1.0  # after killing the group; bounded because a daemon outside it may hold a pipe
_SAME_TIME = 0.01  # psutil create_time has clock-tick (10 ms) resolution


@dataclass(frozen=True)
class StartInfo:
    pid: int
    pgid: int
    start_time: float  # psutil.Process(pid).create_time(); survives the gate's exec


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int | None  # None when it never ran (start_error) or was killed by a signal
    stdout: str  # the last output_cap bytes, decoded utf-8 with errors="replace"
    stderr: str
    stdout_bytes: int  # total bytes seen
    stderr_bytes: int
    duration: float  # seconds
    timed_out: bool
    interrupted: bool  # stopped because stop_event was set
    signal: int | None  # the signal that ended the leader, if any
    start_error: str | None  # the command never started

    @property
    def ok(self) -> bool:
        return (
            self.exit_code == 0 and not self.timed_out and not self.interrupted and self.start_error is None
        )


# ---------------------------------------------------------------------------------------------
# Process identity and group termination (also used by resume after a hard kill)


def process_start_time(pid: int) -> float | None:
    """create_time of `pid` (zombies included), None if there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def is_same_process(pid: int, start_time: float) -> bool:
    """True if `pid` is alive and is the process that started at `start_time` (not a reused pid)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - start_time) <= _SAME_TIME
    except psutil.Error:
        return False


def terminate_group(pgid: int, grace: float = 2.0) -> None:
    """SIGTERM the group, give its members up to `grace` seconds, then SIGKILL what is left."""
    if not _signal_group(pgid, signals.SIGTERM):
        return
    if _wait_group_gone(pgid, grace):
        return
    if _signal_group(pgid, signals.SIGKILL):
        _wait_group_gone(pgid, 1.0)  # SIGKILL is asynchronous; callers expect the group gone


def reap_recorded(pid: int, pgid: int, start_time: float, grace: float = 2.0) -> bool:
    """Kill what is left of a recorded command after a hard kill; True if anything was alive.

    The kernel keeps a pid number allocated while it is in use as a process group id, so if a
    *different* process now has the leader's pid, the recorded group is gone and members of a
    group with that number belong to someone else.
    """
    leader_time = process_start_time(pid)
    if pid == pgid and leader_time is not None and abs(leader_time - start_time) > _SAME_TIME:
        return False
    ours = is_same_process(pid, start_time) or any(
        _create_time(member) >= start_time - _SAME_TIME for member in _live_members(pgid)
    )
    if ours:
        terminate_group(pgid, grace)
    return ours


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False  # gone, or a group of another user: never ours
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _live_members(pgid: int) -> list[psutil.Process]:
    """Processes in group `pgid`, excluding zombies (which hold nothing and cannot be killed)."""
    members = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) != pgid:
                continue
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue  # exited while we looked
    return members


def _create_time(proc: psutil.Process) -> float:
    try:
        return proc.create_time()
    except psutil.Error:
        return float("-inf")


def _wait_group_gone(pgid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while _live_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


# ---------------------------------------------------------------------------------------------
# Output capture


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
            time.sleep(min(timeout, _IDLE_POLL))
            return
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._write(key.fd)
            else:
                self._read(key.fd, key.data)

    def drain(self, within: float) -> None:
        deadline = time.monotonic() + within
        while self.reading and time.monotonic() < deadline:
            self.pump(min(_POLL, max(deadline - time.monotonic(), 0.0)))

    def close(self) -> None:
        self._selector.close()

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


# ---------------------------------------------------------------------------------------------
# run()


def run(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    timeout: float | None = None,
    on_start: Callable[[StartInfo], None] | None = None,
    stdin_data: bytes | None = None,
    output_cap: int = 256 * 1024,
    on_line: Callable[[str, str], None] | None = None,
    stdout_path: str | os.PathLike[str] | None = None,
    stop_event: threading.Event | None = None,
    grace: float = 2.0,
) -> ProcessResult:
    """Run `argv` in its own process group behind the start gate; failures are returned, not raised.

    Exceptions from `on_start` or `on_line` propagate, after the command's group has been killed.
    """
    began = time.monotonic()
    argv = list(argv)
    if stop_event is not None and stop_event.is_set():
        return _not_run(began, None, interrupted=True)
    problem = _preflight(argv, cwd, env)
    if problem is not None:
        return _not_run(began, problem)
    try:
        sink = open(stdout_path, "wb") if stdout_path is not None else None
    except OSError as exc:
        return _not_run(began, f"cannot open stdout log {stdout_path}: {exc.strerror}")
    try:
        proc = _spawn(argv, cwd, env, piped_stdin=stdin_data is not None)
        if isinstance(proc, str):
            return _not_run(began, proc)
        captures = [
            _Capture("stdout", output_cap, on_line, sink),
            _Capture("stderr", output_cap, on_line, None),
        ]
        ending = _supervise(proc, captures, on_start, stdin_data or b"", timeout, stop_event, grace)
    finally:
        if sink is not None:
            sink.close()
    if ending is None:
        return _not_run(began, f"cannot start {argv[0]}: the process vanished before it started")
    return _result(proc.wait(), captures, began, ending)  # already reaped: returns at once


def _preflight(argv: list[str], cwd: str | os.PathLike[str], env: Mapping[str, str]) -> str | None:
    """Catch what the gate shell would otherwise report as an anonymous exit 126/127."""
    if not argv:
        return "empty command"
    if not os.path.isdir(cwd):
        return f"working directory not found: {os.fspath(cwd)}"
    if not os.access(cwd, os.X_OK):
        return f"working directory not accessible: {os.fspath(cwd)}"
    program = argv[0]
    if "/" not in program:
        found = shutil.which(program, path=env.get("PATH", os.defpath)) if program else None
        return None if found else f"executable not found: {program}"
    path = os.path.join(cwd, program)  # the command resolves relative paths against its cwd
    if not os.path.exists(path):
        return f"executable not found: {program}"
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        return f"permission denied: {program} is not executable"
    return None


def _spawn(
    argv: list[str], cwd: str | os.PathLike[str], env: Mapping[str, str], *, piped_stdin: bool
) -> subprocess.Popen[bytes] | str:
    """Start the gate shell (blocked in `read`) in a new session; a start error as a string."""
    try:
        return subprocess.Popen(
            ["/bin/sh", "-c", _GATE_PIPE if piped_stdin else _GATE_DEVNULL, _GATE_NAME, *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,  # pgid == pid: the whole command can be killed as a group
            close_fds=True,
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in argv or env
        return f"cannot start {argv[0]}: {exc}"


def _supervise(
    proc: subprocess.Popen[bytes],
    captures: list[_Capture],
    on_start: Callable[[StartInfo], None] | None,
    stdin_data: bytes,
    timeout: float | None,
    stop_event: threading.Event | None,
    grace: float,
) -> str | None:
    """Open the gate, pump until the command is over, kill what is left and reap the leader.

    Returns why it ended (see _watch), or None if the gate died before it could be opened.
    """
    pump: _Pump | None = None
    try:
        if not _open_gate(proc, on_start):
            _abort(proc, grace)
            return None
        pump = _Pump(proc, captures, stdin_data)
        # The clock starts at the release: time spent in on_start is not the command's.
        deadline = None if timeout is None else time.monotonic() + timeout
        ending = _watch(proc, pump, deadline, stop_event)
        if ending == "exited":
            # Fast path: the leader is done and the pipes are closed. Reap it; the group id stays
            # reserved while any member lives, so an empty group means there is nothing left to end.
            proc.wait()
            if _group_alive(proc.pid):
                terminate_group(proc.pid, grace)
        else:
            terminate_group(proc.pid, grace)  # a step's processes end with the step
        pump.drain(_FINAL_DRAIN)
        for capture in captures:
            capture.finish()
    except BaseException:
        _abort(proc, grace)
        raise
    finally:
        if pump is not None:
            pump.close()
    _close_pipes(proc)
    proc.wait()
    return ending


def _open_gate(proc: subprocess.Popen[bytes], on_start: Callable[[StartInfo], None] | None) -> bool:
    """Record the start (on_start), then release the gate. False if the gate died meanwhile."""
    assert proc.stdin is not None
    try:
        start_time = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        return False  # killed from outside while blocked in `read`
    if on_start is not None:
        on_start(StartInfo(pid=proc.pid, pgid=proc.pid, start_time=start_time))
    try:
        os.write(proc.stdin.fileno(), b"\n")  # one byte into an empty pipe never blocks
    except BrokenPipeError:
        pass  # killed from outside after on_start; the leader's status tells the story
    return True


def _watch(
    proc: subprocess.Popen[bytes],
    pump: _Pump,
    deadline: float | None,
    stop_event: threading.Event | None,
) -> str:
    """Pump output until the command is over; say why: exited, orphans, timeout or stop."""
    leader_done_at: float | None = None
    while True:
        if stop_event is not None and stop_event.is_set():
            return "stop"
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return "timeout"
        if leader_done_at is None and _leader_exited(proc):
            leader_done_at = now
        if leader_done_at is not None:
            if not pump.reading:
                return "exited"
            if now - leader_done_at >= _ORPHAN_DRAIN:
                return "orphans"  # a background descendant holds the pipes open
        wait = _POLL if deadline is None else min(_POLL, max(deadline - now, 0.0))
        pump.pump(wait)


def _leader_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Check without reaping: the zombie leader keeps the pgid reserved until the group is killed."""
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid"):
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _abort(proc: subprocess.Popen[bytes], grace: float) -> None:
    _close_pipes(proc)  # an unreleased gate now reads EOF and exits 125 by itself
    terminate_group(proc.pid, grace)
    proc.wait()


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def _result(returncode: int, captures: list[_Capture], began: float, ending: str) -> ProcessResult:
    out, err = captures
    return ProcessResult(
        exit_code=returncode if returncode >= 0 else None,
        stdout=out.text(),
        stderr=err.text(),
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        duration=time.monotonic() - began,
        timed_out=ending == "timeout",
        interrupted=ending == "stop",
        signal=-returncode if returncode < 0 else None,
        start_error=None,
    )


def _not_run(began: float, start_error: str | None, *, interrupted: bool = False) -> ProcessResult:
    return ProcessResult(
        exit_code=None,
        stdout="",
        stderr="",
        stdout_bytes=0,
        stderr_bytes=0,
        duration=time.monotonic() - began,
        timed_out=False,
        interrupted=interrupted,
        signal=None,
        start_error=start_error,
    )
