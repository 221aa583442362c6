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
    code, out, err = support.run_prodigy("resume", session, cwd=work)
    assert code == 0, out + err
    assert "1 step(s) already done, skipped; $0.75 recorded, not re-run" in out
    assert "Agents: $0.50 this run over 1 agent call" in out and "$1.25 recorded in all (2 calls)" in out
    code, out, err = support.run_prodigy("sessions", "show", session, "--json", cwd=work)
    agents = json.loads(out)["standard"]["agents"]
    assert agents["steps"]["1"]["cost_usd"] == 0.75 and agents["steps"]["3"]["cost_usd"] == 0.5
    assert agents["total"]["cost_usd"] == 1.25


def test_sessions_clean_removes_the_agent_logs(work: Path, fake_claude: Path, prodigy_home: Path) -> None:
    support.write_workflow(work, '- claude: "/plan"\n')
    code, out, err = support.run_prodigy("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 0, out + err
    logs = prodigy_home / "logs" / "claude" / support.session_id_from(out)
    assert len(list(logs.glob("*.jsonl"))) == 1
    code, out, err = support.run_prodigy("sessions", "clean", "--older-than", "0", "-y", cwd=work)
    assert code == 0 and "Removed 1 session(s)" in out, out + err
    assert not logs.exists()


# ---------------------------------------------------------------- failure kinds


def twelve(work: Path, extra: str = "") -> Path:
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(12)]))
    path = work / "twelve.yml"
    path.write_text(f"""\
name: twelve
mode: mapreduce
{extra}map:
  input: items.json
  max_parallel: 3
  agent_template:
    - claude: "/fix item ${{item.n}}"
reduce:
  - shell: echo "reduce ${{map.successful}}/${{map.total}}"
""")
    return path


def test_auth_failing_stops_at_max_parallel_calls_then_a_plain_resume_finishes(work: Path, fake_claude: Path,
                                                                               prodigy_home: Path,
                                                                               tmp_path: Path) -> None:
    twelve(work)
    ledger = tmp_path / "calls.jsonl"
    code, out, err = support.run_prodigy("run", "twelve.yml", "--no-worktree", cwd=work,
                                         env={"ANTHROPIC_API_KEY": "bad-key", "FAKE_CLAUDE_CALLS": str(ledger)})
    assert code == 75, out + err
    agent_calls = [c for c in calls(ledger) if c["case"] != "version"]
    assert 1 <= len(agent_calls) <= 3 and {c["case"] for c in agent_calls} == {"auth"}
    assert "■ Run stopped in map: map stopped: the agent cannot run: claude failed: Invalid API key" in out
    assert "claude /login" in out and "ANTHROPIC_API_KEY" in out
    assert "nothing was sent to the dead-letter queue" in out and out.rstrip().splitlines()[-1].startswith(
        "Resume with: prodigy resume session-")
    job_id = mr.job_id_from(out)
    assert mr.job_state(job_id).count("dlq") == 0
    code, dlq_out, _ = support.run_prodigy("dlq", "list", job_id, "--json", cwd=work)
    assert json.loads(dlq_out)["jobs"][0]["dlq_count"] == 0
    session = support.session_id_from(out)
    record = mr.session_record(prodigy_home, session)
    assert record["status"] == "interrupted" and record["exit_code"] == 75
    stopped = [r for r in mr.journal(job_id) if r.get("t") == "done"]
    assert all(r["s"] == "interrupted" and r["k"] == "fatal" for r in stopped)
    code, out, err = support.run_prodigy("resume", session, cwd=work, env={"ANTHROPIC_API_KEY": "good-key"})
    assert code == 0, out + err
    assert "Done: 12 of 12 item(s) succeeded" in out and mr.job_state(job_id).count("succeeded") == 12


def test_the_first_three_calls_rate_limited_still_finish_12_of_12(work: Path, fake_claude: Path,
                                                                   prodigy_home: Path, tmp_path: Path) -> None:
    twelve(work, extra="agent_retry_pause: 0.2s\n")  # the default error policy: one attempt per item
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"calls": {"1": "rate_limit", "2": "rate_limit", "3": "rate_limit"}}))
    ledger = tmp_path / "calls.jsonl"
    code, out, err = support.run_prodigy("run", "twelve.yml", "--no-worktree", "--json", cwd=work,
                                         env={"FAKE_CLAUDE_SCRIPT": str(script), "FAKE_CLAUDE_CALLS": str(ledger)})
    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["items"] == {"total": 12, "successful": 12, "failed": 0, "dlq": 0, "pending": 0}
    assert summary["this_run"]["requeued"] == 3 and summary["this_run"]["sent_to_dlq"] == 0
    agent_calls = [c for c in calls(ledger) if c["case"] != "version"]
    assert [c["case"] for c in agent_calls].count("rate_limit") == 3 and len(agent_calls) == 15
    paused = [json.loads(line) for line in Path(summary["events_log"]).read_text().splitlines()
              if '"agents_paused"' in line]
    assert paused and "rate limiting" in paused[0]["reason"]
    assert summary["agents"]["total"]["cost_usd"] == round(12 * 0.0123, 6)  # the 429s cost nothing
    listed = json_of("events", "ls", summary["job_id"], "--type", "item_paused", cwd=work)
    assert listed["count"] == 3 and all(e["kind"] == "transient" for e in listed["events"])


