"""What an agent call's end means: success or failure decided by its final `result` event (not the exit code),
the failure's kind (transient, fatal for the run, or the agent's own), and a message in the CLI's own words."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prodigy.execution import outcome as o
from prodigy.execution.agents.stream import AgentStream
from prodigy.execution.process import ProcessResult

TRANSIENT_ERRORS = {"rate_limit": "rate_limit", "server_error": "server_error", "overloaded": "overloaded"}
AUTH_HINT = ("Log in with `claude /login`, or set ANTHROPIC_API_KEY to a valid key (prodigy passes ANTHROPIC_* "
             "and CLAUDE_* variables to the agent), then resume the session.")
HINTS = {
    "auth": AUTH_HINT,
    "permission": "The API refused this key (permission). Check the key's organisation and workspace, then resume.",
    "root": "As root, claude refuses --dangerously-skip-permissions. Run prodigy as a normal user, or set "
            "IS_SANDBOX=1 if this is a container or sandbox, then resume.",
    "unknown_option": "This claude does not accept an option prodigy passes. Update Claude Code (npm install -g "
                      "@anthropic-ai/claude-code) or point PRODIGY_CLAUDE_BIN at a newer one, then resume.",
    "cannot_start": "Check that the agent CLI runs (claude --version); PRODIGY_CLAUDE_BIN selects which one.",
    "transient": "The API is rate limited or overloaded. The run paused and retried; resume later to continue.",
}
_FATAL_STDERR = (
    ("cannot be used with root/sudo privileges", "root"),
    ("unknown option", "unknown_option"),
    ("unknown command", "unknown_option"),
    ("requires --verbose", "unknown_option"),
    ("invalid api key", "auth"),
    ("please run /login", "auth"),
    ("not logged in", "auth"),
)
_RESET_CLOCK = re.compile(r"resets\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*([ap]m)?", re.IGNORECASE)
_RESET_EPOCH = re.compile(r"limit reached\|(\d{9,11})")


@dataclass(frozen=True)
class Verdict:
    status: str  # an outcome status (succeeded, failed, timed_out, errored, interrupted)
    error: str | None = None
    kind: o.FailureKind | None = None
    warnings: tuple[str, ...] = field(default=())


def judge(result: ProcessResult, stream: AgentStream, *, timeout: float | None = None) -> Verdict:
    warnings = _warnings(result, stream)
    if result.start_error:
        return Verdict(o.ERRORED, f"claude could not start: {result.start_error}", _kind("fatal", "cannot_start"))
    if result.interrupted:
        return Verdict(o.INTERRUPTED, "interrupted", warnings=warnings)
    event = stream.result
    if event is not None:
        if event.get("is_error") is False and event.get("subtype") == "success":
            if result.exit_code not in (0, None) and not result.ended_after_finish:
                warnings += (f"claude exited with code {result.exit_code} after a successful result; "
                             "the result counts",)
            return Verdict(o.SUCCEEDED, warnings=warnings)
        return _error_result(event, result, stream, warnings)
    return _no_result(result, stream, warnings, timeout)


def _error_result(event: dict[str, Any], result: ProcessResult, stream: AgentStream,
                  warnings: tuple[str, ...]) -> Verdict:
    text = _words(event)
    status = event.get("api_error_status")
    detail = []
    if isinstance(status, int):
        detail.append(f"API status {status}")
    subtype = event.get("subtype")
    if subtype and subtype != "success":
        detail.append(str(subtype))
    reason_text = event.get("terminal_reason")
    if reason_text and reason_text != "completed":
        detail.append(f"terminal_reason {reason_text}")
    if isinstance(event.get("num_turns"), int) and subtype in ("error_max_turns", "error_max_budget_usd"):
        detail.append(f"{event['num_turns']} turns")
    if result.exit_code == 0:
        detail.append("exit code 0")
    message = f"claude failed: {text}" + (f" ({', '.join(detail)})" if detail else "")
    return Verdict(o.FAILED, message, _classify(event, stream, text, result), warnings)


def _classify(event: dict[str, Any], stream: AgentStream, text: str, result: ProcessResult) -> o.FailureKind:
    status = event.get("api_error_status")
    errors = set(stream.assistant_errors[-1:])
    if status == 401 or (status is None and "authentication_failed" in errors):
        return _kind("fatal", "auth")
    if status == 403:
        return _kind("fatal", "permission")
    limit = _usage_limit(text)
    if limit is not None:
        return _kind("transient", "usage_limit", retry_after=limit)
    if status == 429 or status == 529 or (isinstance(status, int) and status >= 500) or errors & set(TRANSIENT_ERRORS):
        reason = {429: "rate_limit", 529: "overloaded"}.get(status or 0) or (
            TRANSIENT_ERRORS.get(next(iter(errors), ""), "server_error"))
        return _kind("transient", reason, retry_after=_retry_delay(stream))
    if "No conversation found" in result.stderr:
        return _kind("agent", "no_conversation")
    subtype = str(event.get("subtype") or "")
    reason = {"error_max_turns": "max_turns", "error_max_budget_usd": "max_budget",
              "error_during_execution": "execution"}.get(subtype) or (
        "invalid_request" if status == 400 else "error_result")
    return _kind("agent", reason)


def _no_result(result: ProcessResult, stream: AgentStream, warnings: tuple[str, ...],
               timeout: float | None) -> Verdict:
    stderr = result.stderr.strip()
    last_line = stderr.splitlines()[-1] if stderr else ""
    lowered = stderr.lower()
    for needle, reason in _FATAL_STDERR:
        if needle in lowered:
            return Verdict(o.FAILED, f"claude refused to run: {last_line}", _kind("fatal", reason), warnings)
    retrying = _still_retrying(stream)
    if result.timed_out:
        seconds = f" after {result.duration:.1f}s" if timeout is None else f" after {timeout:g}s"
        message = f"claude timed out{seconds} before its final result"
        if retrying is not None:
            return Verdict(o.TIMED_OUT, f"{message}; it was retrying the API ({retrying[1]})",
                           _kind("transient", retrying[0], retry_after=_retry_delay(stream)), warnings)
        return Verdict(o.TIMED_OUT, message, _kind("agent", "timeout"), warnings)
    if result.exit_code is None and result.signal is not None:
        message = f"claude was killed by signal {result.signal} before its final result"
    elif result.exit_code == 0:
        message = f"claude exited with code 0 but printed no final result ({stream.events} events)"
    else:
        message = f"claude exited with code {result.exit_code} and no final result"
    if last_line:
        message += f": {last_line[:500]}"
    if retrying is not None:
        return Verdict(o.FAILED, f"{message}; it was retrying the API ({retrying[1]})",
                       _kind("transient", retrying[0], retry_after=_retry_delay(stream)), warnings)
    if "No conversation found" in stderr:
        return Verdict(o.FAILED, message, _kind("agent", "no_conversation"), warnings)
    return Verdict(o.FAILED, message, _kind("agent", "no_result"), warnings)


def _warnings(result: ProcessResult, stream: AgentStream) -> tuple[str, ...]:
    found: list[str] = []
    servers = (stream.init or {}).get("mcp_servers") or []
    failed = [str(s.get("name")) for s in servers if isinstance(s, dict) and s.get("status") == "failed"]
    if failed:
        found.append(f"MCP server(s) failed to start: {', '.join(failed)}")
    if result.ended_after_finish:
        found.append("claude did not exit after its final result; prodigy ended it and used the result")
    return tuple(found)


def _words(event: dict[str, Any]) -> str:
    """The CLI's own explanation: the result text, else its errors[], else the subtype."""
    parts: list[str] = []
    text = event.get("result")
    if isinstance(text, str) and text.strip():
        parts.append(text.strip())
    errors = event.get("errors")
    if isinstance(errors, list):
        parts += [str(e) for e in errors if str(e).strip() and str(e).strip() not in parts]
    words = "; ".join(parts) or f"the CLI reported {event.get('subtype') or 'an error'}"
    return " ".join(words.split())[:1000]


