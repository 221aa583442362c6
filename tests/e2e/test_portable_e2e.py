"""A session carried to a fresh machine (issue 22): `sessions export` in clone A / home H1, `sessions import` in
clone B of the same origin at another path / empty home H2, and the resume finishes there. Real git throughout."""

from __future__ import annotations

import json
import signal
import tarfile
from collections import Counter
from pathlib import Path

import mr_support as mr
import portable_support as pt
import pytest

import support

pytestmark = pytest.mark.e2e


MAPREDUCE = """\
name: carried
mode: mapreduce
map:
  input: items.json
  max_parallel: 2
  agent_template:
    - shell: |
        : {marker}
        echo "start ${{item_id}} $PRODIGY_ATTEMPT" >> "{ledger}"
        echo "${{item.n}}" > "f_${{item.n}}.txt" && git add "f_${{item.n}}.txt" && git commit -qm "f ${{item.n}}"
        if [ ${{item.n}} -ge "$LIMIT" ]; then while [ -e "$HOLD" ]; do sleep 0.05; done; fi
        echo "end ${{item_id}}" >> "{ledger}"
      commit_required: true
reduce:
  - shell: echo "reduce ${{map.successful}}/${{map.total}}" >> "{ledger}"
"""

STANDARD = """\
name: four-steps
commands:
  - shell: echo "step 1" >> "{ledger}" && echo one > one.txt && git add one.txt && git commit -qm one
  - shell: echo "step 2" >> "{ledger}" && echo two > two.txt
  - shell: |
      : {marker}
      echo "step 3" >> "{ledger}"
      while [ -e "$HOLD" ]; do sleep 0.05; done
      cat two.txt > three.txt
  - shell: echo "step 4" >> "{ledger}" && git add -A && git commit -qm rest
"""


def runners(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path, Path, Path]:
    """Clone A (home H1) and clone B at another path and name (home H2, empty) of one origin."""
    origin = pt.make_origin(tmp_path, files)
    a = pt.clone(origin, tmp_path / "runner-1" / "work" / "project")
    b = pt.clone(origin, tmp_path / "runner-2" / "builds" / "checkout-b")
    return a, tmp_path / "h1", b, tmp_path / "h2"


def mapreduce_files(tmp_path: Path, marker: str, count: int = 6) -> tuple[dict[str, str], Path]:
    ledger = tmp_path / "ledger.txt"
    return {"workflow.yml": MAPREDUCE.format(marker=marker, ledger=ledger),
            "items.json": json.dumps([{"n": i} for i in range(count)])}, ledger


