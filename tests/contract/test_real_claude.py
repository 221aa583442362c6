"""The contract with the real Claude Code CLI: its stream-json shapes and failure paths, seen through prodigy.

Each test starts the loopback Messages API stand-in and runs the real CLI (from claude-agent-sdk) against it,
either directly (to check that tests/fake_claude/claude emits what the real one does) or as the agent of a
`prodigy run`. The CLI's own API retries are lowered (CLAUDE_CODE_MAX_RETRIES) so that a 401 or a 529 takes a
second, not the three minutes of the defaults."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from messages_api import Reply

import support
from prodigy.state.jobs import JobStore, find_job_folder
from prodigy.state.journal import read_journal

pytestmark = [pytest.mark.contract, pytest.mark.e2e]

BASE = ["-p", "--output-format=stream-json", "--verbose", "--dangerously-skip-permissions"]
READ_KEYS = {  # what prodigy reads, per event (execution/agents/stream.py)
    "init": {"type", "subtype", "session_id", "cwd", "model", "mcp_servers"},
    "api_retry": {"type", "subtype", "attempt", "max_retries", "retry_delay_ms", "error_status", "error"},
    "assistant": {"type", "message", "session_id"},
    "result": {"type", "subtype", "is_error", "num_turns", "duration_ms", "duration_api_ms", "session_id",
               "total_cost_usd", "usage", "modelUsage"},  # and result / api_error_status, or errors[]
}


def journal(job_id: str) -> list[dict[str, Any]]:
    return read_journal(find_job_folder(job_id) / "journal.jsonl").records


def dlq_count(job_id: str) -> int:
    return JobStore(find_job_folder(job_id)).load_state().count("dlq")


def run_cli(binary: Path | str, args: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None
            ) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run([str(binary), *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          timeout=120)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, events, proc.stderr


def signature(event: dict[str, Any]) -> str:
    if event.get("type") in ("system", "result"):
        return f"{event['type']}/{event.get('subtype')}"
    return str(event.get("type"))


def facts(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What decides prodigy's verdict, from a stream."""
    result = next((e for e in events if e.get("type") == "result"), {})
    errors = [e.get("error") for e in events if e.get("type") == "assistant" and e.get("error")]
    return {"sequence": [signature(e) for e in events if signature(e) != "user"],
            "subtype": result.get("subtype"), "is_error": result.get("is_error"),
            "api_error_status": result.get("api_error_status"), "terminal_reason": result.get("terminal_reason"),
            "result_is_text": isinstance(result.get("result"), str), "assistant_errors": errors,
            "has_errors_list": isinstance(result.get("errors"), list) and bool(result.get("errors")),
            "result_keys": sorted(k for k in ("result", "api_error_status", "terminal_reason") if k in result),
            "retry_statuses": [e.get("error_status") for e in events if signature(e) == "system/api_retry"],
            "retry_errors": [e.get("error") for e in events if signature(e) == "system/api_retry"]}


def kinds_of(event: dict[str, Any]) -> str:
    sig = signature(event)
    return {"system/init": "init", "system/api_retry": "api_retry"}.get(sig, sig.split("/")[0])


def assert_fake_emits_what_the_real_cli_does(real: list[dict[str, Any]], fake: list[dict[str, Any]]) -> None:
    assert facts(fake) == facts(real)
    for events in (real, fake):
        for event in events:
            wanted = READ_KEYS.get(kinds_of(event), set())
            assert wanted <= set(event), (kinds_of(event), wanted - set(event))
    real_keys: dict[str, set[str]] = {}
    for event in real:
        real_keys.setdefault(kinds_of(event), set()).update(event)
    for event in fake:  # the fake invents no field the real CLI does not print
        invented = set(event) - real_keys.get(kinds_of(event), set())
        assert not invented, (kinds_of(event), invented)
    real_result = next(e for e in real if e["type"] == "result")
    fake_result = next(e for e in fake if e["type"] == "result")
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        assert isinstance(real_result["usage"][key], int) and isinstance(fake_result["usage"][key], int)


