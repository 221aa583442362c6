"""Process identity and group termination: is a recorded pid still the process that was recorded, and
kill a command's whole process group. Used by `process.run` and by resume after a hard kill."""

from __future__ import annotations

import os
import signal as signals
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

# psutil is imported where it is used: the start gate of every command reads /proc directly (Linux), so a run
# whose commands exit cleanly never pays for importing it.

_SAME_TIME = 0.01  # psutil create_time has clock-tick (10 ms) resolution
_PROCFS = sys.platform.startswith("linux") and os.path.exists("/proc/self/stat")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if _PROCFS else 100


def process_start_time(pid: int) -> float | None:
    """create_time of `pid` (zombies included), None if there is no such process."""
    if _PROCFS:
        try:
            return _proc_stat(pid)[1]
        except (FileNotFoundError, ProcessLookupError):
            return None
        except (OSError, ValueError, IndexError):
            pass  # an unusual /proc: ask psutil
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _proc_stat(pid: int) -> tuple[bytes, float]:
    """(state letter, create time) of `pid` from /proc/PID/stat. The create time is psutil's, computed the same
    way from the same sources, so equal to the last bit: field 22 (starttime, clock ticks after boot) /
    SC_CLK_TCK + btime of /proc/stat. psutil's status "zombie" is state Z."""
    fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    # The name (field 2) is in parentheses and may contain spaces and parentheses: split after the last ")".
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0], float(fields[19]) / _CLOCK_TICKS + _boot_time()


_BOOT_TIME: tuple[float, float] | None = None  # (btime, monotonic time it was read)
_BOOT_TIME_FOR = 60.0


def _boot_time() -> float:
    """psutil.boot_time() on Linux (the btime of /proc/stat, so the sum is psutil's create_time to the last
    bit), read at most once a minute: reading it for every command's start cost a file read each. The kernel
    recomputes btime from the wall clock, so a clock step moves it; a minute is as stale as it may get."""
    global _BOOT_TIME
    now = time.monotonic()
    if _BOOT_TIME is None or now - _BOOT_TIME[1] >= _BOOT_TIME_FOR:
        with open("/proc/stat", "rb") as stat:
            for line in stat:
                if line.startswith(b"btime"):
                    _BOOT_TIME = (float(line.strip().split()[1]), now)
                    break
            else:
                raise ValueError("no btime line in /proc/stat")
    return _BOOT_TIME[0]


def start_time_offset() -> float:
    """What to add to a recorded start time (`process_start_time`, psutil's create_time) to get the wall clock
    time the process started: the kernel's btime is whole seconds, so create_time runs up to a second early.
    Journaled once per run (the `sto` of `run`/`resume` records) for the readers that show start times."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    if not _PROCFS or clock is None:
        return 0.0
    try:
        return round(time.time() - time.clock_gettime(clock) - _boot_time(), 3)
    except (OSError, ValueError):
        return 0.0


def is_same_process(pid: int, start_time: float) -> bool:
    """True if `pid` is alive and is the process that started at `start_time` (not a reused pid)."""
    if _PROCFS:
        try:
            state, created = _proc_stat(pid)
        except (FileNotFoundError, ProcessLookupError):
            return False
        except (OSError, ValueError, IndexError):
            pass  # an unusual /proc: ask psutil
        else:
            return state != b"Z" and abs(created - start_time) <= _SAME_TIME
    import psutil

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
    if pid == pgid and not _group_exists(pgid):
        # No process at all is in the group (zombies included). The leader never leaves its group (it is a session
        # leader), so a process now at `pid` is another one, and there is nothing to end.
        return False
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


def _group_exists(pgid: int) -> bool:
    """Some process (of any user, zombies included) is in group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _live_members(pgid: int) -> list[psutil.Process]:
    """Processes in group `pgid`, excluding zombies (which hold nothing and cannot be killed)."""
    import psutil

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
    import psutil

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
