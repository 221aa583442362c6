"""Secret hunting: a secret with a quote, a backslash and non-ASCII runs through shell steps, a claude step (the
fake CLI), setup, the map input and reduce, and is looked for, in every encoding it can take (plain,
JSON-escaped, \\u-escaped), in all of PRODIGY_HOME, all output prodigy printed, the process list while the
commands run, and the files left after a kill -9 in the middle of the agent step. It is in none of them.
What stays visible is the environment of one's own processes (/proc/<pid>/environ, readable by the same
user only)."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import psutil
import pytest

import support

pytestmark = pytest.mark.e2e

SECRET = 's3cr3t-"q\\ü-7f3a9-TOKEN'
FORMS = {SECRET, json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=True)[1:-1],
         SECRET.encode("unicode_escape").decode()}

WORKFLOW = """
name: secrets
mode: mapreduce
secrets:
  API_TOKEN: {{provider: env, key: CI_TOKEN}}
setup:
  - shell: "echo setup with ${{API_TOKEN}}"
    capture: greeting
map:
  input: items.json
  json_path: "$[*]"
  agent_template:
    - shell: |
        echo "item ${{item.n}} has ${{API_TOKEN}}"
        echo "${{item_id}}" >> "{ledger}"
        while [ -e "{hold}" ] && [ ${{item.n}} = 1 ]; do sleep 0.05; done
    - claude: "[fake:hold] Use the token ${{API_TOKEN}} for item ${{item.n}}"
  max_parallel: 2
reduce:
  - shell: "echo reduce sees '${{API_TOKEN}}' and `printf %s \\"${{API_TOKEN}}\\"`"
"""

FAILING_INPUT = """
name: bad-input
mode: mapreduce
secrets:
  API_TOKEN: {provider: env, key: CI_TOKEN}
map:
  input: "echo 'cannot reach' ${API_TOKEN} >&2; exit 3"
  agent_template:
    - shell: "true"
"""


def _hunt_files(home: Path) -> list[str]:
    found = []
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes().decode("utf-8", "replace")
            found += [f"{path}: {form!r}" for form in FORMS if form in data]
    return found


def _hunt_processes() -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info.get("cmdline") or [])
        found += [f"pid {proc.info['pid']}: {line[:200]}" for form in FORMS if form in line]
    return found


def _hunt_modes(home: Path) -> list[str]:
    loose = []
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink() or "worktrees" in path.parts:
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                loose.append(f"{path}: {oct(mode)}")
    return loose


def test_a_secret_never_reaches_disk_output_or_the_process_list(work: Path, prodigy_home: Path, fake_claude: Path,
                                                                spawn_prodigy, prodigy) -> None:
    ledger, hold = work / "ledger", work / "hold"
    claude_hold = work / "claude-hold"
    support.write_workflow(work, WORKFLOW.format(ledger=ledger, hold=hold))
    (work / "items.json").write_text(json.dumps([{"n": 0}, {"n": 1}]))
    hold.touch()
    claude_hold.touch()
    env = {"CI_TOKEN": SECRET, "FAKE_CLAUDE_HOLD": str(claude_hold)}
    proc = spawn_prodigy("run", "workflow.yml", "--no-worktree", "-v", cwd=work, env=env)
    support.wait_for_line(ledger, "item_1")  # item_1 held in its shell step, item_0 in its claude step
    support.wait_for(lambda: list(prodigy_home.glob("logs/claude/*/*")), what="an agent log")
    running = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
    assert any("PRODIGY_SECRET_0" in line and "sh" in line for line in running)  # the held shell step
    assert any("claude" in line and "-p" in line for line in running)  # the held agent
    assert _hunt_processes() == []  # argv of every process while the shell and agent commands run
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    assert _hunt_files(prodigy_home) == []  # after a kill mid-step: journal, events, agent log, session ...
    assert not any(form in out + err for form in FORMS)

    hold.unlink()
    claude_hold.unlink()
    code, out, err = prodigy("resume", support.ANY_SESSION_RE.search(
        next(prodigy_home.glob("sessions/*.json")).name).group(), "-v", cwd=work, env=env)
    assert code == 0, (out, err)
    assert "***" in out + err  # the secret was printed by the commands, and masked
    assert not any(form in out + err for form in FORMS)
    assert _hunt_files(prodigy_home) == []
    assert _hunt_modes(prodigy_home) == []  # files 0600, folders 0700

    support.write_workflow(work, FAILING_INPUT, "bad.yml")
    code, out, err = prodigy("run", "bad.yml", "--no-worktree", cwd=work, env=env)
    assert code == 2 and "map input command failed" in out + err and "cannot reach ***" in out + err, (out, err)
    assert not any(form in out + err for form in FORMS)
    assert _hunt_files(prodigy_home) == []
