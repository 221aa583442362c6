"""stream-json lines in the shapes the real Claude Code CLI (2.1.332) printed against the loopback API
stand-in (tests/contract), trimmed to the fields prodigy reads plus a few it does not."""

from __future__ import annotations

import json
from typing import Any

SID = "7578e230-ac77-4794-b02c-bbdc960f4985"


def init(cwd: str = "/tmp/w", **extra: Any) -> dict[str, Any]:
    return {"type": "system", "subtype": "init", "cwd": cwd, "session_id": SID, "tools": ["Bash"],
            "mcp_servers": [], "model": "claude-opus-5-5", "permissionMode": "bypassPermissions",
            "apiKeySource": "ANTHROPIC_API_KEY", "claude_code_version": "2.1.332", **extra}


def retry(attempt: int, status: int, error: str, delay_ms: int = 532, max_retries: int = 10) -> dict[str, Any]:
    return {"type": "system", "subtype": "api_retry", "attempt": attempt, "max_retries": max_retries,
            "retry_delay_ms": delay_ms, "error_status": status, "error": error, "session_id": SID}


def text(words: str, *, msg_id: str = "msg_1", error: str | None = None, synthetic: bool = False,
         tokens: tuple[int, int] = (12, 7)) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "assistant", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": "<synthetic>" if synthetic else
        "claude-opus-5-5", "content": [{"type": "text", "text": words}],
        "usage": {"input_tokens": 0 if synthetic else tokens[0], "output_tokens": 0 if synthetic else tokens[1],
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}},
        "parent_tool_use_id": None, "session_id": SID}
    if error:
        event["error"] = error
    return event


def result(*, subtype: str = "success", is_error: bool = False, words: str | None = "The answer is 42.",
           status: int | None = None, terminal: str = "completed", cost: float = 0.000188, turns: int = 1,
           errors: list[str] | None = None, tokens: bool = True) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "result", "subtype": subtype, "is_error": is_error, "duration_ms": 757, "duration_api_ms": 26,
        "num_turns": turns, "result": words, "stop_reason": "end_turn", "session_id": SID,
        "total_cost_usd": cost, "usage": {"input_tokens": 12 * tokens, "cache_creation_input_tokens": 3 * tokens,
                                          "cache_read_input_tokens": 40 * tokens, "output_tokens": 7 * tokens},
        "modelUsage": {"claude-opus-5-5": {"inputTokens": 12, "outputTokens": 7, "costUSD": cost}} if cost else {},
        "permission_denials": [], "terminal_reason": terminal, "api_error_status": status}
    if errors is not None:
        event["errors"] = errors
    return event


def api_error(status: int, error: str, words: str, retries: int = 2) -> list[dict[str, Any]]:
    return [init(), *(retry(n, status, _retry_error(status)) for n in range(1, retries + 1)),
            text(words, error=error, synthetic=True, msg_id="synthetic"),
            result(is_error=True, words=words, status=status, terminal="api_error", cost=0, tokens=False)]


def _retry_error(status: int) -> str:
    return {401: "authentication_failed", 403: "authentication_failed", 429: "rate_limit",
            529: "overloaded"}.get(status, "server_error")


def lines(events: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in events)
