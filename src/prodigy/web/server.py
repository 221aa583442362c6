"""The live page's HTTP server: the standard library's ThreadingHTTPServer, GET only, read-only.

Why the standard library: the page needs a handful of JSON routes, static files and one server-sent-event
stream per open tab, for one person on one machine. ThreadingHTTPServer does that in a thread per
connection with nothing to install, so `prodigy progress --web` works on every installation. What a bigger
framework would add (routing, middleware) is a few lines here; what it would cost is a dependency.

Safety: it listens on 127.0.0.1 unless told otherwise. On loopback it answers only requests whose Host
header names a loopback address (a web page elsewhere cannot reach it through DNS rebinding; an SSH
tunnel from another local port can). On any other address every request must carry the random access token printed in the URL (as
`?token=`, then as a cookie the first page sets). Responses forbid framing and inline or foreign scripts
(a strict Content-Security-Policy); the page fetches nothing from the network.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from prodigy.errors import NotFoundError, ProdigyError, UsageError
from prodigy.web.hub import Hub

STATIC = {"app.js": "text/javascript", "dashboard.js": "text/javascript", "log.js": "text/javascript",
          "common.js": "text/javascript", "style.css": "text/css"}
PAGES = {"job": "job.html", "dashboard": "dashboard.html", "log": "log.html"}
STREAM_POLL = 0.3  # seconds between checks for changes in an event stream
STREAM_TICK = 2.0  # while the job runs, send a snapshot this often even without a change (clocks move)
KEEPALIVE = 15.0
SESSIONS_EVERY = 1.0
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
TOKEN_COOKIE = "prodigy_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: D401 - http.server hook
        pass  # a client that went away mid-response; real errors are answered (and reported) by the handler


class WebServer:
    """Serves the job page (and the sessions dashboard) from a background thread until stop()."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, job_id: str | None = None,
                 hub: Hub | None = None, on_error: Callable[[BaseException], None] | None = None) -> None:
        self.host = host
        self.job_id = job_id
        self.hub = hub or Hub()
        self.on_error = on_error
        self.token = None if is_loopback(host) else secrets.token_urlsafe(18)
        self.stopping = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("Server", (_Server,), {"address_family": family})
        try:
            self._server = server_class((host.strip("[]"), port), _handler(self))
        except OSError as exc:
            raise UsageError(f"Cannot serve the page on {host}:{port}: {exc.strerror or exc}.",
                             hint="Choose another port (0 picks a free one), or another --host.") from None
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        path = f"/job/{quote(self.job_id)}" if self.job_id else "/"
        return f"http://{shown}:{self.port}{path}" + (f"?token={self.token}" if self.token else "")

    def host_allowed(self, header: str) -> bool:
        """On loopback: only requests addressed to a loopback name (any port, so an SSH tunnel to another
        local port works); a page elsewhere that rebinds its own domain to 127.0.0.1 is refused."""
        name = header.rsplit(":", 1)[0] if not header.endswith("]") else header
        return bool(name) and (is_loopback(name) or name == self.host)

    def start(self) -> WebServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="prodigy-web", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