def test_mapreduce_killed_mid_map_finishes_in_another_clone(tmp_path: Path, marker: str, spawn_prodigy) -> None:
    files, ledger = mapreduce_files(tmp_path, marker)
    a, h1, b, h2 = runners(tmp_path, files)
    hold = tmp_path / "hold"
    hold.touch()
    run = pt.spawn(spawn_prodigy, "run", "workflow.yml", cwd=a, home=h1, env={"LIMIT": "3", "HOLD": str(hold)})
    support.wait_for(lambda: pt.succeeded(h1) == {0, 1, 2}, 30, what="items 0-2 journaled")
    mr.wait_for_held(ledger, 3, 2)
    run.send_signal(signal.SIGKILL)
    _code, out, _err = support.finish(run)
    mr.kill_marker_processes(marker)  # the runner is gone, and everything on it
    session_id, job_id = support.session_id_from(out), mr.job_id_from(out)

    code, out, err = pt.prodigy("sessions", "export", session_id[:13], "-o", str(tmp_path / "cache" / "s.tar.gz"),
                                "--json", cwd=tmp_path, home=h1)
    assert code == 0, out + err
    exported = json.loads(out)
    assert exported["session_id"] == session_id and exported["commits"] == 6  # 3 items: a commit and a merge each
    assert not exported["live"] and exported["status"] == "running"

    code, out, err = pt.prodigy("sessions", "import", str(tmp_path / "cache" / "s.tar.gz"), cwd=b, home=h2)
    assert code == 0, out + err
    assert f"Resume with: prodigy resume {session_id}" in out
    assert f"Run dir: {b}" in out
    record = json.loads((h2 / "sessions" / f"{session_id}.json").read_text())
    assert record["run_dir"] == str(b) and record["workflow_path"] == str(b / "workflow.yml")
    assert record["extra"]["worktree"]["repo_root"] == str(b) and record["status"] == "interrupted"
    assert str(a) not in json.dumps(record["extra"]["worktree"]) and str(h1) not in json.dumps(record["extra"]["worktree"])
    assert pt.git(b, "rev-list", "--count", f"main..prodigy-{session_id}") == "6"

    code, out, err = pt.prodigy("resume", session_id, "-y", cwd=b, home=h2, env={"LIMIT": "1000", "HOLD": str(hold)})
    assert code == 0, out + err
    # Every item's commit is merged into B's main exactly once; nothing was merged into A.
    assert pt.merge_subjects(b) == Counter(f"prodigy: merge item_{i} of {job_id}" for i in range(6))
    assert {p.name: p.read_text() for p in b.glob("f_*.txt")} == {f"f_{i}.txt": f"{i}\n" for i in range(6)}
    assert pt.git(a, "log", "--oneline", "main").count("\n") == 0
    # The ledger: completed items ran once, the two in flight at the kill ran again, the rest once; reduce once.
    assert mr.starts(ledger) == Counter({"item_0": 1, "item_1": 1, "item_2": 1, "item_3": 2, "item_4": 2, "item_5": 1})
    assert mr.attempts_of(ledger, "item_3") == [1, 2]
    assert [line for line in mr.ledger(ledger) if line.startswith("reduce")] == ["reduce 6/6"]
    # The resume ran in B and H2 only: its journal is H2's, and no worktree or branch is left.
    assert pt.succeeded(h2) == set(range(6)) and pt.succeeded(h1) == {0, 1, 2}
    assert pt.git(b, "branch", "--list", "prodigy-*") == "" and pt.git(b, "worktree", "list").count("\n") == 0


def test_standard_workflow_interrupted_at_step_3_finishes_in_another_clone(tmp_path: Path, marker: str,
                                                                           spawn_prodigy) -> None:
    ledger, hold = tmp_path / "ledger.txt", tmp_path / "hold"
    a, h1, b, h2 = runners(tmp_path, {"steps.yml": STANDARD.format(ledger=ledger, marker=marker)})
    hold.touch()
    run = pt.spawn(spawn_prodigy, "run", "steps.yml", cwd=a, home=h1, env={"HOLD": str(hold)})
    support.wait_for_line(ledger, "step 3")
    run.send_signal(signal.SIGKILL)
    _code, out, _err = support.finish(run)
    mr.kill_marker_processes(marker)
    session_id = support.session_id_from(out)
    archive = tmp_path / "cache" / "std.tar.gz"
    code, out, err = pt.prodigy("sessions", "export", session_id, "-o", str(archive), cwd=tmp_path, home=h1)
    assert code == 0, out + err
    assert "1 commit(s) since the session started, and 1 uncommitted file(s)" in out

    code, out, err = pt.prodigy("sessions", "import", str(archive), "-p", str(b), "--json", cwd=tmp_path, home=h2)
    assert code == 0, out + err
    imported = json.loads(out)
    assert imported["resume_command"] == f"prodigy resume {session_id}" and imported["uncommitted"] == 1
    worktree = Path(imported["worktree"])
    assert worktree.is_relative_to(h2) and (worktree / "two.txt").read_text() == "two\n"
    assert pt.git(worktree, "status", "--porcelain") == "?? two.txt"  # uncommitted again, as it was in A

    hold.unlink()
    code, out, err = pt.prodigy("resume", session_id, "-y", cwd=b, home=h2)
    assert code == 0, out + err
    assert "from step 3/4 (2 step(s) already done, skipped)" in out
    assert support.ledger_lines(ledger) == ["step 1", "step 2", "step 3", "step 3", "step 4"]
    assert {p.name: p.read_text() for p in b.glob("*.txt")} == {"one.txt": "one\n", "two.txt": "two\n",
                                                               "three.txt": "two\n"}
    assert pt.git(b, "log", "--format=%s", "main").splitlines() == ["rest", "one", "initial"]


