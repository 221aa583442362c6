"""Resume inside the agent, end to end: a run killed in the middle of a claude step resumes by continuing the
agent's own conversation (`claude --resume <id>`) in the tree it was editing, with the fake claude keeping
conversations the way the real CLI does."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import mr_support as mr
import pytest

import support

pytestmark = pytest.mark.e2e


def agent_calls(path: Path) -> list[dict]:
    return [c for c in support.read_ledger_json(path) if isinstance(c, dict) and c.get("case") != "version"]


@pytest.fixture
def held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_claude: Path) -> Path:
    """FAKE_CLAUDE_HOLD: the fake's `work` case waits while this file exists; FAKE_CLAUDE_CALLS: its ledger."""
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv("FAKE_CLAUDE_HOLD", str(hold))
    monkeypatch.setenv("FAKE_CLAUDE_CALLS", str(tmp_path / "calls.jsonl"))
    return hold


def kill_when(proc, condition, what: str, sig: int = signal.SIGKILL) -> str:
    support.wait_for(condition, 20, what=what)
    proc.send_signal(sig)
    _code, out, _err = support.finish(proc)
    return out


def test_a_standard_workflow_killed_in_its_claude_step_continues_the_conversation(
        git_repo: Path, prodigy_home: Path, held: Path, tmp_path: Path, spawn_prodigy) -> None:
    ledger = tmp_path / "ledger.txt"
    support.write_workflow(git_repo, """
        - shell: echo one >> "$LEDGER"
        - claude: "/implement the feature [fake:work]"
        - shell: git add -A && git commit -qm "agent work" && echo three >> "$LEDGER"
    """)
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "workflow"], cwd=git_repo, check=True)
    proc = spawn_prodigy("run", "workflow.yml", "-y", cwd=git_repo, env={"LEDGER": str(ledger)})
    trees = prodigy_home / "worktrees"
    out = kill_when(proc, lambda: list(trees.glob("*/*/agent-part1-step.txt")), "the agent's first part")
    session = support.session_id_from(out)
    (tree,) = [p.parent for p in trees.glob("*/*/agent-part1-step.txt")]
    first = agent_calls(tmp_path / "calls.jsonl")
    assert len(first) == 1 and not first[0]["resumed"] and first[0]["cwd"] == str(tree)
    held.unlink()
    code, out, err = support.run_prodigy("resume", session, "-y", cwd=git_repo, env={"LEDGER": str(ledger)})
    assert code == 0, out + err
    assert "The agent of step 2 was interrupted; it continues its conversation" in out
    assert "Conversations: 1 agent continued its conversation" in out
    calls = agent_calls(tmp_path / "calls.jsonl")
    assert len(calls) == 2 and calls[1]["resumed"] and calls[1]["session_id"] == first[0]["session_id"]
    assert calls[1]["cwd"] == first[0]["cwd"]  # the same tree
    assert "You were interrupted" in calls[1]["prompt"]
    assert "> /implement the feature [fake:work]" in calls[1]["prompt"]  # the original task, quoted
    assert ledger.read_text() == "one\nthree\n"  # step 1 ran once
    # the partial work was there for the continued agent, and both parts reached the branch
    assert (git_repo / "agent-part1-step.txt").read_text() == f"part 1 by {first[0]['session_id']}\n"
    assert (git_repo / "agent-part2-step.txt").read_text().endswith("(resumed)\n")
    shown = json.loads(support.run_prodigy("sessions", "show", session, "--json", cwd=git_repo)[1])
    assert shown["standard"]["agents"]["total"]["calls"] == 1  # the killed call reported nothing: counted once
    assert shown["standard"]["agents"]["total"]["cost_usd"] == 0.0123


def test_a_mapreduce_job_killed_while_three_agents_run_continues_all_three(
        git_repo: Path, prodigy_home: Path, held: Path, tmp_path: Path, spawn_prodigy) -> None:
    (git_repo / "items.json").write_text(json.dumps([{"n": i} for i in range(4)]))
    (git_repo / "mr.yml").write_text("""\
mode: mapreduce
map:
  input: items.json
  max_parallel: 3
  agent_template:
    - shell: echo "prep ${item.n}" >> "$PREP"
    - claude: "/implement item ${item.n} [fake:work]"
    - shell: 'git add -A && git commit -qm "item ${item.n}: ${claude.output}"'
reduce:
  - shell: echo "reduce ${map.successful}/${map.total}"
""")
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "workflow"], cwd=git_repo, check=True)
    prep = tmp_path / "prep.txt"
    proc = spawn_prodigy("run", "mr.yml", "-y", cwd=git_repo, env={"PREP": str(prep)})
    trees = prodigy_home / "worktrees"
    out = kill_when(proc, lambda: len(list(trees.glob("*/*.agents/item_*/agent-part1-*.txt"))) == 3,
                    "three agents half-way")
    job_id = mr.job_id_from(out)
    first = {c["session_id"]: c for c in agent_calls(tmp_path / "calls.jsonl")}
    assert len(first) == 3
    held.unlink()
    code, out, err = support.run_prodigy("resume", job_id, "-y", cwd=git_repo, env={"PREP": str(prep)})
    assert code == 0, out + err
    assert "Agents: 3 interrupted agent(s) will continue their conversations" in out
    assert "Conversations: 3 agents continued their conversations." in out
    assert "agent worktree(s) left by the interrupted run" not in out  # their worktrees were kept
    resumed = [c for c in agent_calls(tmp_path / "calls.jsonl") if c["resumed"]]
    assert len(resumed) == 3 and {c["session_id"] for c in resumed} == set(first)
    assert all(c["cwd"] == first[c["session_id"]]["cwd"] for c in resumed)  # each in its own kept tree
    assert sorted(prep.read_text().splitlines()) == [f"prep {i}" for i in range(4)]  # step 1 not run again
    log = subprocess.run(["git", "log", "--format=%s"], cwd=git_repo, capture_output=True, text=True).stdout
    continued = [line for line in log.splitlines() if "part 1 was there" in line]
    assert len(continued) == 3 and log.count("prodigy: merge item_") == 4  # every item's work merged
    assert "item 3: done: /implement item 3" in log


