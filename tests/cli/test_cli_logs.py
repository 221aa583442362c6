"""`prodigy logs`: a session's agent logs, found and shown readable (the fake claude writes real stream-json)."""

from __future__ import annotations

import json
from pathlib import Path

from prodigy import paths
from prodigy.state import sessions


def _run(invoke, work: Path, write_workflow, text: str) -> str:
    write_workflow(text)
    code, out, err = invoke("run", str(work / "workflow.yml"), "-p", str(work))
    assert code in (0, 1, 3), err
    return sessions.load_all()[0][0].id


def test_logs_lists_then_shows_a_step(invoke, work: Path, write_workflow, fake_claude: Path) -> None:
    session_id = _run(invoke, work, write_workflow, """
        - claude: "/review one"
        - shell: echo between
        - claude: "/review two"
    """)
    code, out, err = invoke("logs", session_id)
    assert code == 0, err
    assert f"Agent logs of {session_id}:" in out and "step1" in out and "step3" in out
    code, out, _ = invoke("logs", session_id[:15], "--step", "3")
    assert "agent: Working on: /review two" in out and "[result: success] done: /review two" in out
    assert "Summary: success" in out and "/review one" not in out
    code, out, _ = invoke("logs", "--latest", "--summary")
    assert "step3" in out and "Summary: success" in out and "agent:" not in out
    code, out, _ = invoke("logs")
    assert session_id in out and "The 2 newest agent logs" in out


def test_logs_of_a_mapreduce_item_with_its_attempts(invoke, work: Path, write_workflow, fake_claude: Path) -> None:
    (work / "items.json").write_text(json.dumps(["a", "FAIL-b"]))
    session_id = _run(invoke, work, write_workflow, """
        mode: mapreduce
        name: mr
        map:
          input: items.json
          agent_template:
            - claude: "/process ${item}"
        error_policy:
          retry: 2
    """)
    record = sessions.load(session_id)
    code, out, _ = invoke("logs", record.job_id, "--item", "1", "--json")
    data = json.loads(out)
    assert [log["log"]["attempt"] for log in data["logs"]] == [1, 2]
    assert all(log["summary"]["is_error"] for log in data["logs"])
    assert data["logs"][0]["lines"][1] == {"kind": "text", "text": "Working on: /process FAIL-b"}
    code, out, _ = invoke("logs", session_id, "--item", "item_0", "--raw")
    assert '"type":"result"' in out and "agent:" not in out


def test_tail_of_a_finished_log_ends_at_its_result(invoke, work: Path, write_workflow, fake_claude: Path) -> None:
    session_id = _run(invoke, work, write_workflow, '- claude: "/one"\n')
    code, out, _ = invoke("logs", session_id, "--tail")
    assert code == 0 and "[result: success] done: /one" in out


def test_no_logs_and_bad_selectors(invoke, work: Path, write_workflow) -> None:
    session_id = _run(invoke, work, write_workflow, "- shell: echo no agent\n")
    code, out, _ = invoke("logs", session_id)
    assert code == 0 and f"No agent logs for {session_id}" in out
    assert invoke("logs", "--item", "3")[0] == 2
    assert invoke("logs", "session-nope")[0] == 2
    code, out, _ = invoke("logs")
    assert code == 0 and "No agent logs yet" in out


def test_a_log_with_junk_is_still_shown(invoke, work: Path, write_workflow, fake_claude: Path) -> None:
    session_id = _run(invoke, work, write_workflow, '- claude: "/one"\n')
    (log,) = (paths.claude_logs_dir() / session_id).glob("*.jsonl")
    with open(log, "ab") as handle:
        handle.write(b"garbage \xff line\n")
    code, out, _ = invoke("logs", session_id)
    assert code == 0 and "? garbage" in out and "1 line(s) not JSON" in out