@pytest.fixture
def exported(tmp_path: Path, marker: str, spawn_prodigy) -> tuple[Path, str, Path, Path]:
    """An interrupted MapReduce session of clone A exported; returns (archive, session id, B, H2)."""
    files, ledger = mapreduce_files(tmp_path, marker, count=4)
    a, h1, b, h2 = runners(tmp_path, files)
    hold = tmp_path / "hold"
    hold.touch()
    run = pt.spawn(spawn_prodigy, "run", "workflow.yml", cwd=a, home=h1, env={"LIMIT": "2", "HOLD": str(hold)})
    mr.wait_for_held(ledger, 2, 2)
    run.send_signal(signal.SIGINT)
    code, out, err = support.finish(run)
    assert code == 130, out + err
    session_id = support.session_id_from(out)
    archive = tmp_path / "s.tar.gz"
    code, out, err = pt.prodigy("sessions", "export", session_id, "-o", str(archive), cwd=a, home=h1)
    assert code == 0, out + err
    return archive, session_id, b, h2


def test_a_damaged_archive_changes_nothing(exported, tmp_path: Path) -> None:
    archive, session_id, b, h2 = exported
    before = pt.git_state(b)
    data = bytearray(archive.read_bytes())
    flipped = tmp_path / "flipped.tar.gz"
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: len(data) * 2 // 3])
    tampered = tmp_path / "tampered.tar.gz"  # intact gzip and tar, one member changed after its checksum
    with tarfile.open(archive) as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src:
            body = src.extractfile(member).read()
            if member.name == "session.json":
                body = body.replace(b'"failed"', b'"completed"').replace(b'"interrupted"', b'"completed"')
            member.size = len(body)
            dst.addfile(member, __import__("io").BytesIO(body))
    for bad, words in ((flipped, "is damaged"), (truncated, "is damaged"), (tampered, "session.json does not match")):
        code, out, err = pt.prodigy("sessions", "import", str(bad), cwd=b, home=h2)
        assert code == 6, (bad, out, err)
        assert words in err and "Nothing was imported" in err and mr.no_traceback(err)
        assert not (h2 / "sessions").exists() or not any((h2 / "sessions").iterdir())
        assert not (h2 / "state").exists() and pt.git_state(b) == before
    code, out, err = pt.prodigy("sessions", "import", str(tmp_path / "missing.tar.gz"), cwd=b, home=h2)
    assert code == 2 and "Archive not found" in err


def test_an_unrelated_repository_is_refused(exported, tmp_path: Path) -> None:
    archive, session_id, _b, h2 = exported
    other = tmp_path / "unrelated"
    other.mkdir()
    pt.git(other, "init", "-q", "-b", "main")
    (other / "x.txt").write_text("x\n")
    pt.git(other, "add", "x.txt")
    pt.git(other, "commit", "-qm", "other")
    before = pt.git_state(other)
    code, out, err = pt.prodigy("sessions", "import", str(archive), "-p", str(other), cwd=tmp_path, home=h2)
    assert code == 2, out + err
    assert "Not the session's repository" in err and "Nothing was imported" in err
    assert pt.git_state(other) == before and not (h2 / "sessions").exists()
    plain = tmp_path / "plain"
    plain.mkdir()
    code, out, err = pt.prodigy("sessions", "import", str(archive), "-p", str(plain), cwd=tmp_path, home=h2)
    assert code == 2 and "is not in a git repository" in err, out + err


def test_an_import_over_an_existing_session_is_refused_unless_replace(exported, tmp_path: Path) -> None:
    archive, session_id, b, h2 = exported
    code, out, err = pt.prodigy("sessions", "import", str(archive), cwd=b, home=h2)
    assert code == 0, out + err
    home_before, git_before = pt.tree_state(h2 / "sessions", h2 / "state", h2 / "events"), pt.git_state(b)
    code, out, err = pt.prodigy("sessions", "import", str(archive), cwd=b, home=h2)
    assert code == 2, out + err
    assert f"Session {session_id} is already here" in err and "--replace" in err
    assert pt.tree_state(h2 / "sessions", h2 / "state", h2 / "events") == home_before
    assert pt.git_state(b) == git_before
    code, out, err = pt.prodigy("sessions", "import", str(archive), "--replace", cwd=b, home=h2)
    assert code == 0 and f"Replaced {session_id}" in out, out + err
    code, out, err = pt.prodigy("resume", session_id, "-y", cwd=b, home=h2, env={"LIMIT": "1000", "HOLD": "/none"})
    assert code == 0, out + err
    assert len(pt.merge_subjects(b)) == 4


