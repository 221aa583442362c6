"""Helpers shared by the CLI and end-to-end tests (imported as `support`; tests/ is on sys.path)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

REAL_HOME = Path(os.path.expanduser("~")).absolute()  # read at import, before any test changes HOME
REAL_PRODIGY = REAL_HOME / ".prodigy"
FAKE_CLAUDE_DIR = Path(__file__).parent / "fake_claude"
FAKE_CLAUDE = FAKE_CLAUDE_DIR / "claude"
SESSION_RE = re.compile(r"Session: (session-[0-9a-f-]{36})")
ANY_SESSION_RE = re.compile(r"session-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def prodigy_command() -> list[str]:
    """The installed console script: the one beside this interpreter, else on PATH, else `python -m`."""
    beside = Path(sys.executable).parent / "prodigy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("prodigy")
    return [found] if found else [sys.executable, "-m", "prodigy"]


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ (PRODIGY_HOME and HOME already point at tmp via the autouse fixture) plus `env`."""
    merged = dict(os.environ)
    merged.setdefault("NO_COLOR", "1")
    merged.update(env or {})
    assert merged.get("PRODIGY_HOME"), "PRODIGY_HOME must be set for a prodigy subprocess"
    return merged


def run_prodigy(*args: str, cwd: Path | str, env: dict[str, str] | None = None,
                timeout: float = 60) -> tuple[int, str, str]:
    proc = subprocess.run([*prodigy_command(), *args], cwd=cwd, env=child_env(env), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def git(cwd: Path | str, *args: str, check: bool = True) -> str:
    """git in a test's own repository: its stdout, stripped."""
    return subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True).stdout.strip()


def spawn_prodigy(*args: str, cwd: Path | str, env: dict[str, str] | None = None,
                  prefix: list[str] | None = None) -> subprocess.Popen[str]:
    """Start prodigy without waiting (for kill and concurrency tests); text-mode pipes."""
    return subprocess.Popen([*(prefix or []), *prodigy_command(), *args], cwd=cwd, env=child_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")


def write_workflow(folder: Path, text: str, name: str = "workflow.yml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def session_id_from(output: str) -> str:
    """The id from the first line of `prodigy run` output ("Session: session-...")."""
    first = output.splitlines()[0] if output else ""
    match = SESSION_RE.search(first)
    assert match, f"no 'Session: session-...' on the first line of:\n{output}"
    return match.group(1)


def wait_for(condition: Callable[[], object], timeout: float = 15.0, interval: float = 0.02,
             what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def journal_records(path: Path) -> list[dict]:
    """A job journal's records as prodigy reads them (a compact start row is its start record); damaged
    lines, and a last line still being written, are left out."""
    from prodigy.state.records import BadRecord, decode_journal_line

    found = []
    for raw in path.read_bytes().splitlines():
        try:
            found.append(decode_journal_line(raw))
        except BadRecord:
            continue
    return found


def started_items(home: Path) -> int:
    """Start records in every job journal under PRODIGY_HOME `home`."""
    return sum(1 for journal in home.glob("state/*/mapreduce/jobs/*/journal.jsonl")
               for record in journal_records(journal) if record.get("t") == "start")


def ledger_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def wait_for_line(path: Path, line: str, timeout: float = 15.0) -> None:
    wait_for(lambda: line in ledger_lines(path), timeout, what=f"{line!r} in {path}")


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"prodigy did not finish in {timeout}s\nstdout:\n{out}\nstderr:\n{err}") from None
    return proc.returncode, out, err


def read_ledger_json(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in ledger_lines(path) if line.strip()]
