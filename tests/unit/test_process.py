"""Behaviour of the one subprocess wrapper: the start gate, capture, timeouts, groups, reaping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from pathlib import Path

import psutil
import pytest

from prodigy.execution.process import (
    ProcessResult,
    StartInfo,
    is_same_process,
    process_start_time,
    reap_recorded,
    run,
    terminate_group,
)

ENV = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"}


def sh(script: str, *args: str, **kwargs: object) -> ProcessResult:
    kwargs.setdefault("cwd", "/")
    kwargs.setdefault("env", ENV)
    return run(["sh", "-c", script, "sh", *args], **kwargs)  # type: ignore[arg-type]


def gone(pid: int, within: float = 3.0) -> bool:
    """True once `pid` no longer runs; a zombie counts as gone (nothing may reap it in a container)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


# --- exit codes, capture, argv, stdin, env, cwd ----------------------------------------------


def test_exit_codes_and_ok() -> None:
    assert sh("exit 0").ok
    failed = sh("exit 3")
    assert failed.exit_code == 3 and not failed.ok
    assert failed.signal is None and failed.start_error is None


def test_killed_by_signal_has_no_exit_code() -> None:
    result = sh("kill -9 $$")
    assert result.exit_code is None and result.signal == signal.SIGKILL and not result.ok


def test_captures_stdout_and_stderr_separately() -> None:
    result = sh("echo out; echo err >&2; printf 'no newline'")
    assert result.stdout == "out\nno newline"
    assert result.stderr == "err\n"
    assert (result.stdout_bytes, result.stderr_bytes) == (14, 4)


def test_argv_is_preserved_exactly_through_the_gate() -> None:
    args = ["a b", 'say "hi"', "it's", "new\nline", "", "  ", "$HOME", "*", "-c", "\\n", "é"]
    result = run(
        [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *args],
        cwd="/",
        env=ENV,
    )
    assert result.ok, result.stderr
    assert json.loads(result.stdout) == args


def test_stdin_defaults_to_dev_null() -> None:
    result = run(["cat"], cwd="/", env=ENV, timeout=10)
    assert result.ok and result.stdout == "" and result.duration < 2
    assert sh("readlink /proc/self/fd/0").stdout.strip() == "/dev/null"


def test_stdin_data_reaches_the_command_after_the_gate_line() -> None:
    assert run(["cat"], cwd="/", env=ENV, stdin_data=b"hello\nworld").stdout == "hello\nworld"
    assert run(["cat"], cwd="/", env=ENV, stdin_data=b"\n\nx").stdout == "\n\nx"


def test_large_stdin_and_stdout_at_once_do_not_deadlock() -> None:
    data = os.urandom(3 * 1024 * 1024)
    result = run(["cat"], cwd="/", env=ENV, stdin_data=data, timeout=20, output_cap=len(data))
    assert result.ok and result.stdout_bytes == len(data)


def test_command_that_ignores_its_stdin_data_is_fine() -> None:
    result = sh("exit 0", stdin_data=b"x" * (2 * 1024 * 1024), timeout=10)
    assert result.ok


def test_env_and_cwd_are_applied(tmp_path: Path) -> None:
    result = sh('echo "$FOO"; pwd -P; echo "${HOME-unset}"', cwd=tmp_path, env={**ENV, "FOO": "bar baz"})
    assert result.stdout.splitlines() == ["bar baz", str(tmp_path.resolve()), "unset"]


def test_relative_executable_resolves_against_cwd(tmp_path: Path) -> None:
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho tool ran\n")
    script.chmod(0o755)
    assert run(["./tool.sh"], cwd=tmp_path, env=ENV).stdout == "tool ran\n"


# --- start errors -----------------------------------------------------------------------------


def test_missing_executable_is_a_start_error() -> None:
    result = run(["claude-does-not-exist", "-p"], cwd="/", env=ENV)
    assert result.start_error == "executable not found: claude-does-not-exist"
    assert result.exit_code is None and not result.ok


def test_missing_cwd_is_a_start_error(tmp_path: Path) -> None:
    result = run(["true"], cwd=tmp_path / "nope", env=ENV)
    assert result.start_error is not None and "working directory not found" in result.start_error


def test_non_executable_file_is_a_start_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("touch ran\n")
    result = run(["./plain"], cwd=tmp_path, env=ENV)
    assert result.start_error is not None and "not executable" in result.start_error
    assert run([str(tmp_path / "missing")], cwd=tmp_path, env=ENV).start_error is not None
    assert not (tmp_path / "ran").exists()