# ---------------------------------------------------------------- no export: the checkout moved, the home stayed


def test_resume_in_a_fresh_clone_when_the_recorded_checkout_is_gone(tmp_path: Path, marker: str,
                                                                      spawn_prodigy) -> None:
    files, ledger = mapreduce_files(tmp_path, marker, count=4)
    a, home, b, _h2 = runners(tmp_path, files)
    hold = tmp_path / "hold"
    hold.touch()
    run = pt.spawn(spawn_prodigy, "run", "workflow.yml", cwd=a, home=home, env={"LIMIT": "2", "HOLD": str(hold)})
    support.wait_for(lambda: pt.succeeded(home) == {0, 1}, 30, what="items 0-1 journaled")
    mr.wait_for_held(ledger, 2, 2)
    run.send_signal(signal.SIGKILL)
    _code, out, _err = support.finish(run)
    mr.kill_marker_processes(marker)
    session_id, job_id = support.session_id_from(out), mr.job_id_from(out)
    branch = f"prodigy-{session_id}"
    record_path = home / "sessions" / f"{session_id}.json"

    # Not pushed, and the checkout deleted: refused, nothing changed.
    import shutil

    pt.git(a, "branch", "-m", branch, f"{branch}-local")  # keep it out of origin for now
    kept = tmp_path / "kept-a"
    shutil.move(a, kept)
    before = record_path.read_bytes()
    code, out, err = pt.prodigy("resume", session_id, "-y", cwd=b, home=home)
    assert code == 2 and f"The checkout session {session_id} ran in is gone: {a}" in err and "-p ." in err, out + err
    code, out, err = pt.prodigy("resume", session_id, "-y", "-p", ".", cwd=b, home=home)
    assert code == 2, out + err
    assert f"its branch {branch} is neither in this clone nor on its remotes" in err and "2 of 4 item(s)" in err
    assert "Nothing was changed" in err and record_path.read_bytes() == before
    assert pt.git(b, "branch", "--list", "prodigy-*") == ""

    # Pushed from the old machine: the resume fetches it, recreates the worktree and finishes in B.
    pt.git(kept, "push", "-q", "origin", f"{branch}-local:{branch}")
    shutil.rmtree(kept)
    code, out, err = pt.prodigy("resume", session_id, "-y", "-p", ".", cwd=b, home=home,
                                env={"LIMIT": "1000", "HOLD": str(hold)})
    assert code == 0, out + err
    assert f"The checkout {a} is gone: continuing in {b}" in out
    assert f"Session branch {branch}: fetched from origin" in out and "Recreated the session worktree" in out
    assert "its files are kept at" in out  # the old worktree folder (its git link is dead) was moved aside
    assert pt.merge_subjects(b) == Counter(f"prodigy: merge item_{i} of {job_id}" for i in range(4))
    assert mr.starts(ledger) == Counter({"item_0": 1, "item_1": 1, "item_2": 2, "item_3": 2})
    record = json.loads(record_path.read_text())
    assert record["run_dir"] == str(b) and record["workflow_path"] == str(b / "workflow.yml")
    assert record["status"] == "completed"


# ---------------------------------------------------------------- what travels


SLOW_CLAUDE = """\
#!/bin/sh
for last; do :; done
case "$last" in -*) last=$(cat) ;; esac  # no prompt argument: it is on stdin (a prompt holding a secret)
printf '{"type":"system","subtype":"init","session_id":"s"}\\n'
printf '{"type":"assistant","message":{"content":[{"type":"text","text":"Working on: %s"}]}}\\n' "$last"
case "$last" in *hold*) while [ -e "$HOLD" ]; do sleep 0.05; done ;; esac
printf '{"type":"result","subtype":"success","is_error":false,"result":"done: %s"}\\n' "$last"
"""


