"""docs/ci.md's recipe, followed end to end (issue 22's "done when"): its script block, read from the page, run as
two CI runners. Runner 1 (clone A, home H1) is stopped by its budget with items still running and saves the
archive; runner 2 (clone B at another path, empty home H2) gets the state folder "restored" and finishes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import mr_support as mr
import portable_support as pt
import pytest
from test_portable_e2e import mapreduce_files, runners

import support

pytestmark = pytest.mark.e2e

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
BLOCK = re.compile(r"<!-- prodigy-ci.sh: start -->\n```sh\n(.*?)```\n<!-- prodigy-ci.sh: end -->", re.S)


def recipe(tmp_path: Path) -> Path:
    match = BLOCK.search(DOC.read_text(encoding="utf-8"))
    assert match, f"no prodigy-ci.sh block in {DOC}"
    script = tmp_path / "prodigy-ci.sh"
    script.write_text(match.group(1), encoding="utf-8")
    return script


def runner(script: Path, checkout: Path, home: Path, state: Path, env: dict[str, str]) -> tuple[int, str, str, float]:
    bin_dir = str(Path(support.prodigy_command()[0]).parent)
    started = time.monotonic()
    proc = subprocess.run(["sh", str(script), "workflow.yml", str(state)], cwd=checkout, stdin=subprocess.DEVNULL,
                          env=support.child_env({"PRODIGY_HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}",
                                                 **env}),
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


def test_the_ci_recipe_carries_a_job_across_two_runners(tmp_path: Path, marker: str) -> None:
    script = recipe(tmp_path)
    files, ledger = mapreduce_files(tmp_path, marker, count=5)
    a, h1, b, h2 = runners(tmp_path, files)
    hold = tmp_path / "hold"
    hold.touch()  # items 2-4 wait on runner 1 until its budget runs out
    state_1 = tmp_path / "runner-1" / "state"
    code, out, err, _took = runner(script, a, h1, state_1,
                                   {"PRODIGY_CI_BUDGET": "6s", "LIMIT": "2", "HOLD": str(hold)})
    assert code == 75, out + err
    assert "is not finished (exit 130); state saved, run the job again" in err
    assert (state_1 / "session.tar.gz").is_file()
    done_on_1 = pt.succeeded(h1)
    assert done_on_1 == {0, 1}
    assert not mr.marker_processes(marker)  # the orderly stop ended the running items
    ran_on_1 = mr.starts(ledger)

    state_2 = tmp_path / "runner-2" / "state"
    shutil.copytree(state_1, state_2)  # the CI cache / artifact, restored on the next runner
    hold.unlink()
    code, out, err, _took = runner(script, b, h2, state_2, {"PRODIGY_CI_BUDGET": "60s", "LIMIT": "2",
                                                            "HOLD": str(hold)})
    assert code == 0, out + err
    assert "finished" in out and not (state_2 / "session.tar.gz").exists()
    job_id = next(p.name for p in h2.glob("state/*/mapreduce/jobs/*"))
    assert pt.merge_subjects(b) == Counter(f"prodigy: merge item_{i} of {job_id}" for i in range(5))
    # Runner 2 ran each item runner 1 had not completed exactly once, and none that it had completed.
    assert mr.starts(ledger) - ran_on_1 == Counter({f"item_{i}": 1 for i in range(5) if i not in done_on_1})
    assert pt.git(b, "branch", "--list", "prodigy-*") == ""


AGENT_JOB = """\
name: agents
mode: mapreduce
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - claude: "/fix item ${item.n}"
"""


def test_a_stop_that_needs_a_fix_is_not_retried_blindly(tmp_path: Path, fake_claude: Path) -> None:
    script = recipe(tmp_path)
    a, h1, b, h2 = runners(tmp_path, {"workflow.yml": AGENT_JOB, "items.json": '[{"n": 0}, {"n": 1}, {"n": 2}]'})
    state_1 = tmp_path / "runner-1" / "state"
    code, out, err, _took = runner(script, a, h1, state_1, {"ANTHROPIC_API_KEY": "bad-key"})
    assert code == 78, out + err  # the agent cannot authenticate: retrying the job as it is would not help
    assert "stopped:" in err and (state_1 / "session.tar.gz").is_file()
    state_2 = tmp_path / "runner-2" / "state"
    shutil.copytree(state_1, state_2)
    code, out, err, _took = runner(script, b, h2, state_2, {"ANTHROPIC_API_KEY": "good-key"})
    assert code == 0, out + err
    assert pt.succeeded(h1) == set() and pt.succeeded(h2) == {0, 1, 2}
    assert not (state_2 / "session.tar.gz").exists()
