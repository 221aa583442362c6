"""Console markup without importing rich (about 35 ms of start-up): `escape`, and the plain text rich prints for a
markup string when its output is not a terminal. Anything this module is not sure about (escapes, emoji codes,
control characters, unusual tags, colour forced on) is left to rich, so what is printed never differs."""

from __future__ import annotations

import builtins
import os
import re
import sys
from typing import IO, Any

# The patterns of rich.markup (escape, RE_TAGS) and rich._emoji_replace.
_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_EMOJI = re.compile(r"(:(\S*?)(?:(?:\-)(emoji|text))?:)")
# What only rich handles: backslashes (escapes), control characters (rich strips some, expands tabs), and the
# characters str.splitlines breaks on besides "\n".
_RICH_ONLY = re.compile(r"[\\\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_STYLE_WORD = re.compile(r"[a-z]+")
# Environment that can make rich treat a pipe as a terminal (and so write colour codes).
_TERMINAL_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE")


def escape(markup: str) -> str:
    """rich.markup.escape: text that is printed as is, never read as markup."""

    def backslashes(match: re.Match[str]) -> str:
        slashes, text = match.groups()
        return f"{slashes}{slashes}\\{text}"

    markup = _ESCAPE.sub(backslashes, markup)
    if markup.endswith("\\") and not markup.endswith("\\\\"):
        return markup + "\\"
    return markup


def plain(markup: str) -> str | None:
    """What rich prints for `markup` (markup on, no highlighting, soft wrap) without colour; None if unsure."""
    if _RICH_ONLY.search(markup) or (":" in markup and _EMOJI.search(markup)):
        return None
    if "[" not in markup:
        return markup
    pieces: list[str] = []
    open_tags: list[str] = []
    position = 0
    for match in _TAG.finditer(markup):  # no backslashes: every match is a tag
        pieces.append(markup[position : match.start()])
        position = match.end()
        tag = match.group(3)
        if tag.startswith("/"):
            name = tag[1:].strip()
            if not name:
                if not open_tags:
                    return None  # rich raises MarkupError
                open_tags.pop()
            elif name in open_tags:
                del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name)]
            else:
                return None  # a close tag rich may match after normalising, or reject
        elif _STYLE_WORD.fullmatch(tag):
            open_tags.append(tag)
        else:
            return None  # styles of several words, links, @handlers
    pieces.append(markup[position:])
    return "".join(pieces)


def plain_stream(stderr: bool) -> IO[str] | None:
    """The stream rich would write to, if it would write no colour codes there (not a terminal); else None."""
    if any(name in os.environ for name in _TERMINAL_ENV) or hasattr(builtins, "get_ipython"):
        return None
    stream: Any = sys.stderr if stderr else sys.stdout
    if stream is None or hasattr(stream, "rich_proxied_file"):
        return None
    if getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return None
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return None
    try:
        return None if isatty() else stream
    except ValueError:
        return None