CASES = {  # fake case -> (what the stand-in answers, extra CLI args)
    "succeed": (lambda r, n: Reply(text="The answer is 42."), []),
    "auth": (lambda r, n: Reply(status=401, error_message="invalid x-api-key"), []),
    "forbidden": (lambda r, n: Reply(status=403, error_message="forbidden"), []),
    "rate_limit": (lambda r, n: Reply(status=429, error_message="slow down"), []),
    "overloaded": (lambda r, n: Reply(status=529, error_message="Overloaded"), []),
    "server_error": (lambda r, n: Reply(status=500, error_message="boom"), []),
    "max_turns": (lambda r, n: Reply(tool_command="echo still working"), ["--max-turns=1"]),
    "max_budget": (lambda r, n: Reply(text="spent"), ["--max-budget-usd=0.0001"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fake_emits_what_the_real_cli_does(case: str, api, real_claude: Path, work: Path) -> None:
    script, extra = CASES[case]
    api.script = script
    env = {**os.environ, "CLAUDE_CODE_MAX_RETRIES": "2"}
    real_code, real_events, _ = run_cli(real_claude, [*BASE, *extra, "--", "do the task"], work, env)
    fake_env = {**env, "FAKE_CLAUDE_MODE": case, "FAKE_CLAUDE_RETRIES": "2"}
    fake_code, fake_events, _ = run_cli(support.FAKE_CLAUDE, [*BASE, *extra, "--", "do the task"], work, fake_env)
    assert fake_code == real_code
    assert_fake_emits_what_the_real_cli_does(real_events, fake_events)


def test_the_fake_refuses_what_the_real_cli_refuses(api, real_claude: Path, work: Path) -> None:
    env = dict(os.environ)
    for args, stdin in ((["-p", "--output-format=stream-json", "--verbose", "-starts-with-a-dash"], None),
                        (["-p", "--output-format=stream-json", "hello"], None),
                        (["--version"], None)):
        real = subprocess.run([str(real_claude), *args], cwd=work, env=env, capture_output=True, text=True,
                              input=stdin, timeout=60)
        fake = subprocess.run([str(support.FAKE_CLAUDE), *args], cwd=work, env=env, capture_output=True,
                              text=True, input=stdin, timeout=60)
        assert (fake.returncode, fake.stdout.split("\n")[0].split(" (")[-1], fake.stderr) == (
            real.returncode, real.stdout.split("\n")[0].split(" (")[-1], real.stderr), args
    if os.geteuid() == 0:
        bare = {k: v for k, v in env.items() if k != "IS_SANDBOX"}
        real = subprocess.run([str(real_claude), *BASE, "--", "x"], cwd=work, env=bare, capture_output=True,
                              text=True, timeout=60)
        fake = subprocess.run([str(support.FAKE_CLAUDE), *BASE, "--", "x"], cwd=work, env=bare,
                              capture_output=True, text=True, timeout=60)
        assert (fake.returncode, fake.stderr) == (real.returncode, real.stderr)


def test_conversations_behave_alike(api, real_claude: Path, work: Path) -> None:
    api.script = lambda r, n: Reply(text="noted")
    for binary in (real_claude, support.FAKE_CLAUDE):
        sid = str(uuid.uuid4())
        code, events, _ = run_cli(binary, [*BASE, f"--session-id={sid}", "--", "first"], work, dict(os.environ))
        assert code == 0 and events[0]["session_id"] == sid and events[0]["cwd"] == str(work)
        code, events, _ = run_cli(binary, [*BASE, f"--resume={sid}", "--", "second"], work, dict(os.environ))
        assert code == 0 and events[-1]["session_id"] == sid and not events[-1]["is_error"], binary
        code, _, err = run_cli(binary, [*BASE, f"--session-id={sid}", "--", "again"], work, dict(os.environ))
        assert code == 1 and err == f"Error: Session ID {sid} is already in use.\n", binary
        unknown = str(uuid.uuid4())
        code, events, err = run_cli(binary, [*BASE, f"--resume={unknown}", "--", "x"], work, dict(os.environ))
        assert code == 1 and err == f"No conversation found with session ID: {unknown}\n", binary
        assert [e["subtype"] for e in events] == ["error_during_execution"] and events[0]["is_error"]


# ---------------------------------------------------------------- through prodigy run


SECRET = 'tok"en-é\\42'


def items_workflow(work: Path, count: int, *, extra: str = "", prompt: str = "/fix item ${item.n}") -> None:
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(count)]))
    (work / "wf.yml").write_text(f"""\
mode: mapreduce
{extra}map:
  input: items.json
  max_parallel: 2
  agent_template:
    - claude: "{prompt}"
reduce:
  - shell: echo "reduce ${{map.successful}}/${{map.total}}"
""")


def test_success_through_prodigy_run(api, real_claude: Path, work: Path, prodigy_home: Path) -> None:
    def script(request, number):
        if request.has_tool_result:
            return Reply(text=f"Fixed it; the token was {SECRET}.")
        return Reply(tool_command="echo ran >> agent-ran.txt")

    api.script = script
    items_workflow(work, 2, extra=f"secrets:\n  TOKEN: {json.dumps(SECRET)}\n",
                   prompt="-${item.n}: fix it with ${TOKEN}")  # a prompt that starts with '-'
    code, out, err = support.run_prodigy("run", "wf.yml", "--no-worktree", "--json", cwd=work)
    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["items"]["successful"] == 2 and (work / "agent-ran.txt").read_text() == "ran\nran\n"
    done = [r for r in journal(summary["job_id"]) if r.get("t") == "done"]
    for record in done:
        ag = record["ag"]
        assert ag["usd"] > 0 and ag["turns"] == 2 and ag["in"] > 0 and ag["sid"] and ag["model"]
        assert record["out"] == "Fixed it; the token was ***."  # the answer, masked; not the JSON stream
        log = Path(record["log"]).read_bytes()
        assert b'"type":"result"' in log and b"***" in log
        for printed in (SECRET, json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1]):
            assert printed.encode() not in log
    assert summary["agents"]["total"]["cost_usd"] == round(sum(r["ag"]["usd"] for r in done), 6)
    sent = [r.last_user_text for r in api.requests if not r.has_tool_result]
    assert any(text.endswith(f"-0: fix it with {SECRET}") for text in sent)


