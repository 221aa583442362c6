"""End to end through the installed CLI: run --args/--map/-n/--dry-run (more commands below as they come)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support import ANY_SESSION_RE

pytestmark = pytest.mark.e2e

LEDGER_STEP = '- shell: echo "ARG=$ARG FILE=${FILE:-} PATH=${FILE_PATH:-} ITER=${ITERATION:-}" >> ledger\n'


def _ledger(folder: Path) -> list[str]:
    path = folder / "ledger"
    return path.read_text().splitlines() if path.exists() else []


def _sessions(prodigy, cwd: Path) -> list[dict]:
    code, out, err = prodigy("sessions", "list", "--json", cwd=cwd)
    assert code == 0, err
    return json.loads(out)["sessions"]


def test_run_args_gives_one_session_per_value(work: Path, write_workflow, prodigy) -> None:
    write_workflow(LEDGER_STEP)
    code, out, err = prodigy("run", "workflow.yml", "--args", "41", "--args", "42", cwd=work)
    assert code == 0, err
    assert _ledger(work) == ["ARG=41 FILE= PATH= ITER=", "ARG=42 FILE= PATH= ITER="]
    listed = _sessions(prodigy, work)
    assert len(listed) == 2 and all(s["status"] == "completed" for s in listed)
    assert set(ANY_SESSION_RE.findall(out.split("2 run(s)")[1])) == {s["id"] for s in listed}


def test_run_map_over_three_spec_files(work: Path, write_workflow, prodigy) -> None:
    write_workflow(LEDGER_STEP)
    (work / "specs").mkdir()
    for name in ("65-foo.md", "66-bar.md", "67-baz.md"):
        (work / "specs" / name).write_text("spec\n")
    code, out, err = prodigy("run", "workflow.yml", "--map", "specs/*.md", "--json", cwd=work)
    assert code == 0, err
    data = json.loads(out)
    assert [r["input"] for r in data["runs"]] == ["specs/65-foo.md", "specs/66-bar.md", "specs/67-baz.md"]
    assert _ledger(work) == [f"ARG={n} FILE={n}-{w}.md PATH=specs/{n}-{w}.md ITER="
                             for n, w in (("65", "foo"), ("66", "bar"), ("67", "baz"))]
    assert len(_sessions(prodigy, work)) == 3


def test_dry_run_creates_nothing(work: Path, write_workflow, prodigy, prodigy_home: Path, git_repo: Path) -> None:
    write_workflow("""
        - shell: echo changed > file.txt && git add file.txt && git commit -qm change
        - claude: "/implement ${ARG}"
    """)
    code, out, err = prodigy("run", "workflow.yml", "--args", "5", "--dry-run", cwd=git_repo)
    assert code == 0, err
    assert "[DRY RUN] Would execute: claude: /implement 5" in out and "Nothing was run." in out
    assert not prodigy_home.exists()
    assert not (git_repo / "file.txt").exists()
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=git_repo, capture_output=True, text=True).stdout
    assert len(worktrees.splitlines()) == 1


def test_iterations_stop_when_one_makes_no_commits(write_workflow, prodigy, git_repo: Path) -> None:
    write_workflow("""
        - shell: |
            n=$(cat count 2>/dev/null || echo 0)
            if [ "$n" -lt 2 ]; then echo $((n+1)) > count; git add count; git commit -qm "iteration ${ITERATION}"; fi
    """)
    subprocess.run(["git", "add", "workflow.yml"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "workflow"], cwd=git_repo, check=True)
    code, out, err = prodigy("run", "workflow.yml", "-n", "5", "-y", cwd=git_repo)
    assert code == 0, err
    assert "Stopping after iteration 3 of 5: it made no commits." in out
    assert "3 run(s): 3 completed" in out
    log = subprocess.run(["git", "log", "--format=%s"], cwd=git_repo, capture_output=True, text=True).stdout
    assert log.splitlines()[:2] == ["iteration 2", "iteration 1"]
    assert (git_repo / "count").read_text().strip() == "2"


# ---------------------------------------------------------------- exec and batch


def test_exec_is_a_recorded_resumable_session(work: Path, prodigy) -> None:
    code, out, _ = prodigy("exec", "shell: echo attempt >> ledger; test -f fixed", "--retry", "2", cwd=work)
    assert code == 1 and _ledger(work) == ["attempt", "attempt"]
    session_id = ANY_SESSION_RE.search(out.splitlines()[0]).group(0)
    (work / "fixed").touch()
    code, out, err = prodigy("resume", session_id, cwd=work)
    assert code == 0, err
    assert _ledger(work) == ["attempt", "attempt", "attempt"]
    assert [s["status"] for s in _sessions(prodigy, work)] == ["completed"]


def test_batch_over_three_files_runs_three_items(work: Path, prodigy) -> None:
    for rel in ("one.txt", "docs/two.txt", "docs/deep/three.txt"):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(rel + "\n")
    code, out, err = prodigy("batch", "*.txt", "--command", "shell: echo ${item} >> ledger", "--json", cwd=work)
    assert code == 0, err
    data = json.loads(out)
    assert data["items"] == {**data["items"], "total": 3, "successful": 3, "failed": 0}
    assert sorted(_ledger(work)) == ["docs/deep/three.txt", "docs/two.txt", "one.txt"]
    code, out, _ = prodigy("events", "ls", data["job_id"], "--type", "item_completed", "--json", cwd=work)
    assert code == 0 and json.loads(out)["count"] == 3


# ---------------------------------------------------------------- clean


def test_clean_dry_run_removes_nothing_and_clean_keeps_a_resumable_session(work: Path, write_workflow, prodigy,
                                                                          prodigy_home: Path) -> None:
    write_workflow("- shell: echo ran >> ledger\n", name="ok.yml")
    write_workflow("- shell: test -f fixed\n- shell: echo resumed >> ledger\n", name="fails.yml")
    assert prodigy("run", "ok.yml", cwd=work)[0] == 0
    code, out, _ = prodigy("run", "fails.yml", cwd=work)
    assert code == 1
    failed = ANY_SESSION_RE.search(out).group(0)
    before = sorted(str(p) for p in prodigy_home.rglob("*"))
    code, out, err = prodigy("clean", "all", "--older-than", "0", "--dry-run", cwd=work)
    assert code == 0, err
    assert "Would remove 1 item(s)" in out and f"Kept sessions {failed}: resumable (failed)" in out
    assert sorted(str(p) for p in prodigy_home.rglob("*")) == before
    code, out, err = prodigy("clean", "all", "--older-than", "0", "-y", cwd=work)
    assert code == 0, err
    assert [s["id"] for s in _sessions(prodigy, work)] == [failed]
    (work / "fixed").touch()
    code, _, err = prodigy("resume", failed, cwd=work)
    assert code == 0, err
    assert _ledger(work) == ["ran", "resumed"]


# ---------------------------------------------------------------- logs


def test_logs_show_the_agents_text_not_raw_json(work: Path, write_workflow, prodigy, fake_claude: Path) -> None:
    write_workflow('- claude: "/prodigy-lint src"\n')
    code, out, err = prodigy("run", "workflow.yml", cwd=work)
    assert code == 0, err
    code, out, err = prodigy("logs", "--latest", cwd=work)
    assert code == 0, err
    assert "agent: Working on: /prodigy-lint src" in out and "[result: success]" in out
    assert '{"type"' not in out


# ---------------------------------------------------------------- composition

WAIT_FOR_GO = "while [ ! -f go ]; do sleep 0.05; done"


def test_a_template_parameter_overridden_by_param(work: Path, write_workflow, prodigy) -> None:
    write_workflow("""
        parameters:
          required: [{name: target, type: String}]
          optional: [{name: jobs, type: Number, default: 1}]
        commands:
          - shell: echo "make ${target} -j${jobs}" >> ledger
    """, name="build-template.yml")
    write_workflow("template:\n  source: {file: build-template.yml}\n  with: {target: all, jobs: 2}\n")
    code, _, err = prodigy("run", "workflow.yml", "--param", "jobs=8", cwd=work)
    assert code == 0, err
    code, _, err = prodigy("template", "register", "build-template.yml", "--name", "build", cwd=work)
    assert code == 0, err
    write_workflow("template:\n  source: build\n  with: {target: docs}\n", name="registry.yml")
    assert prodigy("run", "registry.yml", cwd=work)[0] == 0
    assert _ledger(work) == ["make all -j8", "make docs -j1"]


def test_a_killed_composed_workflow_resumes_what_it_started(work: Path, write_workflow, spawn_prodigy,
                                                            prodigy) -> None:
    import signal

    from support import finish, wait_for, wait_for_line

    base = write_workflow(f"""
        env: {{WHO: original}}
        commands:
          - shell: echo "one $WHO" >> ledger
          - shell: echo two-start >> ledger; {WAIT_FOR_GO}; echo "two $WHO" >> ledger
          - shell: echo "three $WHO" >> ledger
    """, name="base.yml")
    write_workflow("extends: base.yml\n")
    run = spawn_prodigy("run", "workflow.yml", cwd=work, env={"PYTHONUNBUFFERED": "1"})
    wait_for_line(work / "ledger", "two-start")
    run.send_signal(signal.SIGKILL)
    _code, out, _err = finish(run)
    session_id = ANY_SESSION_RE.search(out).group(0)
    base.write_text(base.read_text().replace("original", "edited"))
    resume = spawn_prodigy("resume", session_id, cwd=work, env={"PYTHONUNBUFFERED": "1"})
    wait_for(lambda: _ledger(work).count("two-start") == 2, what="step 2 to start again")
    (work / "go").touch()  # an orphan of the killed run that was not ended would now write "two" twice
    code, out, err = finish(resume)
    assert code == 0, err
    assert "changed since the session started" in out
    assert _ledger(work) == ["one original", "two-start", "two-start", "two original", "three original"]


def test_a_killed_subworkflow_resumes_in_its_parent(work: Path, write_workflow, spawn_prodigy, prodigy) -> None:
    import signal

    from support import finish, wait_for, wait_for_line

    write_workflow("- shell: echo first >> ledger\n", name="first.yml")
    write_workflow(f"- shell: echo second-a >> ledger\n- shell: echo second-b-start >> ledger; {WAIT_FOR_GO}; "
                   "echo second-b >> ledger\n", name="second.yml")
    write_workflow("workflows:\n  - {name: first, source: first.yml}\n  - {name: second, source: second.yml}\n")
    run = spawn_prodigy("run", "workflow.yml", cwd=work, env={"PYTHONUNBUFFERED": "1"})
    wait_for_line(work / "ledger", "second-b-start")
    run.send_signal(signal.SIGKILL)
    _code, out, _err = finish(run)
    parent = ANY_SESSION_RE.search(out).group(0)
    resume = spawn_prodigy("resume", parent, "--json", cwd=work, env={"PYTHONUNBUFFERED": "1"})
    wait_for(lambda: _ledger(work).count("second-b-start") == 2, what="the killed step to start again")
    (work / "go").touch()
    code, out, err = finish(resume)
    assert code == 0, err
    data = json.loads(out)
    assert [c["status"] for c in data["children"]] == ["skipped", "completed"]
    assert _ledger(work).count("first") == 1 and _ledger(work).count("second-a") == 1
    assert _ledger(work).count("second-b") == 1  # the killed step's command was ended, then ran once


# ---------------------------------------------------------------- worktree merge


def test_worktree_merge_on_demand(write_workflow, prodigy, git_repo: Path) -> None:
    write_workflow('- shell: echo done > result.txt && git add result.txt && git commit -qm "the work"\n')
    code, out, err = prodigy("run", "workflow.yml", cwd=git_repo)  # no terminal, no -y: left unmerged
    assert code == 0, err
    session_id = ANY_SESSION_RE.search(out).group(0)
    assert not (git_repo / "result.txt").exists()
    code, out, err = prodigy("worktree", "merge", session_id, cwd=git_repo)
    assert code == 0, err
    assert (git_repo / "result.txt").read_text() == "done\n"
    code, out, _ = prodigy("worktree", "ls", "--json", cwd=git_repo)
    assert json.loads(out)["worktrees"] == []


def test_logs_tail_follows_a_running_agent_until_its_result(work: Path, write_workflow, prodigy, spawn_prodigy,
                                                             fake_claude: Path, prodigy_home: Path) -> None:
    from support import finish, wait_for

    write_workflow('- claude: "/slow task"\n')
    run = spawn_prodigy("run", "workflow.yml", cwd=work, env={"FAKE_CLAUDE_MODE": "sleep", "FAKE_CLAUDE_SLEEP": "1.5"})
    wait_for(lambda: list((prodigy_home / "logs" / "claude").glob("*/*.jsonl")), what="the agent log")
    code, out, err = prodigy("logs", "--latest", "--tail", cwd=work, timeout=30)
    assert code == 0, err
    assert "agent: Working on: /slow task" in out and "[result: success] done: /slow task" in out
    assert finish(run)[0] == 0
