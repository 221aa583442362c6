"""The one subprocess wrapper: every command prodigy runs goes through :func:`run`.

Each command starts behind a *start gate*: a tiny ``/bin/sh`` that blocks reading one line from
its stdin and only then ``exec``s the real command (a ``sh -c`` script runs in the gate shell itself, one exec
fewer). Between spawn and release the caller's
``on_start`` durably records pid, process group and start time, so after a hard kill of prodigy a
later resume can find and reap the command, and no command can ever run unrecorded: if prodigy
dies (or ``on_start`` raises) before the release, the gate reads EOF and exits 125 having run
nothing. ``exec`` keeps the pid and the start time, so what was recorded is the command itself.

The command runs in its own session (pgid == pid); timeouts, interrupts and clean-up kill the
whole group. Output is read in the calling thread with one selector (no helper threads), only
the tail of each stream is kept, and bytes are decoded with ``errors="replace"``.

Process identity and group killing live in `process_groups`, output capture in `output_capture`;
their public names are importable from here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from prodigy.execution.output_capture import _POLL, _Capture, _Pump
from prodigy.execution.process_groups import (
    _group_alive,
    is_same_process,
    process_start_time,
    reap_recorded,
    terminate_group,
)

__all__ = [
    "GATE_EXIT_CODE", "ProcessResult", "StartInfo", "is_same_process", "process_start_time", "reap_recorded",
    "run", "terminate_group",
]

GATE_EXIT_CODE = 125
_GATE_NAME = "prodigy-gate"
# `read` consumes exactly one line (shells read pipes byte by byte so the rest stays for the
# next command). Without stdin_data the command gets /dev/null; with it, the command inherits
# the gate pipe, on which the data follows the release newline.
_GATE_DEVNULL = 'IFS= read -r _go || exit 125; exec "$@" </dev/null'
_GATE_PIPE = 'IFS= read -r _go || exit 125; exec "$@"'
# A shell script (`sh -c SCRIPT`, what every shell step is) needs no second exec: the gate is the script's own
# first line, ahead of the script's first line on that line, so $0, $#, LINENO and the shell's messages
# ("sh: 1: foo: not found") are what `sh -c SCRIPT` gives. The line is parsed before it runs, so a syntax error
# there ends the shell before the gate opens, as it would have ended `sh -c`: nothing of the script ran.
_SCRIPT_DEVNULL = "IFS= read -r _go || exit 125; unset _go; exec </dev/null; "
_SCRIPT_PIPE = "IFS= read -r _go || exit 125; unset _go; "

# Shells (`sh -c` commands, which Popen starts itself) found runnable: not checked again (three stat calls per
# command). If one went since, Popen fails and says so as a start error, as the check would have.
_RUNNABLE: set[str] = set()

_ORPHAN_DRAIN = 0.5  # after the leader exits, how long descendants may keep the pipes open
_FINAL_DRAIN = 1.0  # after killing the group; bounded because a daemon outside it may hold a pipe


@dataclass(frozen=True)
class StartInfo:
    pid: int
    pgid: int
    start_time: float  # = psutil.Process(pid).create_time(); survives the gate's exec


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
    ended_after_finish: bool = False  # `finished` was set and the command outlived its grace, so it was ended

    @property
    def ok(self) -> bool:
        return (
            self.exit_code == 0 and not self.timed_out and not self.interrupted and self.start_error is None
        )


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
    stdout_sink: BinaryIO | None = None,
    stop_event: threading.Event | None = None,
    grace: float = 2.0,
    finished: threading.Event | None = None,
    finish_grace: float = 5.0,
) -> ProcessResult:
    """Run `argv` in its own process group behind the start gate; failures are returned, not raised.

    `stdout_sink` (anything with `write(bytes)`, fed in the calling thread) sees every stdout byte as it
    arrives, like `stdout_path`. `finished` lets the caller say the command's work is done (an agent printed
    its final result): if the command has not exited `finish_grace` seconds later, its group is ended and the
    result says `ended_after_finish`. Exceptions from `on_start`, `on_line` or the sink propagate, after the
    command's group has been killed.
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
            _Capture("stdout", output_cap, on_line,
                     None if sink is None and stdout_sink is None else _Tee(sink, stdout_sink)),
            _Capture("stderr", output_cap, on_line, None),
        ]
        ending = _supervise(proc, captures, on_start, stdin_data or b"", timeout, stop_event, grace,
                            (finished, finish_grace))
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
    if program in _RUNNABLE:
        return None  # checked before (the shell of every step): if it went since, Popen's error says so
    if "/" not in program:
        found = shutil.which(program, path=env.get("PATH", os.defpath)) if program else None
        return None if found else f"executable not found: {program}"
    path = os.path.join(cwd, program)  # the command resolves relative paths against its cwd
    if not os.path.exists(path):
        return f"executable not found: {program}"
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        return f"permission denied: {program} is not executable"
    if os.path.isabs(program) and _one_exec(argv) and len(_RUNNABLE) < 64:
        _RUNNABLE.add(program)
    return None


def _one_exec(argv: list[str]) -> bool:
    """A `sh -c SCRIPT`: Popen starts the shell itself (the gate is the script's first line)."""
    return len(argv) == 3 and argv[1] == "-c" and os.path.basename(argv[0]) == "sh"


def _spawn(
    argv: list[str], cwd: str | os.PathLike[str], env: Mapping[str, str], *, piped_stdin: bool
) -> subprocess.Popen[bytes] | str:
    """Start the gate shell (blocked in `read`) in a new session; a start error as a string."""
    if _one_exec(argv):
        gated = [argv[0], "-c", (_SCRIPT_PIPE if piped_stdin else _SCRIPT_DEVNULL) + argv[2]]  # one exec
    else:
        gated = ["/bin/sh", "-c", _GATE_PIPE if piped_stdin else _GATE_DEVNULL, _GATE_NAME, *argv]
    try:
        return subprocess.Popen(
            gated,
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
    finish: tuple[threading.Event | None, float] = (None, 0.0),
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
        ending = _watch(proc, pump, deadline, stop_event, finish)
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
    start_time = process_start_time(proc.pid)  # from /proc on Linux: the value psutil's create_time() gives
    if start_time is None:
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
    finish: tuple[threading.Event | None, float] = (None, 0.0),
) -> str:
    """Pump output until the command is over; say why: exited, orphans, timeout, stop or finished."""
    leader_done_at: float | None = None
    finished, finish_grace = finish
    finished_at: float | None = None
    while True:
        if stop_event is not None and stop_event.is_set():
            return "stop"
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return "timeout"
        if finished is not None and leader_done_at is None and finished.is_set():
            finished_at = now if finished_at is None else finished_at
            if now - finished_at >= finish_grace:
                return "finished"
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
        ended_after_finish=ending == "finished",
    )


class _Tee:
    """The stdout log file and/or the caller's sink, as one writer (or nothing)."""

    def __init__(self, *writers: BinaryIO | None) -> None:
        self._writers = [w for w in writers if w is not None]

    def write(self, chunk: bytes) -> None:
        for writer in self._writers:
            writer.write(chunk)


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
