"""Agents end to end through the installed CLI with the fake claude: what every agent call cost, recorded in the
journal and checkpoints and shown by sessions show, dlq show, events stats, --json and the resume summary."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import mr_support as mr
import pytest

import support

pytestmark = pytest.mark.e2e

COSTS = [0.01 * (i + 1) for i in range(12)]  # item_i costs $0.0(i+1)


def agent_job(work: Path, cases: list[str], *, max_parallel: int = 3, extra: str = "") -> Path:
    (work / "items.json").write_text(json.dumps([{"n": i, "case": c} for i, c in enumerate(cases)]))
    path = work / "agents.yml"
    path.write_text(f"""\
name: agent-job
mode: mapreduce
{extra}map:
  input: items.json
  max_parallel: {max_parallel}
  agent_template:
    - claude: "/fix item ${{item.n}} [fake:${{item.case}}]"
reduce:
  - shell: echo "reduce ${{map.successful}}/${{map.total}}"
""")
    return path


def calls(path: Path) -> list[dict]:
    return [json.loads(line) for line in support.ledger_lines(path) if line.strip()]


def json_of(*args: str, cwd: Path) -> dict:
    code, out, err = support.run_prodigy(*args, "--json", cwd=cwd)
    assert code == 0, out + err
    return json.loads(out)


def test_cost_totals_equal_the_sum_of_the_calls(work: Path, fake_claude: Path, prodigy_home: Path,
                                                tmp_path: Path) -> None:
    agent_job(work, [f"succeed cost={c}" for c in COSTS])
    code, out, err = support.run_prodigy("run", "agents.yml", "--no-worktree", "--json", cwd=work,
                                         env={"FAKE_CLAUDE_CALLS": str(tmp_path / "calls.jsonl")})
    assert code == 0, out + err
    summary = json.loads(out)
    expected = round(sum(COSTS), 6)
    assert summary["agents"]["total"]["cost_usd"] == expected and summary["agents"]["total"]["calls"] == 12
    assert summary["agents"]["this_run"]["cost_usd"] == expected
    assert summary["agents"]["completed_items"]["most_expensive"] == {"item_id": "item_11", "cost_usd": 0.12}
    done = {r["i"]: r["ag"] for r in mr.journal(summary["job_id"]) if r.get("t") == "done"}
    assert {i: ag["usd"] for i, ag in done.items()} == dict(enumerate(COSTS))
    assert all(ag["turns"] == 1 and ag["model"] == "claude-opus-5-5" and ag["sid"] and ag["in"] > 100
               for ag in done.values())
    agent_calls = [c for c in calls(tmp_path / "calls.jsonl") if c["case"] != "version"]
    assert len(agent_calls) == 12 and [c["case"] for c in calls(tmp_path / "calls.jsonl")].count("version") == 1
    shown = json_of("sessions", "show", summary["session_id"], cwd=work)
    assert shown["job"]["agents"]["total"]["cost_usd"] == expected
    stats = json_of("events", "stats", summary["job_id"], cwd=work)
    assert stats["agents"]["total"]["cost_usd"] == expected
    assert stats["agents"]["completed_items"]["max_cost_usd"] == 0.12
    listed = json_of("events", "ls", summary["job_id"], "--type", "item_completed", cwd=work)
    assert sorted(e["cost_usd"] for e in listed["events"]) == sorted(COSTS)
    code, text, _ = support.run_prodigy("sessions", "show", summary["session_id"], cwd=work)
    assert f"Agents:       ${expected:.2f} over 12 agent calls" in text
    assert "most item_11 ($0.12)" in text
    # ${map.results}[].output is the agent's answer, not its JSON stream
    reduce_vars = [r for r in mr.journal(summary["job_id"]) if r.get("t") == "reduce_step"]
    assert reduce_vars and "reduce 12/12" in reduce_vars[0]["vars"]["shell.output"]


def test_resume_says_what_the_done_items_cost(work: Path, fake_claude: Path, prodigy_home: Path,
                                              spawn_prodigy) -> None:
    agent_job(work, ["succeed cost=0.5"] * 3 + ["hold cost=0.25"] * 3, max_parallel=3)
    hold = work / "hold"
    hold.touch()
    proc = spawn_prodigy("run", "agents.yml", "--no-worktree", cwd=work, env={"FAKE_CLAUDE_HOLD": str(hold)})
    job_id = mr.wait_for_journal(lambda: mr.only_job_id(prodigy_home), 3)
    support.wait_for(lambda: sum(1 for r in mr.journal(job_id) if r.get("t") == "start") >= 6, what="6 starts")
    proc.send_signal(signal.SIGKILL)
    support.finish(proc)
    hold.unlink()
    code, out, err = support.run_prodigy("resume", job_id, cwd=work)
    assert code == 0, out + err
    assert "3 done ($1.50 recorded, not re-run)" in out
    assert "Agents:     $0.75 this run over 3 agent calls" in out and "$2.25 recorded in all (6 calls)" in out


def test_dlq_show_reports_what_each_failed_attempt_cost(work: Path, fake_claude: Path, prodigy_home: Path) -> None:
    agent_job(work, ["succeed", "error cost=0.2"], extra="error_policy:\n  retry: 2\n")
    code, out, err = support.run_prodigy("run", "agents.yml", "--no-worktree", cwd=work)
    assert code == 3, out + err
    job_id = mr.job_id_from(out)
    shown = json_of("dlq", "show", job_id, cwd=work)
    (item,) = shown["items"]
    assert [f["agent"]["cost_usd"] for f in item["failures"]] == [0.2, 0.2]
    assert item["spend"]["cost_usd"] == 0.4 and item["spend"]["calls"] == 2
    assert "The agent could not complete the task" in item["last_error"]
    code, text, _ = support.run_prodigy("dlq", "show", job_id, cwd=work)
    assert "$0.40 spent on agents" in text and "Agent:" in text and "$0.20, 1 turn(s)" in text


def test_a_standard_session_records_agent_costs_and_resume_says_so(work: Path, fake_claude: Path,
                                                                   prodigy_home: Path) -> None:
    support.write_workflow(work, """
        - claude: "/plan [fake:succeed cost=0.75]"
        - shell: test -e ok
        - claude: "/finish [fake:succeed cost=0.5]"
    """)
    code, out, err = support.run_prodigy("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 1, out + err
    session = support.session_id_from(out)
    assert "agent $0.75, 1 turn" in out
    checkpoint = json.loads((prodigy_home / "state" / session / "checkpoints" / "checkpoint.json").read_text())
    assert checkpoint["completed"]["0"]["ag"]["usd"] == 0.75 and checkpoint["spend"]["usd"] == 0.75
    (work / "ok").touch()
    code, out, err = support.run_prodigy("resume", session, "--json", cwd=work)
    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["agents"]["this_run"]["cost_usd"] == 0.5 and summary["agents"]["total"]["cost_usd"] == 1.25
    code, out, err = support.run_prodigy("sessions", "show", session, "--json", cwd=work)
    steps = json.loads(out)["standard"]["agents"]["steps"]
    assert steps["1"]["cost_usd"] == 0.75 and steps["3"]["cost_usd"] == 0.5


def test_a_standard_resume_plan_names_the_recorded_cost(work: Path, fake_claude: Path, prodigy_home: Path) -> None:
    support.write_workflow(work, """
        - claude: "/plan [fake:succeed cost=0.75]"
        - shell: test -e ok
    """)
    code, out, _ = support.run_prodigy("run", "workflow.yml", "--no-worktree", cwd=work)
    (work / "ok").touch()
    code, out, err = support.run_prodigy("resume", support.session_id_from(out), cwd=work)
    assert code == 0 and "1 step(s) already done, skipped; $0.75 recorded, not re-run" in out, out + err


def test_sessions_clean_removes_the_agent_logs(work: Path, fake_claude: Path, prodigy_home: Path) -> None:
    support.write_workflow(work, '- claude: "/plan"\n')
    code, out, err = support.run_prodigy("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 0, out + err
    logs = prodigy_home / "logs" / "claude" / support.session_id_from(out)
    assert len(list(logs.glob("*.jsonl"))) == 1
    code, out, err = support.run_prodigy("sessions", "clean", "--older-than", "0", "-y", cwd=work)
    assert code == 0 and "Removed 1 session(s)" in out, out + err
    assert not logs.exists()