def test_a_missing_conversation_falls_back_to_a_fresh_attempt_with_a_note(
        work: Path, prodigy_home: Path, held: Path, tmp_path: Path, spawn_prodigy) -> None:
    support.write_workflow(work, '- claude: "/implement [fake:work]"\n')
    proc = spawn_prodigy("run", "workflow.yml", "--no-worktree", cwd=work)
    out = kill_when(proc, lambda: (work / "agent-part1-step.txt").exists(), "the agent's first part")
    shutil.rmtree(Path.home() / ".claude" / "projects")  # the CLI lost the transcript
    held.unlink()
    code, out, err = support.run_prodigy("resume", support.session_id_from(out), cwd=work)
    assert code == 0, out + err
    assert "Conversations: 1 restarted: conversation not found" in out
    calls = agent_calls(tmp_path / "calls.jsonl")
    assert [c["resumed"] for c in calls] == [False, False] and calls[0]["session_id"] != calls[1]["session_id"]


def test_ctrl_c_in_a_map_agent_then_resume_continues_it(git_repo: Path, prodigy_home: Path, held: Path,
                                                          tmp_path: Path, spawn_prodigy) -> None:
    (git_repo / "items.json").write_text(json.dumps([{"n": 0}]))
    (git_repo / "mr.yml").write_text("""\
mode: mapreduce
map:
  input: items.json
  agent_template:
    - claude: "/implement item ${item.n} [fake:work]"
    - shell: 'git add -A && git commit -qm "item ${item.n}: ${claude.output}"'
""")
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "workflow"], cwd=git_repo, check=True)
    proc = spawn_prodigy("run", "mr.yml", "-y", cwd=git_repo)
    trees = prodigy_home / "worktrees"
    support.wait_for(lambda: list(trees.glob("*/*.agents/item_0/agent-part1-item_0.txt")), 20, what="part 1")
    proc.send_signal(signal.SIGINT)
    code, out, _err = support.finish(proc)
    assert code == 130, out
    assert list(trees.glob("*/*.agents/item_0/agent-part1-item_0.txt"))  # the tree is kept
    held.unlink()
    code, out, err = support.run_prodigy("resume", support.session_id_from(out), "-y", cwd=git_repo)
    assert code == 0 and "1 agent continued its conversation" in out, out + err
    log = subprocess.run(["git", "log", "--format=%s"], cwd=git_repo, capture_output=True, text=True).stdout
    assert "item 0: continued" in log and "part 1 was there" in log


@pytest.mark.parametrize("how", ["opt-out", "new-cli"])
def test_an_agent_restarts_when_opted_out_or_the_cli_changed(how: str, work: Path, prodigy_home: Path,
                                                             held: Path, tmp_path: Path, spawn_prodigy) -> None:
    extra = "  resume_agent: false\n" if how == "opt-out" else ""
    support.write_workflow(work, f'- claude: "/implement [fake:work]"\n{extra}')
    proc = spawn_prodigy("run", "workflow.yml", "--no-worktree", cwd=work)
    out = kill_when(proc, lambda: (work / "agent-part1-step.txt").exists(), "the agent's first part")
    held.unlink()
    env = {"FAKE_CLAUDE_VERSION": "2.9.0 (Claude Code)"} if how == "new-cli" else {}
    code, out, err = support.run_prodigy("resume", support.session_id_from(out), cwd=work, env=env)
    assert code == 0, out + err
    reason = ("resume_agent is false" if how == "opt-out"
              else "the CLI's version changed (2.1.332 (Claude Code) -> 2.9.0 (Claude Code))")
    assert f"Conversations: 1 restarted: {reason}" in out
    assert [c["resumed"] for c in agent_calls(tmp_path / "calls.jsonl")] == [False, False]


def test_a_reduce_agent_killed_mid_conversation_continues_it(work: Path, prodigy_home: Path, held: Path,
                                                              tmp_path: Path, spawn_prodigy) -> None:
    (work / "items.json").write_text(json.dumps([{"n": 0}, {"n": 1}]))
    (work / "mr.yml").write_text("""\
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo "item ${item.n}"
reduce:
  - claude: "/summarise ${map.successful} results [fake:work]"
""")
    proc = spawn_prodigy("run", "mr.yml", "--no-worktree", cwd=work)
    out = kill_when(proc, lambda: (work / "agent-part1-step.txt").exists(), "the reduce agent's first part")
    held.unlink()
    code, out, err = support.run_prodigy("resume", support.session_id_from(out), cwd=work)
    assert code == 0 and "Conversations: 1 agent continued its conversation." in out, out + err
    calls = agent_calls(tmp_path / "calls.jsonl")
    assert [c["resumed"] for c in calls] == [False, True] and calls[0]["session_id"] == calls[1]["session_id"]
