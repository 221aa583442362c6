"""An agent log (the claude CLI's stream-json output, one JSON event per line) made readable: the agent's text,
its tool calls and their results, API retries and the final result. `readable` is the one rendering, shared
by `prodigy logs` and the progress web page. A log of any size is read line by line; a line that is not JSON
(or not UTF-8) is shown as it is, never fatal."""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOL_RESULT_LINES = 12  # lines of a tool result shown (unless full=True)
TEXT_LIMIT = 4000  # characters of one tool result or raw line shown (unless full=True)


@dataclass(frozen=True)
class LogLine:
    kind: str  # init | text | tool | tool_result | tool_error | retry | result | error | user | raw
    text: str


@dataclass
class LogSummary:
    model: str | None = None
    conversation: str | None = None  # the claude session id
    cwd: str | None = None
    status: str | None = None  # the result subtype: success | error_max_turns ...; None: no result (killed?)
    is_error: bool | None = None
    result: str | None = None
    turns: int | None = None
    duration_ms: int | None = None
    cost_usd: float | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    tools: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    retries: int = 0
    unreadable: int = 0  # lines that were not JSON events


def lines_of(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            yield line.rstrip("\n")


def _clip(text: str, full: bool, limit: int = TEXT_LIMIT) -> str:
    if full or len(text) <= limit:
        return text
    return text[:limit] + f" … ({len(text) - limit} more characters)"


def _tool_call(block: dict[str, Any]) -> str:
    name = str(block.get("name") or "tool")
    args = block.get("input") if isinstance(block.get("input"), dict) else {}
    for key in ("command", "file_path", "path", "pattern", "url", "query", "description", "prompt"):
        if isinstance(args.get(key), str) and args[key]:
            value = " ".join(args[key].split()) if key != "command" else args[key]
            return f"{name}: {value}"
    compact = json.dumps(args, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"{name} {compact[:300]}{'…' if len(compact) > 300 else ''}"


def _tool_result(block: dict[str, Any], full: bool) -> LogLine:
    content = block.get("content")
    if isinstance(content, list):
        content = "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    text = str(content if content is not None else "")
    lines = text.splitlines()
    if not full and len(lines) > TOOL_RESULT_LINES:
        text = "\n".join(lines[:TOOL_RESULT_LINES]) + f"\n… ({len(lines) - TOOL_RESULT_LINES} more lines)"
    return LogLine("tool_error" if block.get("is_error") else "tool_result", _clip(text, full))


def _event_lines(event: dict[str, Any], summary: LogSummary, full: bool) -> list[LogLine]:
    kind = event.get("type")
    if kind == "system" and event.get("subtype") == "init":
        summary.model, summary.conversation = event.get("model"), event.get("session_id")
        summary.cwd = event.get("cwd")
        failed = [s.get("name") for s in event.get("mcp_servers") or [] if isinstance(s, dict)
                  and s.get("status") == "failed"]
        note = f"; MCP servers failed: {', '.join(map(str, failed))}" if failed else ""
        parts = [f"{label} {event[key]}" for label, key in (("session", "session_id"), ("model", "model"),
                                                              ("in", "cwd")) if event.get(key)]
        return [LogLine("init", " ".join(parts) + note)]
    if kind == "system" and event.get("subtype") == "api_retry":
        summary.retries += 1
        return [LogLine("retry", f"API retry {event.get('attempt')}/{event.get('max_retries')} after "
                                 f"{event.get('error_status') or ''} {event.get('error') or ''}".strip())]
    if kind in ("assistant", "user"):
        summary.messages += 1
        message = event.get("message") if isinstance(event.get("message"), dict) else {}
        out: list[LogLine] = []
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and block.get("text"):
                out.append(LogLine("text" if kind == "assistant" else "user", str(block["text"])))
            elif block.get("type") == "tool_use":
                name = str(block.get("name") or "tool")
                summary.tools[name] = summary.tools.get(name, 0) + 1
                out.append(LogLine("tool", _tool_call(block)))
            elif block.get("type") == "tool_result":
                out.append(_tool_result(block, full))
        if event.get("error"):
            out.append(LogLine("error", f"API error: {event['error']}"))
        return out
    if kind == "result":
        summary.status, summary.is_error = event.get("subtype"), event.get("is_error")
        summary.result = event.get("result") if isinstance(event.get("result"), str) else None
        summary.turns, summary.duration_ms = event.get("num_turns"), event.get("duration_ms")
        summary.cost_usd = event.get("total_cost_usd")
        usage = event.get("usage") if isinstance(event.get("usage"), dict) else {}
        summary.tokens = {k: int(v) for k, v in usage.items() if isinstance(v, int)}
        head = "error" if event.get("is_error") else "result"
        return [LogLine("result" if not event.get("is_error") else "error",
                        f"[{head}: {event.get('subtype')}] {summary.result or ''}".rstrip())]
    return []


def readable(lines: Iterable[str], *, full: bool = False, tail: int | None = None
             ) -> tuple[list[LogLine], LogSummary]:
    """The human lines of a stream-json log and its summary. `tail` keeps only the last N lines (the summary
    still covers the whole log); `full` turns off the shortening of long tool results."""
    summary = LogSummary()
    shown: deque[LogLine] = deque(maxlen=tail) if tail is not None else deque()
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        event: Any = None
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                event = None
        if not isinstance(event, dict):
            summary.unreadable += 1
            shown.append(LogLine("raw", _clip(line, full)))
            continue
        shown.extend(_event_lines(event, summary, full))
    return list(shown), summary


def tool_counts(summary: LogSummary) -> list[tuple[str, int]]:
    return Counter(summary.tools).most_common()
