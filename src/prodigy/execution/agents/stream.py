"""The CLI's stream-json, read as it arrives: one line at a time (a line longer than MAX_LINE is logged but
not parsed), never the whole output in memory. It keeps what decides the outcome (the `init` event, the
`api_retry` events, `assistant.error`, the final `result`), what the call cost so far, the masked log, and
tells the caller about each event (for -v) and when the final result has arrived (the post-result grace)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from prodigy.execution.agents.masking import AgentLog, mask_bytes, safe_cut
from prodigy.execution.agents.usage import AgentUsage

MAX_LINE = 8 * 1024 * 1024  # a longer line (a huge tool result) is written to the log, not parsed
ANSWER_CAP = 256 * 1024  # bytes of the final answer kept for ${claude.output} (its tail, with a note when cut)


class AgentStream:
    """The sink process.run feeds with the CLI's stdout, in the thread that runs the command."""

    def __init__(self, log: AgentLog | None = None, on_event: Callable[[dict[str, Any]], None] | None = None,
                 forms: tuple[bytes, ...] = ()) -> None:
        self._log = log
        self._forms = forms
        self._on_event = on_event
        self._line = bytearray()
        self._oversize = False  # the current line passed MAX_LINE: logged as it comes, not parsed
        self.result_seen = threading.Event()
        self.result_at: float | None = None
        self.init: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.retries: list[dict[str, Any]] = []  # api_retry events (the last 20)
        self.retry_count = 0
        self.assistant_errors: list[str] = []
        self.last_text: str | None = None  # the last assistant text (a partial answer when no result came)
        self.events = 0
        self.unparsed = 0  # lines that were not JSON objects, or too long to parse
        self._usage_by_message: dict[str, tuple[int, int, int, int]] = {}
        self._model: str | None = None

    # -- fed by process.run
    def write(self, chunk: bytes) -> None:
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            if newline == -1:
                self._add(chunk[start:])
                return
            self._add(chunk[start:newline + 1])
            self._end_line()
            start = newline + 1

    def close(self) -> None:
        """End of the stream: a last line without a newline is still a line."""
        if self._line or self._oversize:
            self._end_line()
        if self._log is not None:
            self._log.close()

    def _add(self, piece: bytes) -> None:
        if not piece:
            return
        self._line += piece
        if len(self._line) > MAX_LINE:
            self._oversize = True
        if self._oversize and self._log is not None:
            cut = safe_cut(bytes(self._line), self._forms)
            if self._line.endswith(b"\n"):
                cut = min(cut, len(self._line) - 1)  # the line's end is written by _end_line
            self._log.write(bytes(self._line[:cut]))
            del self._line[:cut]
        elif self._oversize:
            del self._line[:-1024]

    def _end_line(self) -> None:
        line = bytes(self._line)
        self._line.clear()
        if self._log is not None:
            self._log.write(line if line.endswith(b"\n") else line + b"\n")
        if self._oversize:
            self._oversize = False
            self.unparsed += 1
            return
        text = line.strip()
        if not text:
            return
        try:
            event = json.loads(text)
        except ValueError:
            self.unparsed += 1
            return
        if not isinstance(event, dict):
            self.unparsed += 1
            return
        self.events += 1
        self._observe(event)
        if self._on_event is not None:
            self._on_event(event)

    # -- what the events say
    def _observe(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "system":
            subtype = event.get("subtype")
            if subtype == "init":
                self.init = {k: event.get(k) for k in ("session_id", "cwd", "model", "mcp_servers",
                                                        "apiKeySource", "claude_code_version")}
                self._model = event.get("model") if isinstance(event.get("model"), str) else None
            elif subtype == "api_retry":
                self.retry_count += 1
                self.retries = [*self.retries[-19:], {k: event.get(k) for k in (
                    "attempt", "max_retries", "retry_delay_ms", "error_status", "error")}]
        elif kind == "assistant":
            self._assistant(event)
        elif kind == "result":
            self.result = {k: v for k, v in event.items() if k not in ("modelUsage",)}
            self.result["model"] = _main_model(event.get("modelUsage")) or self._model
            self.result_at = time.monotonic()
            self.result_seen.set()

    def _assistant(self, event: dict[str, Any]) -> None:
        error = event.get("error")
        if isinstance(error, str):
            self.assistant_errors = [*self.assistant_errors[-9:], error]
        message = event.get("message")
        if not isinstance(message, dict):
            return
        texts = [c.get("text", "") for c in message.get("content") or [] if isinstance(c, dict)
                 and c.get("type") == "text" and isinstance(c.get("text"), str)]
        if any(texts):
            self.last_text = "\n".join(t for t in texts if t)[-ANSWER_CAP:]
        usage = message.get("usage")
        if isinstance(usage, dict) and message.get("model") != "<synthetic>":
            key = str(message.get("id") or len(self._usage_by_message))
            self._usage_by_message[key] = tuple(_int(usage.get(k)) for k in (  # type: ignore[assignment]
                "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))

    # -- results
    def usage(self) -> AgentUsage | None:
        """The call's figures: from the result event, else what the stream showed (partial)."""
        result = self.result
        if result is not None:
            usage = result.get("usage") if isinstance(result.get("usage"), dict) else {}
            return AgentUsage(
                cost_usd=_float(result.get("total_cost_usd")), input_tokens=_int(usage.get("input_tokens")),
                output_tokens=_int(usage.get("output_tokens")),
                cache_read_tokens=_int(usage.get("cache_read_input_tokens")),
                cache_write_tokens=_int(usage.get("cache_creation_input_tokens")),
                turns=_int(result.get("num_turns")), model=result.get("model"),
                duration_ms=_int_or_none(result.get("duration_ms")),
                duration_api_ms=_int_or_none(result.get("duration_api_ms")),
                session_id=_str(result.get("session_id")) or self.session_id)
        if self.init is None and not self._usage_by_message:
            return None
        sums = [sum(values) for values in zip(*self._usage_by_message.values(), strict=True)] or [0, 0, 0, 0]
        return AgentUsage(cost_usd=None, input_tokens=sums[0], output_tokens=sums[1], cache_read_tokens=sums[2],
                          cache_write_tokens=sums[3], turns=len(self._usage_by_message), model=self._model,
                          session_id=self.session_id, partial=True)

    @property
    def session_id(self) -> str | None:
        for source in (self.result, self.init):
            if source and isinstance(source.get("session_id"), str):
                return source["session_id"]
        return None

    def answer(self) -> tuple[str | None, int]:
        """The final answer (bounded to its tail) and its full size in bytes."""
        text = self.result.get("result") if self.result else None
        if not isinstance(text, str):
            return None, 0
        size = len(text.encode("utf-8", "replace"))
        return text, size

    def masked(self, text: str) -> str:
        return mask_bytes(text.encode("utf-8", "surrogatepass"), self._forms).decode("utf-8", "replace")


def _main_model(model_usage: Any) -> str | None:
    """The model that cost the most (a call may also use a small model for housekeeping)."""
    if not isinstance(model_usage, dict) or not model_usage:
        return None
    ranked = sorted(model_usage.items(), key=lambda kv: _float(kv[1].get("costUSD") if isinstance(kv[1], dict)
                                                               else None) or 0.0, reverse=True)
    return str(ranked[0][0])


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