def _handler(web: WebServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        server_web = web

    return Handler


class _Handler(BaseHTTPRequestHandler):
    server_web: WebServer
    server_version = "prodigy"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass  # no access log on the terminal the user watches

    # ---------------------------------------------------------------- dispatch

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        web = self.server_web
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not self._authorised(query):
            return
        segments = [unquote(s) for s in parts.path.split("/") if s]
        try:
            self._route(segments, query)
        except ProdigyError as exc:
            status = HTTPStatus.NOT_FOUND if isinstance(exc, NotFoundError) else (
                HTTPStatus.BAD_REQUEST if isinstance(exc, UsageError) else HTTPStatus.INTERNAL_SERVER_ERROR)
            self._json({"error": exc.message, "hint": exc.hint}, status)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - answer, report once, keep serving the other tabs
            if web.on_error is not None:
                web.on_error(exc)
            try:
                self._json({"error": f"internal error: {type(exc).__name__}: {exc}"},
                           HTTPStatus.INTERNAL_SERVER_ERROR)
            except OSError:
                pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._plain("Use GET.", HTTPStatus.METHOD_NOT_ALLOWED)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD  # noqa: N815 - read-only: nothing else is accepted

    def _route(self, segments: list[str], query: dict[str, str]) -> None:
        web, hub = self.server_web, self.server_web.hub
        match segments:
            case []:
                if web.job_id:
                    self._redirect(f"/job/{quote(web.job_id)}")
                else:
                    self._page("dashboard")
            case ["sessions"]:
                self._page("dashboard")
            case ["job", _job]:
                self._page("job")
            case ["job", _job, "log"]:
                self._page("log")
            case ["static", name] if name in STATIC:
                self._static(name)
            case ["favicon.ico"]:
                self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
            case ["api", "sessions"]:
                self._json(hub.sessions())
            case ["api", "sessions", "stream"]:
                self._stream(_sessions_stream(hub), "sessions")
            case ["api", "job", job]:
                self._json(hub.snapshot(job))
            case ["api", "job", job, "stream"]:
                hub.seq(job)  # an unknown job is a 404 before the stream starts
                self._stream(_job_stream(hub, job), "snapshot")
            case ["api", "job", job, "items"]:
                self._json(hub.items(job, query))
            case ["api", "job", job, "items", item]:
                self._json(hub.item(job, item))
            case ["api", "job", job, "dlq"]:
                self._json(hub.dlq(job))
            case ["api", "job", job, "log"]:
                self._json(hub.log(job, query.get("item") or "", query.get("n")))
            case _:
                raise NotFoundError(f"No such page: {self.path.split('?')[0]}")

    # ---------------------------------------------------------------- access

    def _authorised(self, query: dict[str, str]) -> bool:
        web = self.server_web
        if web.token is None:
            if not web.host_allowed(self.headers.get("Host", "")):
                self._plain("Forbidden: this server answers only requests to its loopback address.",
                            HTTPStatus.FORBIDDEN)
                return False
            return True
        given = query.get("token") or _cookie(self.headers.get("Cookie", ""), TOKEN_COOKIE) or ""
        if hmac.compare_digest(given.encode(), web.token.encode()):
            return True
        self._plain("Forbidden: open the URL prodigy printed; it carries the access token.", HTTPStatus.FORBIDDEN)
        return False

    # ---------------------------------------------------------------- responses

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: Any, status: int = HTTPStatus.OK) -> None:
        body = json.dumps(data, default=str, ensure_ascii=False).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _plain(self, text: str, status: int) -> None:
        self._send(status, (text + "\n").encode(), "text/plain; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _page(self, name: str) -> None:
        extra = {}
        web = self.server_web
        if web.token is not None:
            extra["Set-Cookie"] = f"{TOKEN_COOKIE}={web.token}; HttpOnly; SameSite=Strict; Path=/"
        self._send(HTTPStatus.OK, _asset(PAGES[name]), "text/html; charset=utf-8", extra)

    def _static(self, name: str) -> None:
        self._send(HTTPStatus.OK, _asset(name), f"{STATIC[name]}; charset=utf-8")

    def _stream(self, produce: Callable[[], tuple[str | None, bool]], event: str) -> None:
        """Server-sent events: `event` with the data produce() returns whenever it changed (None: no change;
        the flag says whether to keep ticking), a comment now and then so a closed tab is noticed."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        self.wfile.write(b"retry: 2000\n\n")
        last_data, last_write = None, time.monotonic()
        stopping = self.server_web.stopping
        while not stopping.is_set():
            data, _live = produce()
            now = time.monotonic()
            if data is not None and data != last_data:
                self.wfile.write(f"event: {event}\ndata: {data}\n\n".encode())
                last_data, last_write = data, now
            elif now - last_write >= KEEPALIVE:
                self.wfile.write(b": keepalive\n\n")
                last_write = now
            self.wfile.flush()
            stopping.wait(STREAM_POLL)


def _job_stream(hub: Hub, job_id: str) -> Callable[[], tuple[str | None, bool]]:
    """A snapshot whenever the journal or the session changed, and every STREAM_TICK seconds while live."""
    state = {"seq": None, "at": 0.0}

    def produce() -> tuple[str | None, bool]:
        seq, live = hub.seq(job_id)
        now = time.monotonic()
        if seq == state["seq"] and not (live and now - state["at"] >= STREAM_TICK):
            return None, live
        state["seq"], state["at"] = seq, now
        return json.dumps(hub.snapshot(job_id), default=str, ensure_ascii=False), live

    return produce


def _sessions_stream(hub: Hub) -> Callable[[], tuple[str | None, bool]]:
    """The sessions listing, read at most once a second (it reads every session record)."""
    state = {"at": float("-inf")}

    def produce() -> tuple[str | None, bool]:
        now = time.monotonic()
        if now - state["at"] < SESSIONS_EVERY:
            return None, True
        state["at"] = now
        return json.dumps(hub.sessions(), default=str, ensure_ascii=False), True

    return produce


def _asset(name: str) -> bytes:
    return resources.files("prodigy.web").joinpath("static", name).read_bytes()


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
