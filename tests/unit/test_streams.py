"""cli/streams.py: a stream whose reader is gone becomes a sink (with one note on the other stream), and glyphs an
encoding cannot show become ASCII."""

from __future__ import annotations

import io
import os

from prodigy.cli.streams import SafeStream


class Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_pipe_becomes_a_sink_and_says_so_once_on_the_other_stream() -> None:
    out, err = SafeStream(Broken(), "stdout"), SafeStream(io.StringIO(), "stderr")
    out.peer, err.peer = err, out
    out.announce = True  # a run or resume (ConsoleReporter); a listing just stops printing
    assert out.write("a line\n") == len("a line\n")
    out.write("another\n")
    out.flush()
    assert out.closed_by_reader and not out.isatty()
    assert err.getvalue().count("the output was closed (stdout: the reader of the pipe exited)") == 1


def test_other_os_errors_are_not_swallowed() -> None:
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    stream = SafeStream(Full(), "stdout")
    try:
        stream.write("x")
    except OSError as exc:
        assert exc.errno == 28
    else:
        raise AssertionError("ENOSPC must not be hidden")


def test_an_ascii_stream_gets_ascii_glyphs_and_question_marks() -> None:
    raw = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    stream = SafeStream(raw, "stdout")
    assert stream.ascii and stream.encoding == "ascii"
    stream.write("  item_0 ✔ 0.1s → done… ✖ ⟳ ■ café\n")
    stream.flush()
    assert raw.buffer.getvalue().decode() == "  item_0 ok 0.1s -> done... x ~ # caf?\n"


def test_a_utf8_stream_is_left_alone() -> None:
    raw = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stream = SafeStream(raw, "stdout")
    stream.write("✔ café\n")
    stream.flush()
    assert not stream.ascii and raw.buffer.getvalue().decode() == "✔ café\n"


def test_a_closed_pipe_fd_is_pointed_at_devnull() -> None:
    read, write = os.pipe()
    raw = os.fdopen(write, "w")
    os.close(read)
    stream = SafeStream(raw, "stdout")
    stream.write("x" * 100000)  # a buffered write does not fail until the flush
    stream.flush()
    assert stream.closed_by_reader
    os.write(write, b"no error now")  # the fd now goes to /dev/null
    raw.close()


def test_a_listing_stops_printing_without_a_note() -> None:
    out, err = SafeStream(Broken(), "stdout"), SafeStream(io.StringIO(), "stderr")
    out.peer = err
    out.write("row\n")
    assert out.closed_by_reader and err.getvalue() == ""


def test_the_live_map_bar_on_an_ascii_terminal_has_no_question_marks(monkeypatch) -> None:
    """Every glyph of the live map bar (✔ ✖ ⟳ ━ and the " · cached: N" of a resumed run) is in the glyph table."""
    from rich.console import Console

    from prodigy.cli.render import ConsoleReporter

    monkeypatch.setenv("TERM", "xterm")
    raw = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    reporter = ConsoleReporter()
    reporter._out = Console(file=SafeStream(raw, "stdout"), force_terminal=True, width=100, highlight=False)
    reporter.on_phase_started("map", total=4, done=2, succeeded_before=2)
    reporter.on_map_progress(done=3, succeeded=3, failed=0, running=1, total=4)
    reporter.close()
    raw.flush()
    shown = raw.buffer.getvalue().decode("ascii")
    assert "ok 1 x 0 ~ 1 running - cached: 2" in shown
    assert "?" not in shown.replace("\x1b[?25l", "").replace("\x1b[?25h", "")  # the cursor codes aside
