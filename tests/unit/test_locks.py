"""The execution lock: one holder per session, a clear message naming it, released by the kernel on death."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from prodigy import paths
from prodigy.errors import ExitCode, LockHeldError
from prodigy.ids import new_session_id
from prodigy.state.locks import ExecutionLock, is_locked, read_holder

HOLDER = textwrap.dedent("""
    import sys, time
    from prodigy.state.locks import ExecutionLock
    lock = ExecutionLock(sys.argv[1], purpose="run").acquire()
    print("locked", flush=True)
    time.sleep(60)
""")


@pytest.fixture
def holder() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Another process holding the lock of a fresh session id."""
    session_id = new_session_id()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, session_id], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    yield session_id, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_acquire_and_release(prodigy_home) -> None:
    session_id = new_session_id()
    lock = ExecutionLock(session_id)
    assert not lock.held and not is_locked(session_id)
    with lock:
        assert lock.held and is_locked(session_id)
        info = read_holder(session_id)
        assert info is not None
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        assert info["session_id"] == session_id and info["purpose"] == "run" and info["started_at"]
        assert info["schema_version"] == 1
        assert paths.lock_file(session_id).is_relative_to(prodigy_home)
    assert not lock.held and not is_locked(session_id)
    assert read_holder(session_id) is None


def test_same_object_reacquire_is_a_no_op(prodigy_home) -> None:
    lock = ExecutionLock(new_session_id())
    with lock:
        assert lock.acquire() is lock
        assert lock.held
    assert not lock.held
    lock.release()  # releasing twice is harmless


def test_second_acquire_in_another_process_fails_naming_the_holder(holder) -> None:
    session_id, proc = holder
    assert is_locked(session_id)
    with pytest.raises(LockHeldError) as exc:
        ExecutionLock(session_id, purpose="resume").acquire()
    message = exc.value.message
    assert "already in progress" in message
    assert f"pid {proc.pid}" in message and socket.gethostname() in message and "since " in message
    assert exc.value.exit_code == ExitCode.BUSY
    assert "kill" in (exc.value.hint or "")


def test_lock_is_released_when_the_holder_is_sigkilled(holder) -> None:
    session_id, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not is_locked(session_id)
    with ExecutionLock(session_id, purpose="resume") as lock:
        assert lock.held
        assert read_holder(session_id)["pid"] == os.getpid()  # the stale holder info was replaced


def test_two_lock_objects_in_one_process_exclude_each_other(prodigy_home) -> None:
    session_id = new_session_id()
    with ExecutionLock(session_id):
        with pytest.raises(LockHeldError):
            ExecutionLock(session_id).acquire()


def test_lock_of_an_invalid_id_is_refused(prodigy_home) -> None:
    from prodigy.errors import InvalidIdError

    with pytest.raises(InvalidIdError):
        ExecutionLock("../escape")
