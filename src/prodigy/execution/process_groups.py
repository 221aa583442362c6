"""Process identity and group termination: is a recorded pid still the process that was recorded, and
kill a command's whole process group. Used by `process.run` and by resume after a hard kill."""

from __future__ import annotations

import os
import signal as signals
import time

import psutil

_SAME_TIME = 0.01  # psutil create_time has clock-tick (10 ms) resolution


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