def test_empty_argv_and_nul_bytes_are_start_errors() -> None:
    assert run([], cwd="/", env=ENV).start_error == "empty command"
    assert run(["echo", "a\0b"], cwd="/", env=ENV).start_error is not None


# --- timeouts, groups, interrupts ---------------------------------------------------------------


def test_timeout_kills_the_whole_group() -> None:
    result = sh("sleep 30 & echo $!; sleep 30", timeout=0.5, grace=0.5)
    assert result.timed_out and not result.ok and result.duration < 5
    grandchild = int(result.stdout.split()[0])
    assert gone(grandchild)


def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored() -> None:
    result = sh("trap '' TERM; echo ready; sleep 30", timeout=0.3, grace=0.3)
    assert result.timed_out and result.signal == signal.SIGKILL and result.duration < 5


def test_background_child_holding_the_pipes_does_not_hang() -> None:
    started = time.monotonic()
    result = sh("sleep 100 & echo $!")
    assert time.monotonic() - started < 4
    assert result.exit_code == 0 and result.ok
    assert gone(int(result.stdout.strip()))


def test_detached_background_child_ends_with_the_step() -> None:
    result = sh("sleep 100 >/dev/null 2>&1 & echo $!")
    assert result.ok and result.duration < 2
    assert gone(int(result.stdout.strip()))


def test_stop_event_interrupts() -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    result = sh("sleep 30 & echo $!; sleep 30", stop_event=stop, grace=0.5)
    assert result.interrupted and not result.timed_out and not result.ok
    assert result.duration < 3
    assert gone(int(result.stdout.split()[0]))


