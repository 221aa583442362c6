"""The readable rendering of a claude stream-json log."""

from __future__ import annotations

import json
from pathlib import Path

from prodigy.views.agent_log import lines_of, readable

STREAM = [
    {"type": "system", "subtype": "init", "session_id": "abc", "cwd": "/repo", "model": "claude-x",
     "mcp_servers": [{"name": "db", "status": "failed"}]},
    {"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10, "error_status": 529,
     "error": "overloaded"},
    {"type": "assistant", "message": {"content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "name": "Bash", "input": {"command": "ls -la"}},
        {"type": "tool_use", "name": "Read", "input": {"file_path": "src/app.py"}}]}},
    {"type": "user", "message": {"content": [
        {"type": "tool_result", "content": "\n".join(f"line {n}" for n in range(40))},
        {"type": "tool_result", "content": [{"type": "text", "text": "no such file"}], "is_error": True}]}},
    {"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "make"}}]}},
    {"type": "result", "subtype": "success", "is_error": False, "result": "All done.", "num_turns": 3,
     "duration_ms": 12500, "total_cost_usd": 0.0123, "usage": {"input_tokens": 100, "output_tokens": 50}},
]


def _lines(events: list[dict]) -> list[str]:
    return [json.dumps(e) for e in events]


def test_readable_shows_text_tool_calls_results_and_the_result() -> None:
    lines, summary = readable(_lines(STREAM))
    kinds = [(line.kind, line.text.splitlines()[0]) for line in lines]
    assert kinds == [
        ("init", "session abc model claude-x in /repo; MCP servers failed: db"),
        ("retry", "API retry 1/10 after 529 overloaded"),
        ("text", "Let me look."), ("tool", "Bash: ls -la"), ("tool", "Read: src/app.py"),
        ("tool_result", "line 0"), ("tool_error", "no such file"), ("tool", "Bash: make"),
        ("result", "[result: success] All done."),
    ]
    assert lines[5].text.endswith("… (28 more lines)")
    assert (summary.status, summary.turns, summary.cost_usd, summary.model) == ("success", 3, 0.0123, "claude-x")
    assert summary.tools == {"Bash": 2, "Read": 1} and summary.retries == 1 and summary.messages == 3
    assert summary.tokens == {"input_tokens": 100, "output_tokens": 50}


def test_full_and_tail() -> None:
    lines, _ = readable(_lines(STREAM), full=True)
    assert len(lines[5].text.splitlines()) == 40
    last, summary = readable(_lines(STREAM), tail=2)
    assert [line.kind for line in last] == ["tool", "result"] and summary.tools["Bash"] == 2


def test_a_killed_agent_and_junk_lines_are_shown_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(json.dumps(STREAM[2]).encode() + b"\nnot json \xff\xfe at all\n{broken\n\n")
    lines, summary = readable(lines_of(path))
    assert [line.kind for line in lines] == ["text", "tool", "tool", "raw", "raw"]
    assert "\ufffd" in lines[3].text
    assert summary.status is None and summary.unreadable == 2


def test_assistant_errors_and_error_results() -> None:
    events = [{"type": "assistant", "message": {"content": []}, "error": "rate_limit"},
              {"type": "result", "subtype": "success", "is_error": True, "result": "API Error: 429"}]
    lines, summary = readable(_lines(events))
    assert [(line.kind, line.text) for line in lines] == [("error", "API error: rate_limit"),
                                                         ("error", "[error: success] API Error: 429")]
    assert summary.is_error is True


def test_a_large_log_is_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": "x" * 1000}]}})
    with open(path, "w") as handle:
        for _ in range(4_000):  # ~4 MB
            handle.write(line + "\n")
        handle.write(json.dumps(STREAM[-1]) + "\n")
    lines, summary = readable(lines_of(path), tail=3)
    assert len(lines) == 3 and summary.messages == 4_000 and summary.status == "success"
