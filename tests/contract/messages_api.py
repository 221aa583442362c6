"""A loopback stand-in for the Anthropic Messages API, for running the real Claude Code CLI in tests.

It speaks what the CLI needs on ``POST /v1/messages``: the streaming SSE events (message_start,
content_block_start/delta/stop, message_delta, message_stop), a plain JSON message when ``stream`` is false,
and Anthropic-style error bodies with their HTTP status. What each request gets is decided by a *script*:
a function of the request (its JSON body and the number of requests so far) that returns a `Reply`.

    with MessagesApi(script) as api:
        env = {"ANTHROPIC_BASE_URL": api.url, ...}
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


@dataclass(frozen=True)
class Reply:
    """One answer: text, a tool call (Bash), or an HTTP error."""

    text: str = "ok"
    tool_command: str | None = None  # a Bash tool_use block instead of text
    status: int = 200
    error_message: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    input_tokens: int = 12
    output_tokens: int = 7
    hang: float = 0.0  # seconds to wait before answering (for kill tests)


@dataclass
class Request:
    body: dict[str, Any]
    path: str
    headers: dict[str, str]

    @property
    def last_user_text(self) -> str:
        """The text of the last user message (a prompt, or a tool result's content)."""
        for message in reversed(self.body.get("messages") or []):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                return content
            parts = []
            for block in content or []:
                if block.get("type") == "text":
                    parts.append(block.get("text", ""))
                elif block.get("type") == "tool_result":
                    inner = block.get("content")
                    parts.append(inner if isinstance(inner, str) else json.dumps(inner))
            return "\n".join(parts)
        return ""

    @property
    def has_tool_result(self) -> bool:
        messages = self.body.get("messages") or []
        last = messages[-1] if messages else {}
        content = last.get("content")
        return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)

    @property
    def all_text(self) -> str:
        return json.dumps(self.body.get("messages") or [])


Script = Callable[[Request, int], Reply]


@dataclass
class MessagesApi:
    script: Script = field(default=lambda request, n: Reply())
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                if not self.path.startswith("/v1/messages") or self.path.startswith("/v1/messages/count_tokens"):
                    self._json(200, {"input_tokens": 10} if "count_tokens" in self.path else {})
                    return
                request = Request(body=body, path=self.path, headers=dict(self.headers))
                with api._lock:
                    api.requests.append(request)
                    number = len(api.requests)
                reply = api.script(request, number)
                if reply.hang:
                    threading.Event().wait(reply.hang)
                if reply.status != 200:
                    error = {"type": "error", "error": {"type": ERROR_TYPES.get(reply.status, "api_error"),
                                                        "message": reply.error_message or f"error {reply.status}"}}
                    self._json(reply.status, error, reply.headers)
                    return
                if body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._json(200, _message(body, reply))

            def do_GET(self) -> None:  # noqa: N802
                self._json(200, {})

            def do_HEAD(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def _json(self, status: int, data: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.send_header("request-id", "req_standin")
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("request-id", "req_standin")
                self.send_header("connection", "close")
                self.end_headers()
                for event, data in _events(body, reply):
                    self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> MessagesApi:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


_counter = iter(range(1, 1 << 30))


def _message(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {"id": f"msg_standin_{next(_counter)}", "type": "message", "role": "assistant",
            "model": body.get("model", "claude-standin"), "content": [_content(reply)],
            "stop_reason": "tool_use" if reply.tool_command else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}


def _content(reply: Reply) -> dict[str, Any]:
    if reply.tool_command:
        return {"type": "tool_use", "id": f"toolu_standin_{next(_counter)}", "name": "Bash",
                "input": {"command": reply.tool_command, "description": "run a command"}}
    return {"type": "text", "text": reply.text}


def _events(body: dict[str, Any], reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    message = _message(body, reply)
    block = message["content"][0]
    start = {**message, "content": [], "stop_reason": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    if block["type"] == "text":
        events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}}))
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": block["text"]}}))
    else:
        events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {**block, "input": {}}}))
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "input_json_delta",
                                                         "partial_json": json.dumps(block["input"])}}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                     "usage": {"output_tokens": reply.output_tokens}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events