def test_auth_failure_stops_and_a_plain_resume_with_a_good_key_finishes(api, real_claude: Path, work: Path,
                                                                        prodigy_home: Path) -> None:
    def script(request, number):
        if request.headers.get("x-api-key", request.headers.get("X-Api-Key")) == "sk-test-bad":
            return Reply(status=401, error_message="invalid x-api-key")
        return Reply(text="done")

    api.script = script
    items_workflow(work, 4)
    code, out, err = support.run_prodigy("run", "wf.yml", "--no-worktree", cwd=work,
                                         env={"ANTHROPIC_API_KEY": "sk-test-bad"})
    assert code == 75, out + err
    assert "Invalid API key · Fix external API key (API status 401" in out and "claude /login" in out, out
    assert len(api.requests) <= 2 * 2  # at most max_parallel calls, each with the CLI's one retry
    job_id = out.split("Job:", 1)[1].split()[0]
    assert dlq_count(job_id) == 0
    code, out, err = support.run_prodigy("resume", support.session_id_from(out), cwd=work)
    assert code == 0 and "Done: 4 of 4 item(s) succeeded" in out, out + err


def test_rate_limits_pause_the_pool_and_every_item_succeeds(api, real_claude: Path, work: Path,
                                                            prodigy_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")
    api.script = lambda request, number: (Reply(status=429, error_message="rate limited") if number <= 2
                                          else Reply(text="done"))
    items_workflow(work, 3, extra="agent_retry_pause: 0.2s\n")
    code, out, err = support.run_prodigy("run", "wf.yml", "--no-worktree", "--json", cwd=work)
    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["items"]["successful"] == 3 and summary["items"]["dlq"] == 0
    assert summary["this_run"]["requeued"] == 2


def test_an_overload_that_lasts_stops_resumably(api, real_claude: Path, work: Path, prodigy_home: Path,
                                                monkeypatch) -> None:
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")
    api.script = lambda request, number: Reply(status=529, error_message="Overloaded")
    items_workflow(work, 2, extra="agent_retry_pause: 0.2s\nagent_outage_limit: 1s\n")
    code, out, err = support.run_prodigy("run", "wf.yml", "--no-worktree", "--json", cwd=work)
    assert code == 75, out + err
    summary = json.loads(out)
    assert summary["stop"]["kind"] == "transient" and summary["stop"]["reason"] == "overloaded"
    assert "API Error: 529" in summary["stop"]["message"] and summary["items"]["dlq"] == 0


def test_a_long_prompt_goes_on_stdin(api, real_claude: Path, work: Path, prodigy_home: Path) -> None:
    api.script = lambda request, number: Reply(text=f"got {len(request.last_user_text)} characters")
    support.write_workflow(work, """
        - shell: head -c 200000 /dev/zero | tr '\\0' y
          capture_output: BIG
        - claude: "/review ${BIG}"
        - shell: echo "${claude.output}" > answer.txt
    """)
    code, out, err = support.run_prodigy("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 0, out + err
    count = int((work / "answer.txt").read_text().split()[1])
    assert count >= 200_000 + len("/review ")


def test_a_run_killed_mid_agent_resumes_inside_the_real_cli_conversation(api, real_claude: Path, work: Path,
                                                                         prodigy_home: Path, spawn_prodigy) -> None:
    def script(request, number):
        if "You were interrupted" in request.last_user_text:
            return Reply(text="resumed: finished the task")
        if request.has_tool_result:
            return Reply(text="finished without a break")
        return Reply(tool_command="echo started > progress.txt; sleep 60")

    api.script = script
    support.write_workflow(work, """
        - claude: "Implement the parser"
        - shell: echo "${claude.output}" > answer.txt
    """)
    proc = spawn_prodigy("run", "workflow.yml", "--no-worktree", cwd=work)
    support.wait_for(lambda: (work / "progress.txt").exists(), 60, what="the agent's tool call")
    proc.kill()  # SIGKILL: prodigy dies; the CLI, in its own process group, is left running
    _code, out, _err = support.finish(proc)
    session = support.session_id_from(out)
    code, out, err = support.run_prodigy("resume", session, cwd=work)
    assert code == 0, out + err
    assert "Conversations: 1 agent continued its conversation" in out
    assert (work / "answer.txt").read_text() == "resumed: finished the task\n"
    resumed = next(r for r in api.requests if "You were interrupted" in r.last_user_text)
    history = resumed.all_text
    assert "Implement the parser" in history and "echo started > progress.txt" in history  # the same conversation
    checkpoint = json.loads((prodigy_home / "state" / session / "checkpoints" / "checkpoint.json").read_text())
    logs = sorted((prodigy_home / "logs" / "claude" / session).glob("*.jsonl"))
    inits = [json.loads(line) for path in logs for line in path.read_text().splitlines()
             if '"subtype":"init"' in line]
    assert len(inits) == 2 and inits[0]["session_id"] == inits[1]["session_id"] and inits[1]["cwd"] == str(work)
    assert checkpoint["completed"]["0"]["ag"]["turns"] >= 1
