"""The live page's server in process, on 127.0.0.1: routes, the JSON it serves, the event stream, and who
it answers (loopback Host only; the token when one is set); GET only."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from progress_job import JOB, SESSION, T0, add, make_job

from prodigy.web.server import WebServer, is_loopback


@pytest.fixture
def server(prodigy_home: Path) -> Iterator[WebServer]:
    store = make_job()
    add(store, T0, t="start", i=0, pid=1, st=T0)
    add(store, T0 + 1, t="done", i=0, d=1.0)
    add(store, T0 + 1, t="start", i=1, pid=2, st=T0)
    add(store, T0 + 2, t="done", i=1, d=1.0, x=2, s="failed", err="exit 2 <script>alert(1)</script>",
        final="dlq")
    web = WebServer(port=0, job_id=JOB).start()
    yield web
    web.stop()


def get(web: WebServer, path: str, *, host: str | None = None, method: str = "GET",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", f"127.0.0.1:{web.port}" if host is None else host)
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_pages_and_assets_are_served_with_a_strict_policy(server: WebServer) -> None:
    status, headers, _ = get(server, "/")
    assert status == 302 and headers["location"] == f"/job/{JOB}"
    status, headers, body = get(server, f"/job/{JOB}")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"/static/app.js" in body and b"<script>" not in body  # no inline script: the CSP forbids it
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
    for name in ("app.js", "common.js", "style.css", "log.js", "dashboard.js"):
        assert get(server, f"/static/{name}")[0] == 200
    assert b"http" not in get(server, "/static/app.js")[2].replace(b"http://www.w3.org/2000/svg", b"")
    assert get(server, "/static/../server.py")[0] == 404
    assert get(server, "/sessions")[0] == 200


def test_the_api_serves_the_views(server: WebServer) -> None:
    status, _, body = get(server, f"/api/job/{JOB}")
    data = json.loads(body)
    assert status == 200 and data["snapshot"]["counts"]["finished"] == 2 and data["snapshot"]["session_id"] == SESSION
    assert [p[1:] for p in data["timeline"]["points"]] == [[1, 0], [1, 1]]
    rows = json.loads(get(server, f"/api/job/{JOB}/items?status=failed")[2])["rows"]
    assert [(r["item_id"], r["error"]) for r in rows] == [("item_1", "exit 2 <script>alert(1)</script>")]
    assert json.loads(get(server, f"/api/job/{JOB}/items/item_0")[2])["data"] == {"n": 0}
    dlq = json.loads(get(server, f"/api/job/{JOB}/dlq")[2])
    assert [i["item_id"] for i in dlq["items"]] == ["item_1"] and dlq["retry_command"] == f"prodigy resume-job {JOB} --force"
    sessions = json.loads(get(server, "/api/sessions")[2])
    assert [r["id"] for r in sessions["rows"]] == [SESSION]


def test_errors_are_clear_json(server: WebServer) -> None:
    status, _, body = get(server, "/api/job/mapreduce-20990101_000000_nope")
    assert status == 404 and "error" in json.loads(body)
    status, _, body = get(server, f"/api/job/{JOB}/items?status=bogus")
    assert status == 400 and "Unknown status filter" in json.loads(body)["error"]
    status, _, body = get(server, f"/api/job/{JOB}/log?item=item_0")
    assert status == 404 and "No agent log for item_0" in json.loads(body)["error"]
    assert get(server, "/api/job/../../etc/passwd")[0] in (400, 404)
    assert get(server, "/nothing")[0] == 404


def test_the_server_is_read_only(server: WebServer) -> None:
    for method in ("POST", "PUT", "DELETE"):
        assert get(server, f"/api/job/{JOB}", method=method)[0] == 405


def test_loopback_answers_only_its_own_host_names(server: WebServer) -> None:
    assert get(server, f"/api/job/{JOB}", host=f"localhost:{server.port}")[0] == 200
    status, _, body = get(server, f"/api/job/{JOB}", host=f"evil.example:{server.port}")
    assert status == 403 and b"loopback" in body
    assert get(server, f"/api/job/{JOB}", host="127.0.0.1:9000")[0] == 200  # an SSH tunnel's local port
    assert get(server, f"/api/job/{JOB}", host="[::1]:9000")[0] == 200
    assert get(server, f"/api/job/{JOB}", host="127.0.0.1.evil.example")[0] == 403
    assert get(server, f"/api/job/{JOB}", host="")[0] == 403


def test_a_token_is_required_when_one_is_set(server: WebServer) -> None:
    server.token = "s3cret-token"  # what a non-loopback --host gets (not bound here: tests stay on loopback)
    assert get(server, f"/job/{JOB}")[0] == 403
    assert get(server, f"/job/{JOB}?token=wrong")[0] == 403
    status, headers, _ = get(server, f"/job/{JOB}?token=s3cret-token")
    assert status == 200 and "prodigy_token=s3cret-token" in headers["set-cookie"]
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    assert get(server, f"/api/job/{JOB}", headers={"Cookie": "prodigy_token=s3cret-token"})[0] == 200
    assert server.url.endswith("?token=s3cret-token")


def test_the_event_stream_sends_a_snapshot(server: WebServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", f"/api/job/{JOB}/stream")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    lines = []
    while not any(line.startswith(b"data: ") for line in lines):
        lines.append(response.fp.readline())
    data = json.loads(lines[-1][len(b"data: "):])
    assert b"event: snapshot\n" in lines and data["snapshot"]["job_id"] == JOB
    connection.close()


def test_a_port_in_use_is_a_clear_error(server: WebServer) -> None:
    from prodigy.errors import UsageError

    with pytest.raises(UsageError, match="Cannot serve the page on 127.0.0.1"):
        WebServer(port=server.port)


def test_loopback_names() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.3.4.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("example.com")