def _kind(kind: str, reason: str, *, retry_after: float | None = None) -> o.FailureKind:
    hint = HINTS.get(reason) or (HINTS["transient"] if kind == "transient" else None)
    return o.FailureKind(kind=kind, reason=reason, retry_after=retry_after, hint=hint)


def _retry_delay(stream: AgentStream) -> float | None:
    if not stream.retries:
        return None
    delay = stream.retries[-1].get("retry_delay_ms")
    return float(delay) / 1000 if isinstance(delay, (int, float)) and delay > 0 else None


def _still_retrying(stream: AgentStream) -> tuple[str, str] | None:
    """(reason, description) when the last thing the CLI did was retry the API for a transient status."""
    if not stream.retries or stream.retry_count == 0:
        return None
    last = stream.retries[-1]
    status = last.get("error_status")
    if not (status in (429, 529) or (isinstance(status, int) and status >= 500)):
        return None
    reason = {429: "rate_limit", 529: "overloaded"}.get(status, "server_error")
    return reason, f"{status} {last.get('error') or ''}, attempt {last.get('attempt')}/{last.get('max_retries')}".strip()


def _usage_limit(text: str, now: float | None = None) -> float | None:
    """Seconds until a subscription usage limit resets ("You've hit your limit · resets 1pm"), if that is what
    the text says; 0 when it says so without a time."""
    lowered = text.lower()
    if "hit your limit" not in lowered and "usage limit" not in lowered:
        return None
    now = time.time() if now is None else now
    epoch = _RESET_EPOCH.search(text)
    if epoch:
        return max(float(epoch.group(1)) - now, 0.0)
    clock = _RESET_CLOCK.search(text)
    if not clock:
        return 0.0
    hour, minute = int(clock.group(1)) % 12 if clock.group(3) else int(clock.group(1)), int(clock.group(2) or 0)
    if clock.group(3) and clock.group(3).lower() == "pm":
        hour += 12
    current = datetime.fromtimestamp(now)
    try:
        reset = current.replace(hour=hour % 24, minute=minute, second=0, microsecond=0)
    except ValueError:
        return 0.0
    if reset <= current:
        reset += timedelta(days=1)
    return (reset - current).total_seconds()
