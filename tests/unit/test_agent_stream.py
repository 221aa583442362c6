"""The stream-json reader and the masked agent log."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from agent_events import api_error, init, lines, result, text

from prodigy.execution.agents import stream as stream_mod
from prodigy.execution.agents.masking import AgentLog, mask_bytes, safe_cut, secret_forms
from prodigy.execution.agents.stream import AgentStream


def feed(data: bytes, size: int, **kwargs) -> AgentStream:
    stream = AgentStream(**kwargs)
    for start in range(0, len(data), size):
        stream.write(data[start:start + size])
    stream.close()
    return stream


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_events_are_read_whatever_the_chunking(size: int) -> None:
    data = lines([init(), text("thinking", msg_id="m1"), text("more", msg_id="m2"), result()])
    stream = feed(data, size)
    assert stream.events == 4 and stream.unparsed == 0
    assert stream.init["cwd"] == "/tmp/w" and stream.session_id.startswith("7578e230")
    assert stream.result_seen.is_set() and stream.answer() == ("The answer is 42.", 17)
    usage = stream.usage()
    assert (usage.cost_usd, usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
            usage.cache_write_tokens, usage.turns, usage.model, usage.partial) == (
        0.000188, 12, 7, 40, 3, 1, "claude-opus-5-5", False)
    assert usage.duration_ms == 757 and usage.duration_api_ms == 26


def test_a_stream_cut_short_reports_what_it_showed() -> None:
    # The same assistant message is printed once per content block; tokens count once per message id.
    stream = feed(lines([init(), text("a", msg_id="m1"), text("b", msg_id="m1", tokens=(12, 9)),
                         text("c", msg_id="m2")]), 5)
    usage = stream.usage()
    assert stream.result is None and usage.partial and usage.cost_usd is None
    assert (usage.input_tokens, usage.output_tokens, usage.turns) == (24, 16, 2)
    assert stream.last_text == "c" and stream.answer() == (None, 0)


def test_api_retries_and_assistant_errors_are_kept() -> None:
    stream = feed(lines(api_error(529, "server_error", "API Error: 529 Overloaded", retries=3)), 100)
    assert stream.retry_count == 3 and stream.retries[-1]["error_status"] == 529
    assert stream.assistant_errors == ["server_error"]
    assert stream.usage().input_tokens == 0  # the synthetic message of an API error costs nothing


def test_a_last_line_without_newline_and_junk_lines() -> None:
    data = b"not json\n[1,2]\n\n" + json.dumps(result()).encode()  # no trailing newline
    stream = feed(data, 3)
    assert stream.result is not None and stream.unparsed == 2


def test_an_oversize_line_is_logged_whole_but_not_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_mod, "MAX_LINE", 1000)
    log = AgentLog(tmp_path / "log.jsonl", ())
    big = json.dumps(text("x" * 5000)).encode() + b"\n"
    stream = feed(lines([init()]) + big + lines([result()]), 333, log=log, forms=())
    assert stream.unparsed == 1 and stream.result is not None
    assert (tmp_path / "log.jsonl").read_bytes() == lines([init()]) + big + lines([result()])


# ---------------------------------------------------------------- masking

SECRETS = ['pa"ss\\wörd-42', "sk-ant-plain-secret-123"]


def test_secret_forms_cover_the_ways_json_prints_a_secret() -> None:
    forms = secret_forms(SECRETS)
    for secret in SECRETS:
        for printed in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
                        json.dumps(json.dumps(secret)[1:-1])[1:-1]):
            assert mask_bytes(f"<{printed}>".encode(), forms) == b"<***>", printed
    assert mask_bytes(b"<pa\\\"ss\\\\w\\u00F6rd-42>", forms) == b"<***>"  # upper-case hex too


def test_safe_cut_never_splits_a_secret() -> None:
    forms = secret_forms(["abcdef"])
    assert safe_cut(b"0123456789", forms) == 5  # the last 5 bytes could start a secret
    data = b"xxxxabcdefyy"
    cut = safe_cut(data, forms)
    assert b"abcdef" in data[:cut] or data[cut:].startswith(b"abcdef") or cut >= data.index(b"abcdef") + 6


@pytest.mark.parametrize("size", [1, 3, 17, 4096])
def test_the_agent_log_never_holds_a_plain_secret(tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_mod, "MAX_LINE", 600)  # the 600+ byte line takes the oversize path
    forms = secret_forms(SECRETS)
    events = [init(), text(f"the key is {SECRETS[0]} and {SECRETS[1]}"),
              text("y" * 400 + SECRETS[1] + "z" * 400 + SECRETS[0]), result(words=f"done with {SECRETS[0]}")]
    for ascii_only in (True, False):
        path = tmp_path / f"log-{ascii_only}-{size}.jsonl"
        data = b"".join(json.dumps(e, ensure_ascii=ascii_only).encode() + b"\n" for e in events)
        stream = feed(data, size, log=AgentLog(path, forms), forms=forms)
        written = path.read_bytes()
        for form in forms:
            assert form not in written
        assert written.count(b"***") == 5 and stream.result is not None
        assert written.count(b"\n") == 4


def test_the_log_is_private(tmp_path: Path) -> None:
    log = AgentLog(tmp_path / "logs" / "s1" / "a.jsonl", ())
    log.write(b"{}\n")
    log.close()
    assert stat.S_IMODE(os.stat(tmp_path / "logs" / "s1" / "a.jsonl").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "logs" / "s1").st_mode) == 0o700
