"""The start-up and per-command fast paths give exactly what the slow ones did: the /proc start time is psutil's,
the pump without a pidfd still sees quick exits and orphans, and plain console output is rich's."""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys
import time

import psutil
import pytest

from prodigy.cli import markup
from prodigy.execution import output_capture, process_groups
from prodigy.execution.process import reap_recorded, run

ENV = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"}


def test_start_time_from_proc_equals_psutil_create_time() -> None:
    compared = 0
    for pid in psutil.pids()[:200]:
        try:
            expected = psutil.Process(pid).create_time()
        except psutil.Error:
            continue
        got = process_groups.process_start_time(pid)
        if got is None:  # exited meanwhile
            continue
        assert got == expected
        compared += 1
    assert compared > 0
    assert process_groups.process_start_time(2**22 + 12345) is None


def test_same_process_sees_zombies_and_reused_times() -> None:
    child = subprocess.Popen(["sleep", "5"])
    try:
        start = psutil.Process(child.pid).create_time()
        assert process_groups.is_same_process(child.pid, start)
        assert not process_groups.is_same_process(child.pid, start - 5)
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # a zombie now, not reaped
        assert not process_groups.is_same_process(child.pid, start)
    finally:
        child.kill()
        child.wait()


def test_reap_recorded_of_a_vanished_group_is_false() -> None:
    child = subprocess.Popen(["true"], start_new_session=True)
    child.wait()
    assert not reap_recorded(child.pid, child.pid, time.time())


@pytest.fixture
def no_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output_capture, "_open_pidfd", lambda pid: None)


@pytest.mark.usefixtures("no_pidfd")
def test_without_pidfd_quick_exits_and_orphans_still_work() -> None:
    began = time.monotonic()
    for _ in range(20):
        assert run(["true"], cwd="/", env=ENV).ok
    assert time.monotonic() - began < 5
    # a background child keeps the pipes open: the leader's exit ends the command after the orphan drain
    result = run(["sh", "-c", "sleep 30 & echo started"], cwd="/", env=ENV)
    assert result.ok and result.stdout == "started\n"
    # the leader closes its pipes and goes on: its exit is still seen
    result = run(["sh", "-c", "exec >/dev/null 2>&1; sleep 0.2; exit 4"], cwd="/", env=ENV)
    assert result.exit_code == 4


def test_with_pidfd_the_leader_exit_ends_the_wait_at_once() -> None:
    if output_capture._open_pidfd(os.getpid()) is None:
        pytest.skip("no pidfd here")
    result = run(["sh", "-c", "exec >/dev/null 2>&1; sleep 0.2; exit 4"], cwd="/", env=ENV)
    assert result.exit_code == 4 and result.duration < 1.0
    began = time.monotonic()
    for _ in range(20):
        assert run(["true"], cwd="/", env=ENV).ok
    assert time.monotonic() - began < 5


def _rich(text: str) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        Console(highlight=False, soft_wrap=True).print(text)
    return buffer.getvalue()


def test_plain_output_is_what_rich_prints() -> None:
    from rich.markup import escape as rich_escape

    pieces = ["a", " ", "[", "]", "/", "\\", ":", ":smile:", "[bold]", "[/bold]", "[/]", "[green]", "[/green]",
              "[b]", "[/b]", "[bold red]", "[link=http://x]", "[@click]", "[1/3]", "\n", "\t", "\r", "✔", "日本",
              "\x1b[0m", "12:05:01", "[item_0 stderr]", "x" * 150, "\x07", "[#ff0000]", "[ bold ]", "[Bold]",
              "[foo]", "[/foo]"]
    rng = random.Random(7)
    samples = ["Session: [bold]s-1[/bold]", "[cyan]→[/cyan] [1/3] step", "  [green]✔[/green] done in 0.1s", "",
               "[yellow]Warning:[/yellow] " + markup.escape("a [red] b \\ c")]
    samples += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 7))) for _ in range(3000)]
    fast = 0
    for text in samples + [markup.escape(s) for s in samples[:500]]:
        assert markup.escape(text) == rich_escape(text)
        got = markup.plain(text)
        if got is None:
            continue
        fast += 1
        assert got + "\n" == _rich(text), repr(text)
    assert fast > 500


def test_plain_stream_only_for_a_pipe_without_forced_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    assert markup.plain_stream(False) is buffer
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert markup.plain_stream(False) is None