def test_secrets_never_travel_in_the_archive(tmp_path: Path, marker: str, spawn_prodigy, fake_claude) -> None:
    secret = "s3cr3t-TOKEN-4f9a1c"
    hold = tmp_path / "hold"
    claude = tmp_path / "slow-claude"
    claude.write_text(SLOW_CLAUDE)
    claude.chmod(0o755)
    workflow = f"""\
name: with-a-secret
secrets:
  API_TOKEN: {{provider: env, key: MY_TOKEN}}
commands:
  - shell: echo "using $API_TOKEN" && echo "${{API_TOKEN}}" | wc -c
  - claude: "/first {marker} ${{API_TOKEN}}"
  - claude: "/hold {marker} ${{API_TOKEN}}"
"""
    a, h1, b, h2 = runners(tmp_path, {"secret.yml": workflow})
    hold.touch()
    env = {"MY_TOKEN": secret, "HOLD": str(hold), "PRODIGY_CLAUDE_BIN": str(claude)}
    run = pt.spawn(spawn_prodigy, "run", "secret.yml", cwd=a, home=h1, env=env)
    logs = h1 / "logs" / "claude"
    def step3_running() -> bool:
        found = list(h1.glob("state/session-*/checkpoints/checkpoint.json"))
        return bool(found) and (json.loads(found[0].read_text()).get("in_flight") or {}).get("index") == 2

    support.wait_for(step3_running, 30, what="step 3 recorded as running")
    held = sorted(logs.rglob("step3-*"))
    # A log streamed while its command runs holds the output as it came, before masking (simulated here).
    with open(held[0], "a") as handle:
        handle.write(json.dumps({"type": "assistant", "text": f"Working on: /hold {secret}"}) + "\n")
    run.send_signal(signal.SIGKILL)
    support.finish(run)
    mr.kill_marker_processes(marker)
    session_id = pt.only_session(h1)
    archive = tmp_path / "secret.tar.gz"
    code, out, err = pt.prodigy("sessions", "export", session_id, "-o", str(archive), "--json", cwd=a, home=h1)
    assert code == 0, out + err
    result = json.loads(out)
    assert any("1 agent log(s) of commands that were still running" in e for e in result["excluded"])
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}
    assert [n for n in members if n.startswith("logs/")] and all(
        n.split("/")[1].startswith("step2-") for n in members if n.startswith("logs/"))
    assert b"***" in next(v for n, v in members.items() if n.startswith("logs/"))
    assert [n for n, data in members.items() if secret.encode() in data] == []
    assert secret.encode() not in archive.read_bytes()
    # And on the other side the resume takes the secret from its own environment.
    code, out, err = pt.prodigy("sessions", "import", str(archive), "-p", str(b), cwd=tmp_path, home=h2)
    assert code == 0, out + err
    hold.unlink()
    code, out, err = pt.prodigy("resume", session_id, "-y", cwd=b, home=h2, env={**env, "MY_TOKEN": "other-value"})
    assert code == 0, out + err
    assert secret not in out + err


def test_export_of_a_running_session_is_a_consistent_snapshot(tmp_path: Path, marker: str, spawn_prodigy) -> None:
    files, ledger = mapreduce_files(tmp_path, marker, count=4)
    a, h1, b, h2 = runners(tmp_path, files)
    hold = tmp_path / "hold"
    hold.touch()
    run = pt.spawn(spawn_prodigy, "run", "workflow.yml", "-y", cwd=a, home=h1, env={"LIMIT": "2", "HOLD": str(hold)})
    support.wait_for(lambda: pt.succeeded(h1) == {0, 1}, 30, what="items 0-1 journaled")
    mr.wait_for_held(ledger, 2, 2)
    session_id = pt.only_session(h1)
    archive = tmp_path / "live.tar.gz"
    code, out, err = pt.prodigy("sessions", "export", session_id, "-o", str(archive), cwd=a, home=h1)
    assert code == 0, out + err
    assert "still running" in out
    hold.unlink()  # the original finishes on its machine, untouched by the export
    code, out, err = support.finish(run)
    assert code == 0, out + err
    assert len(pt.merge_subjects(a)) == 4
    code, out, err = pt.prodigy("sessions", "import", str(archive), "--json", cwd=b, home=h2)
    assert code == 0, out + err
    record = json.loads((h2 / "sessions" / f"{session_id}.json").read_text())
    assert record["status"] == "interrupted" and record["extra"]["imported"]["live_at_export"] is True
    code, out, err = pt.prodigy("resume", session_id, "-y", cwd=b, home=h2, env={"LIMIT": "1000", "HOLD": str(hold)})
    assert code == 0, out + err
    assert mr.starts(ledger) == Counter({"item_0": 1, "item_1": 1, "item_2": 2, "item_3": 2})
    assert len(pt.merge_subjects(b)) == 4