def test_stop_event_already_set_runs_nothing(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    result = sh('touch "$1"', str(tmp_path / "marker"), stop_event=stop)
    assert result.interrupted and result.exit_code is None
    assert not (tmp_path / "marker").exists()


# --- output handling ----------------------------------------------------------------------------


def test_huge_output_keeps_only_the_tail_in_bounded_memory() -> None:
    tracemalloc.start()
    try:
        result = sh("head -c 50000000 /dev/zero | tr '\\0' 'a'; printf END", timeout=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.ok
    assert result.stdout_bytes == 50_000_003
    assert len(result.stdout) == 256 * 1024
    assert result.stdout.endswith("aaaEND") and set(result.stdout[:-3]) == {"a"}
    assert peak < 8 * 1024 * 1024


def test_output_cap_is_respected_per_stream() -> None:
    result = sh("seq 1 1000; seq 1 1000 >&2", output_cap=10)
    assert result.stdout == "\n999\n1000\n"[-10:] and result.stderr == result.stdout
    assert result.stdout_bytes == result.stderr_bytes == len("".join(f"{i}\n" for i in range(1, 1001)))


def test_invalid_utf8_and_nul_bytes_are_replaced_not_fatal() -> None:
    lines: list[tuple[str, str]] = []
    result = sh(r"printf 'ok\377\376 \000x\n'; printf '\303' >&2", on_line=lambda *line: lines.append(line))
    assert result.ok
    assert result.stdout == "ok\ufffd\ufffd \x00x\n"
    assert result.stderr == "\ufffd"
    assert ("stdout", "ok\ufffd\ufffd \x00x") in lines


def test_tail_does_not_start_with_half_a_character() -> None:
    result = sh("printf 'ééééé'", output_cap=5)  # 10 bytes: the cut lands inside a character
    assert result.stdout == "éé"


def test_on_line_receives_lines_from_both_streams() -> None:
    lines: list[tuple[str, str]] = []
    result = sh("echo one; echo two >&2; printf 'three\\nfour'", on_line=lambda s, t: lines.append((s, t)))
    assert result.ok
    assert [t for s, t in lines if s == "stdout"] == ["one", "three", "four"]
    assert [t for s, t in lines if s == "stderr"] == ["two"]


def test_on_line_splits_very_long_lines_on_character_boundaries() -> None:
    lines: list[str] = []
    sh("printf '%s\\n' \"$1\"", "é" * 50_000, on_line=lambda _s, t: lines.append(t))  # 100 KB line
    assert "".join(lines) == "é" * 50_000
    assert len(lines) == 2 and "\ufffd" not in "".join(lines)
    assert all(len(t.encode()) <= 64 * 1024 for t in lines)


def test_stdout_path_gets_the_full_raw_output(tmp_path: Path) -> None:
    log = tmp_path / "agent.jsonl"
    result = sh("seq 1 100000; printf '\\377'", output_cap=16, stdout_path=log)
    expected = "".join(f"{i}\n" for i in range(1, 100_001)).encode() + b"\xff"
    assert log.read_bytes() == expected
    assert result.stdout_bytes == len(expected)
    assert result.stdout == "8\n99999\n100000\n\ufffd"  # the last 16 bytes, decoded


def test_on_line_exception_kills_the_command_and_propagates() -> None:
    def explode(_stream: str, _line: str) -> None:
        raise RuntimeError("renderer broke")

    with pytest.raises(RuntimeError, match="renderer broke"):
        sh("echo $$; exec sleep 30", on_line=explode, grace=0.5)


# --- the start gate -----------------------------------------------------------------------------


def test_on_start_sees_the_gated_process_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    seen: list[tuple[StartInfo, bool, float | None]] = []

    def record(info: StartInfo) -> None:
        time.sleep(0.2)  # the command must still be waiting at the gate
        seen.append((info, marker.exists(), process_start_time(info.pid)))

    result = sh('touch "$1"; echo $$', str(marker), on_start=record)
    info, ran_early, start_time = seen[0]
    assert not ran_early and marker.exists()
    assert info.pid == info.pgid and info.start_time == start_time
    assert int(result.stdout) == info.pid  # exec kept the recorded pid


def test_on_start_raising_means_the_command_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    recorded: list[StartInfo] = []

    def fail(info: StartInfo) -> None:
        recorded.append(info)
        raise OSError("journal disk full")

    with pytest.raises(OSError, match="journal disk full"):
        sh('touch "$1"', str(marker), on_start=fail)
    assert gone(recorded[0].pid)
    time.sleep(0.1)
    assert not marker.exists()


GATE_ORPHAN = textwrap.dedent(
    """
    import os, sys
    from prodigy.execution.process import run

    marker, pid_file = sys.argv[1:3]

    def die(info):
        with open(pid_file, "w") as f:
            f.write(str(info.pid))
        os._exit(7)  # prodigy is SIGKILLed after recording, before releasing the gate

    run(["sh", "-c", 'touch "$1"', "sh", marker], cwd="/", env=dict(os.environ), on_start=die)
    """
)


def test_gate_reads_eof_when_prodigy_dies_before_release(tmp_path: Path) -> None:
    marker, pid_file = tmp_path / "marker", tmp_path / "pid"
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", GATE_ORPHAN, str(marker), str(pid_file)], env=env, timeout=30, check=False
    )
    assert done.returncode == 7
    assert gone(int(pid_file.read_text()))
    time.sleep(0.1)
    assert not marker.exists()


# --- process identity, terminate_group, reap_recorded ------------------------------------------


def spawn_group(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sh", "-c", script], start_new_session=True, stdout=subprocess.PIPE)


def test_process_identity_helpers() -> None:
    me = os.getpid()
    start = process_start_time(me)
    assert start is not None and is_same_process(me, start)
    assert not is_same_process(me, start - 5)
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert process_start_time(proc.pid) is None and not is_same_process(proc.pid, start)


def test_terminate_group_kills_every_member() -> None:
    proc = spawn_group("sleep 30 & echo $!; sleep 30")
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    terminate_group(proc.pid, grace=0.5)
    assert proc.wait(timeout=5) == -signal.SIGTERM
    assert gone(child)
    terminate_group(proc.pid, grace=0.5)  # already gone: no error


def test_reap_recorded_kills_a_live_recorded_group() -> None:
    proc = spawn_group("sleep 30 & echo $!; sleep 30")
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    start = process_start_time(proc.pid)
    assert start is not None
    assert reap_recorded(proc.pid, proc.pid, start, grace=0.5)
    proc.wait(timeout=5)
    assert gone(child)


def test_reap_recorded_kills_descendants_when_the_leader_is_gone() -> None:
    proc = spawn_group("sleep 30 & echo $!")
    assert proc.stdout is not None
    start = process_start_time(proc.pid)
    child = int(proc.stdout.readline())
    proc.wait(timeout=5)  # leader reaped; its background child keeps the group alive
    assert start is not None and not gone(child, within=0.1)
    assert reap_recorded(proc.pid, proc.pid, start, grace=0.5)
    assert gone(child)


def test_reap_recorded_returns_false_when_nothing_is_left() -> None:
    proc = spawn_group("exit 0")
    start = process_start_time(proc.pid)
    proc.wait(timeout=5)
    assert start is not None
    assert not reap_recorded(proc.pid, proc.pid, start, grace=0.5)


def test_reap_recorded_never_kills_a_process_that_reused_the_pid() -> None:
    proc = spawn_group("sleep 30")
    try:
        start = process_start_time(proc.pid)
        assert start is not None
        # A recording from an older process that had this pid, and one from a "future" process.
        assert not reap_recorded(proc.pid, proc.pid, start - 100, grace=0.5)
        assert not reap_recorded(proc.pid, proc.pid, start + 100, grace=0.5)
        time.sleep(0.1)
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- concurrency ----------------------------------------------------------------------------------


def test_many_concurrent_runs_from_eight_threads() -> None:
    failures: list[str] = []

    def worker(thread: int) -> None:
        for i in range(6):
            n = thread * 100 + i
            result = sh('echo "out $1"; echo "err $1" >&2; exit $(($1 % 3))', str(n), timeout=20)
            if (result.stdout, result.stderr, result.exit_code) != (f"out {n}\n", f"err {n}\n", n % 3):
                failures.append(f"{n}: {result}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures


# --- `sh -c SCRIPT`: the script runs in the gate shell itself (one exec) ----------------------------------

SCRIPTS = ['echo "$0 $#"', "exit 3", "no_such_command_here", "if then", "echo a\nno_such_command_here",
           "echo $LINENO; echo $LINENO", "", "read x; echo \"[$x]\"", "# a comment\necho after",
           "cat <<EOF\nhere\nEOF", "case x in\n x) echo matched;;\nesac", "set -e; false; echo never"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_shell_script_behind_the_gate_is_what_sh_c_gives(script: str) -> None:
    got = run(["/bin/sh", "-c", script], cwd="/", env=ENV)
    want = subprocess.run(["/bin/sh", "-c", script], cwd="/", env=ENV, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=False)
    assert (got.exit_code, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)


def test_a_shell_script_costs_one_exec_and_keeps_the_recorded_pid(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    seen: list[tuple[StartInfo, bool]] = []

    def record(info: StartInfo) -> None:
        time.sleep(0.2)  # the script must still be waiting at the gate
        seen.append((info, marker.exists()))

    result = run(["/bin/sh", "-c", f'touch {marker}; echo $$; tr "\\0" " " </proc/$$/cmdline'], cwd="/",
                 env=ENV, on_start=record)
    info, ran_early = seen[0]
    pid, cmdline = result.stdout.split("\n", 1)
    assert not ran_early and marker.exists() and int(pid) == info.pid
    assert "read -r _go" in cmdline  # the gate shell itself runs the script: no second sh was exec'd
    assert run(["/bin/sh", "-c", "cat"], cwd="/", env=ENV, stdin_data=b"data\n").stdout == "data\n"


def test_a_shell_scripts_gate_reads_eof_when_prodigy_dies_before_release(tmp_path: Path) -> None:
    marker, pid_file = tmp_path / "marker", tmp_path / "pid"
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = GATE_ORPHAN.replace("""["sh", "-c", 'touch "$1"', "sh", marker]""", """["/bin/sh", "-c", "touch " + marker]""")
    assert code != GATE_ORPHAN
    done = subprocess.run([sys.executable, "-c", code, str(marker), str(pid_file)], env=env, timeout=30,
                          check=False)
    assert done.returncode == 7
    assert gone(int(pid_file.read_text()))
    time.sleep(0.1)
    assert not marker.exists()


def test_a_shell_that_went_after_its_first_run_is_still_a_clear_start_error(tmp_path: Path) -> None:
    shell = tmp_path / "sh"
    shell.symlink_to("/bin/sh")
    assert run([str(shell), "-c", "echo ran"], cwd=tmp_path, env=ENV).stdout == "ran\n"  # checked, remembered
    shell.unlink()
    result = run([str(shell), "-c", "echo ran"], cwd=tmp_path, env=ENV)
    assert result.exit_code is None and not result.ok
    assert result.start_error is not None and result.start_error.startswith(f"cannot start {shell}")
    assert "No such file" in result.start_error