def test_an_outage_longer_than_the_limit_stops_resumably(work: Path, fake_claude: Path, prodigy_home: Path) -> None:
    twelve(work, extra="agent_retry_pause: 0.1s\nagent_outage_limit: 0.3s\n")
    code, out, err = support.run_prodigy("run", "twelve.yml", "--no-worktree", "--json", cwd=work,
                                         env={"FAKE_CLAUDE_MODE": "overloaded", "FAKE_CLAUDE_RETRY_DELAY_MS": "50"})
    assert code == 75, out + err
    summary = json.loads(out)
    assert summary["status"] == "stopped" and summary["stop"]["kind"] == "transient"
    assert "agent_outage_limit" in summary["stop"]["message"] and summary["items"]["dlq"] == 0
    assert summary["next_command"] == f"prodigy resume {summary['session_id']}"
    code, out, err = support.run_prodigy("resume", summary["session_id"], cwd=work)
    assert code == 0 and "Done: 12 of 12" in out, out + err


def test_max_cost_stops_dispatching_and_a_higher_cap_continues(work: Path, fake_claude: Path,
                                                               prodigy_home: Path) -> None:
    agent_job(work, ["succeed cost=0.5"] * 8, max_parallel=1, extra="max_cost_usd: 1.2\n")
    code, out, err = support.run_prodigy("run", "agents.yml", "--no-worktree", cwd=work)
    assert code == 75, out + err
    assert "the cost cap was reached: the recorded agent cost $1.50 reached max_cost_usd $1.20" in out
    job_id = mr.job_id_from(out)
    assert mr.job_state(job_id).count("succeeded") == 3
    code, out, err = support.run_prodigy("resume", job_id, cwd=work)
    assert code == 75 and "$1.50 recorded, not re-run" in out, out + err  # still over the cap: nothing ran
    assert mr.job_state(job_id).count("succeeded") == 3
    code, out, err = support.run_prodigy("resume", job_id, "--max-cost", "10", cwd=work)
    assert code == 0 and "Done: 8 of 8" in out, out + err


def test_a_standard_workflow_waits_out_a_rate_limit_and_stops_on_auth(work: Path, fake_claude: Path,
                                                                      prodigy_home: Path, tmp_path: Path) -> None:
    support.write_workflow(work, """
        agent_retry_pause: 0.1s
        commands:
          - shell: echo one >> ledger
          - claude: /work
          - shell: echo three >> ledger
    """)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"calls": {"1": "overloaded", "2": "rate_limit"}}))
    code, out, err = support.run_prodigy("run", "workflow.yml", "--no-worktree", cwd=work,
                                         env={"FAKE_CLAUDE_SCRIPT": str(script), "FAKE_CLAUDE_RETRY_DELAY_MS": "20"})
    assert code == 0 and out.count("Paused: ") == 2 and "3 agent calls" in out, out + err
    (work / "ledger").unlink()
    code, out, err = support.run_prodigy("run", "workflow.yml", "--no-worktree", cwd=work,
                                         env={"ANTHROPIC_API_KEY": "bad"})
    assert code == 75 and "■ Session stopped at step 2/3: the agent cannot run" in out, out + err
    code, out, err = support.run_prodigy("resume", support.session_id_from(out), cwd=work)
    assert code == 0, out + err
    assert (work / "ledger").read_text() == "one\nthree\n"  # step 1 was not run again


def test_setup_and_reduce_agents_follow_the_same_policy(work: Path, fake_claude: Path, prodigy_home: Path,
                                                        tmp_path: Path) -> None:
    (work / "items.json").write_text(json.dumps([{"n": 0}]))
    (work / "mr.yml").write_text("""\
mode: mapreduce
agent_retry_pause: 0.1s
setup:
  - claude: /prepare
map:
  input: items.json
  agent_template:
    - shell: echo item
reduce:
  - claude: /summarise
""")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"calls": {"1": "overloaded"}, "prompts": [["/summarise", "auth"]]}))
    code, out, err = support.run_prodigy("run", "mr.yml", "--no-worktree", "--json", cwd=work,
                                         env={"FAKE_CLAUDE_SCRIPT": str(script), "FAKE_CLAUDE_RETRY_DELAY_MS": "20"})
    assert code == 75, out + err
    summary = json.loads(out)
    assert summary["failed_phase"] == "reduce" and summary["stop"]["reason"] == "auth"
    assert summary["setup_steps"]["done"] == 1
    script.write_text(json.dumps({"default": "succeed"}))
    code, out, err = support.run_prodigy("resume", summary["session_id"], cwd=work)
    assert code == 0, out + err


def test_ctrl_c_during_a_pause_interrupts_at_once(work: Path, fake_claude: Path, prodigy_home: Path,
                                                  spawn_prodigy) -> None:
    twelve(work, extra="agent_retry_pause: 60s\n")
    proc = spawn_prodigy("run", "twelve.yml", "--no-worktree", cwd=work,
                         env={"FAKE_CLAUDE_MODE": "rate_limit", "FAKE_CLAUDE_RETRY_DELAY_MS": "10"})

    def paused() -> bool:
        found = list((prodigy_home / "events").glob("*/*/events.jsonl"))
        return bool(found) and '"agents_paused"' in found[0].read_text()

    support.wait_for(paused, what="the pool to pause")
    proc.send_signal(signal.SIGINT)
    code, out, err = support.finish(proc, timeout=15)
    assert code == 130, out + err
    job_id = mr.job_id_from(out)
    state = mr.job_state(job_id)
    assert state.count("dlq") == 0 and state.count("pending") == 12
