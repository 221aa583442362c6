"""Output that never loses work (issue 17, section 2), through the installed CLI: a closed stdout, an ASCII-only
terminal, TERM=dumb. Terminals are real pseudo-terminals (os.openpty)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import mr_support as mr
import pytest

import support

pytestmark = pytest.mark.e2e

ANSI_CURSOR = ("\x1b[?25l", "\x1b[2K", "\x1b[1A")  # hide cursor, erase line, cursor up: a live display


def items_workflow(work: Path, ledger: Path, count: int = 6, *, fail_file: Path | None = None) -> Path:
    (work / "items.json").write_text(json.dumps(list(range(count))))
    fail = f'if [ -e "{fail_file}" ] && [ $(( ${{item}} % 2 )) -eq 1 ]; then exit 1; fi; ' if fail_file else ""
    return support.write_workflow(work, f"""
        name: output
        mode: mapreduce
        map:
          input: items.json
          max_parallel: 2
          agent_template:
            - shell: '{fail}echo "item ${{item}} says hello"; sleep 0.1; echo "ran ${{item}}" >> "{ledger}"'
        """)


def shell(command: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    prodigy = " ".join(support.prodigy_command())
    return subprocess.run(["bash", "-c", command.replace("prodigy ", f"{prodigy} ", 1)], cwd=cwd,
                          env=support.child_env(env), capture_output=True, text=True, timeout=60)


def in_pty(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run prodigy with stdout and stderr on a pseudo-terminal; return its exit code and everything it wrote."""
    master, slave = os.openpty()
    proc = subprocess.Popen([*support.prodigy_command(), *args], cwd=cwd, env=support.child_env(env),
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def ran(ledger: Path) -> list[str]:
    return sorted(ledger.read_text().splitlines()) if ledger.exists() else []


def test_head_closing_the_pipe_never_loses_a_completion(work: Path, prodigy_home: Path) -> None:
    ledger, fail = work / "ledger.txt", work / "fail"
    fail.touch()  # odd items fail on the first run
    items_workflow(work, ledger, fail_file=fail)
    result = shell("prodigy -v run workflow.yml -y | head -2; exit ${PIPESTATUS[0]}", cwd=work)
    assert result.returncode == 3, result.stdout + result.stderr  # the run's own exit code: items in the DLQ
    assert len(result.stdout.splitlines()) == 2
    assert "the output was closed (stdout: the reader of the pipe exited)" in result.stderr
    assert ran(ledger) == ["ran 0", "ran 2", "ran 4"]
    session_id = support.session_id_from(result.stdout)
    record = json.loads((prodigy_home / "sessions" / f"{session_id}.json").read_text())
    assert record["status"] == "completed" and record["exit_code"] == 3
    job_id = record["job_id"]
    assert mr.job_state(job_id).indexes("dlq") == [1, 3, 5]

    fail.unlink()
    result = shell(f"prodigy resume-job {job_id} --force -y | head -1; exit ${{PIPESTATUS[0]}}", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ran(ledger) == [f"ran {i}" for i in range(6)]  # every item exactly once across run and resume
    assert mr.job_state(job_id).indexes("succeeded") == list(range(6))
    assert json.loads((prodigy_home / "sessions" / f"{session_id}.json").read_text())["status"] == "completed"


def test_a_closed_stdout_and_a_closed_stderr(work: Path, prodigy_home: Path) -> None:
    ledger = work / "ledger.txt"
    items_workflow(work, ledger, count=3)
    result = shell("prodigy run workflow.yml -y >&-", cwd=work)
    assert result.returncode == 0, result.stderr
    result = shell("prodigy run workflow.yml -y 2>&-", cwd=work)
    assert result.returncode == 0 and "Done: 3 of 3 item(s) succeeded" in result.stdout
    assert len(ran(ledger)) == 6


def test_an_ascii_terminal_gets_ascii_glyphs(work: Path, prodigy_home: Path) -> None:
    ledger = work / "ledger.txt"
    items_workflow(work, ledger, count=3)
    code, out = in_pty("run", "workflow.yml", "-y", cwd=work, env={"PYTHONIOENCODING": "ascii", "TERM": "xterm"})
    assert code == 0, out
    assert "Done: 3 of 3 item(s) succeeded" in out and "Internal error" not in out
    assert "✔" not in out and "\ufffd" not in out
    code, out, err = support.run_prodigy("run", "workflow.yml", "-y", cwd=work, env={"PYTHONIOENCODING": "ascii"})
    assert code == 0 and "  item_0 ok " in out and "✔" not in out, out + err


def test_term_dumb_prints_plain_per_item_lines(work: Path, prodigy_home: Path) -> None:
    ledger = work / "ledger.txt"
    items_workflow(work, ledger, count=4)
    code, out = in_pty("run", "workflow.yml", "-y", cwd=work, env={"TERM": "dumb"})
    assert code == 0, out
    lines = [line.rstrip("\r") for line in out.splitlines()]
    assert sorted(line.split()[0] for line in lines if line.startswith("  item_")) == [f"item_{i}" for i in range(4)]
    done = next(i for i, line in enumerate(lines) if line.startswith("Done:"))
    items = [i for i, line in enumerate(lines) if line.startswith("  item_")]
    assert lines.index("Map    4 item(s)") < min(items) and max(items) < done  # each line as its item ends
    assert not any(code in out for code in ANSI_CURSOR)
    code, out = in_pty("run", "workflow.yml", "-y", cwd=work, env={"TERM": "xterm"})  # a real terminal: live
    assert code == 0 and any(code in out for code in ANSI_CURSOR)


def test_ctrl_c_typed_at_a_terminal_leaves_one_bar_line(work: Path, prodigy_home: Path) -> None:
    """Ctrl-C on a real (emulated) 80-column terminal: the ^C it echoes must not push the bar onto a second line
    that stays on screen."""
    pyte = pytest.importorskip("pyte", reason="pyte (the test extra) emulates the terminal")
    ledger = work / "ledger.txt"
    items_workflow(work, ledger, count=40)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([*support.prodigy_command(), "run", "workflow.yml", "-y"], cwd=work,
                            env=support.child_env({"TERM": "xterm"}), stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=controlling_terminal)
    os.close(slave)
    screen = pyte.Screen(80, 40)
    stream = pyte.ByteStream(screen)
    typed = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not typed and ledger.exists() and len(ledger.read_text().splitlines()) >= 4:
            os.write(master, b"\x03")  # the user presses Ctrl-C: the terminal sends SIGINT and echoes ^C
            typed = True
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            stream.feed(data)
        elif proc.poll() is not None:
            break
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    os.close(master)
    assert proc.wait(timeout=30) == 130 and typed
    shown = [line.rstrip() for line in screen.display]
    assert len([line for line in shown if line.startswith("Map ")]) == 1, "\n".join(shown)
    assert any(line.startswith("■ Run interrupted during map") for line in shown)
