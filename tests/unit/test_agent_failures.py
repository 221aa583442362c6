"""Success or failure from the CLI's result event, never the exit code; the failure's kind and its words."""

from __future__ import annotations

from datetime import datetime

import pytest
from agent_events import api_error, init, lines, result, retry, text

from prodigy.execution import outcome as o
from prodigy.execution.agents.failures import _usage_limit, judge
from prodigy.execution.agents.stream import AgentStream
from prodigy.execution.process import ProcessResult


def ended(events: list, *, exit_code: int | None = 0, stderr: str = "", timed_out: bool = False,
          signal: int | None = None, interrupted: bool = False, after_finish: bool = False,
          start_error: str | None = None):
    stream = AgentStream()
    stream.write(lines(events))
    stream.close()
    proc = ProcessResult(exit_code=exit_code, stdout="", stderr=stderr, stdout_bytes=0, stderr_bytes=len(stderr),
                         duration=1.5, timed_out=timed_out, interrupted=interrupted, signal=signal,
                         start_error=start_error, ended_after_finish=after_finish)
    return judge(proc, stream, timeout=30 if timed_out else None)


def test_success_is_a_success_result() -> None:
    verdict = ended([init(), text("hi"), result()])
    assert verdict == ended([init(), text("hi"), result()]) and verdict.status == o.SUCCEEDED
    assert verdict.kind is None and verdict.warnings == ()


def test_a_success_result_with_a_nonzero_exit_is_a_success_with_a_warning() -> None:
    verdict = ended([init(), result()], exit_code=1)
    assert verdict.status == o.SUCCEEDED and "exited with code 1 after a successful result" in verdict.warnings[0]


def test_a_result_after_which_the_cli_hung_counts() -> None:
    verdict = ended([init(), result()], exit_code=None, signal=15, after_finish=True)
    assert verdict.status == o.SUCCEEDED and "did not exit after its final result" in verdict.warnings[0]


def test_is_error_with_exit_0_is_a_failure_of_the_agent() -> None:
    words = "API Error: 400 invalid_request_error: messages: text content blocks must be non-empty"
    verdict = ended([init(), result(is_error=True, words=words, status=400, terminal="api_error")], exit_code=0)
    assert verdict.status == o.FAILED and verdict.kind.kind == o.AGENT and verdict.kind.reason == "invalid_request"
    assert verdict.error == f"claude failed: {words} (API status 400, terminal_reason api_error, exit code 0)"


@pytest.mark.parametrize(("status", "error", "kind", "reason"), [
    (401, "authentication_failed", o.FATAL, "auth"),
    (403, "authentication_failed", o.FATAL, "permission"),
    (429, "rate_limit", o.TRANSIENT, "rate_limit"),
    (529, "server_error", o.TRANSIENT, "overloaded"),
    (500, "server_error", o.TRANSIENT, "server_error"),
])
def test_api_errors_after_the_clis_retries(status: int, error: str, kind: str, reason: str) -> None:
    words = f"API Error: {status} stand-in says no"
    verdict = ended(api_error(status, error, words), exit_code=1)
    assert verdict.status == o.FAILED and (verdict.kind.kind, verdict.kind.reason) == (kind, reason)
    assert words in verdict.error and f"API status {status}" in verdict.error
    if kind == o.TRANSIENT:
        assert verdict.kind.retry_after == pytest.approx(0.532)  # the CLI's own last retry delay
    if reason == "auth":
        assert "claude /login" in verdict.kind.hint and "ANTHROPIC_API_KEY" in verdict.kind.hint


def test_max_turns_and_budget_are_the_agents_own_failures() -> None:
    turns = ended([init(), result(subtype="error_max_turns", is_error=True, words=None, terminal="max_turns", turns=3,
                                  errors=["Reached maximum number of turns (2)"])], exit_code=1)
    assert turns.status == o.FAILED and turns.kind.reason == "max_turns" and turns.kind.kind == o.AGENT
    assert turns.error == ("claude failed: Reached maximum number of turns (2) (error_max_turns, terminal_reason "
                           "max_turns, 3 turns)")
    budget = ended([init(), result(subtype="error_max_budget_usd", is_error=True, words=None,
                                   errors=["Reached maximum budget ($0.0001)"])], exit_code=1)
    assert budget.kind.reason == "max_budget" and "Reached maximum budget ($0.0001)" in budget.error


def test_no_result_is_a_failure_whatever_the_exit_code() -> None:
    zero = ended([init(), text("working")], exit_code=0)
    assert zero.status == o.FAILED and zero.kind.reason == "no_result" and "exited with code 0" in zero.error
    killed = ended([init()], exit_code=None, signal=9)
    assert killed.status == o.FAILED and "killed by signal 9 before its final result" in killed.error


@pytest.mark.parametrize(("stderr", "reason"), [
    ("--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons\n", "root"),
    ("error: unknown option '--bogus'\n", "unknown_option"),
    ("Error: When using --print, --output-format=stream-json requires --verbose\n", "unknown_option"),
    ("Invalid API key · Please run /login\n", "auth"),
])
def test_a_cli_that_refuses_to_run_is_fatal_for_the_run(stderr: str, reason: str) -> None:
    verdict = ended([], exit_code=1, stderr=stderr)
    assert (verdict.status, verdict.kind.kind, verdict.kind.reason) == (o.FAILED, o.FATAL, reason)
    assert stderr.strip() in verdict.error and verdict.kind.hint


def test_a_cli_that_cannot_start_is_fatal() -> None:
    verdict = ended([], exit_code=None, start_error="executable not found: claude")
    assert verdict.status == o.ERRORED and verdict.kind.reason == "cannot_start"


def test_timeouts_are_the_agents_unless_it_was_retrying_the_api() -> None:
    plain = ended([init(), text("long work")], exit_code=None, signal=15, timed_out=True)
    assert plain.status == o.TIMED_OUT and plain.kind.kind == o.AGENT and "timed out after 30s" in plain.error
    stuck = ended([init(), retry(7, 529, "overloaded", delay_ms=8000)], exit_code=None, signal=15, timed_out=True)
    assert stuck.status == o.TIMED_OUT and stuck.kind.kind == o.TRANSIENT and stuck.kind.retry_after == 8.0
    assert "retrying the API (529 overloaded, attempt 7/10)" in stuck.error


def test_interrupted_is_interrupted() -> None:
    assert ended([init()], exit_code=None, signal=15, interrupted=True).status == o.INTERRUPTED


def test_a_failed_mcp_server_is_a_warning() -> None:
    verdict = ended([init(mcp_servers=[{"name": "db", "status": "failed"}]), result()])
    assert verdict.status == o.SUCCEEDED and verdict.warnings == ("MCP server(s) failed to start: db",)


def test_a_usage_limit_is_transient_and_waits_for_its_reset() -> None:
    words = "You've hit your limit · resets 1pm"
    verdict = ended([init(), text(words, error="rate_limit", synthetic=True),
                     result(is_error=True, words=words, terminal="api_error", cost=0)], exit_code=1)
    assert verdict.kind.kind == o.TRANSIENT and verdict.kind.reason == "usage_limit"
    noon = datetime(2026, 12, 1, 12, 0).timestamp()
    assert _usage_limit(words, now=noon) == 3600
    assert _usage_limit("You've hit your limit · resets 11:30am", now=noon) == 23.5 * 3600
    assert _usage_limit("Claude AI usage limit reached|1796000000", now=1795999000) == 1000
    assert _usage_limit("an ordinary error", now=noon) is None
