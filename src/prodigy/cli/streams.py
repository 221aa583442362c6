"""Output that never loses work: prodigy's stdout and stderr, made safe before any command runs.

- A closed output (`prodigy run … | head`, a pager that quit, a `tee` that died) must not stop a run half way:
  the first failed write turns that stream into a sink that discards, a note goes to the other stream if it
  still works, and the run carries on, journaling every completion and recording its true status.
- A terminal (or PYTHONIOENCODING) that cannot encode prodigy's glyphs (✔ ✖ ■ ⟳ → ━ …) gets ASCII ones
  instead of an internal error; any other character it cannot show becomes '?'.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import IO, Any

# Glyphs prodigy prints, and what a terminal that cannot show them gets instead.
ASCII_GLYPHS = {
    "✔": "ok", "✖": "x", "■": "#", "⟳": "~", "→": "->", "←": "<-", "━": "-", "─": "-", "…": "...", "—": "-",
    "–": "-", "⏸": "||", "·": "-",
    "⠋": "|", "⠙": "/", "⠹": "-", "⠸": "\\", "⠼": "|", "⠴": "/", "⠦": "-", "⠧": "\\", "⠇": "|", "⠏": "/",
}
_TRANSLATION = str.maketrans(ASCII_GLYPHS)
GONE = (errno.EPIPE, errno.EIO, errno.EBADF, errno.ECONNRESET)
CLOSED_NOTE = ("prodigy: the output was closed ({name}); the run continues without printing to it. "
               "Follow it with: prodigy sessions list\n")


class SafeStream:
    """Wraps a text stream: writes that fail because the reader is gone are discarded (once the stream is gone,
    for good); glyphs the encoding cannot show are replaced. Everything else is the wrapped stream's."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self._stream = stream
        self._name = name
        self.closed_by_reader = False
        self.ascii = not _can_encode(stream, "".join(ASCII_GLYPHS))
        if self.ascii and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")  # type: ignore[union-attr]
            except (ValueError, OSError):
                pass
        self.peer: SafeStream | None = None  # the other stream, for the "output was closed" note
        self.announce = False  # a run or resume: say that it goes on without output (a listing just stops)

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        shown = text.translate(_TRANSLATION) if self.ascii else text
        try:
            self._stream.write(shown)
        except UnicodeEncodeError:
            encoding = getattr(self._stream, "encoding", None) or "ascii"
            return self.write(shown.encode(encoding, "replace").decode(encoding, "replace"))
        except (OSError, ValueError) as exc:
            self._gone(exc)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.closed_by_reader:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            self._gone(exc)

    def isatty(self) -> bool:
        if self.closed_by_reader:
            return False
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False

    @property
    def encoding(self) -> str:
        return "ascii" if self.ascii else getattr(self._stream, "encoding", None) or "utf-8"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _gone(self, exc: BaseException) -> None:
        if isinstance(exc, OSError) and exc.errno not in GONE:
            raise exc
        if isinstance(exc, ValueError) and "closed" not in str(exc):
            raise exc
        self.closed_by_reader = True
        _point_at_devnull(self._stream)
        if self.announce and self.peer is not None and not self.peer.closed_by_reader:
            reason = "the reader of the pipe exited" if isinstance(exc, BrokenPipeError) else str(exc)
            self.peer.write(CLOSED_NOTE.format(name=f"{self._name}: {reason}"))
            self.peer.flush()


def _can_encode(stream: IO[str], text: str) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _point_at_devnull(stream: IO[str]) -> None:
    """So that nothing else (the interpreter's final flush, a library writing to the fd) fails on it again."""
    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def install() -> None:
    """Wrap sys.stdout and sys.stderr (once). A stream that is not open at all (`>&-`) becomes /dev/null."""
    wrapped: dict[str, SafeStream] = {}
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, SafeStream):
            wrapped[name] = stream
            continue
        if stream is None:
            stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        wrapped[name] = SafeStream(stream, name)
        setattr(sys, name, wrapped[name])
    wrapped["stdout"].peer, wrapped["stderr"].peer = wrapped["stderr"], wrapped["stdout"]


def announce_closed_output() -> None:
    """For run and resume: when an output closes, say on the other one that the run goes on without it."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, SafeStream):
            stream.announce = True
