"""Pure helpers of the shell lexer: quoting a value for the context it lands in, and scanning shell
words (here-document delimiters, shell-only `${...}` expansions) that the lexer copies through."""

from __future__ import annotations

import posixpath
import re

_INT_RE = re.compile(r"[+-]?[0-9]+")
_DELIMITER_END = frozenset(" \t\n;&|()<>")


def _single_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _escaped(text: str, chars: str) -> str:
    return "".join("\\" + c if c in chars else c for c in text)


class _NotAnInteger(Exception):
    pass


def _arithmetic(text: str) -> str:
    # Quotes mean nothing inside $((...)): the shell still runs $(...) there, and bash evaluates
    # names and array subscripts. Only an integer literal is data; anything else must not get in.
    if not _INT_RE.fullmatch(text) or not -(2**63) <= int(text) < 2**63:  # the shell's range
        raise _NotAnInteger
    number = int(text)
    return f"({number})" if number < 0 else str(number)


def _choose_delimiter(delimiter: str, lines: list[str]) -> str:
    for candidate in [delimiter] + [f"{letter}_{delimiter}" for letter in "ZQXJKVWYUPBGFMHCDLNRSTAEIO"]:
        if _delimiter_fits(candidate, lines, strict=True):
            return candidate
    suffix = 1
    while not _delimiter_fits(f"{delimiter}_{suffix}", lines, strict=False):
        suffix += 1
    return f"{delimiter}_{suffix}"


def _delimiter_fits(candidate: str, lines: list[str], *, strict: bool) -> bool:
    if candidate in lines:
        return False
    # dash 0.5.12 drops the first byte after a partial delimiter match at the start of a body line
    # when it is not ASCII ("Eé" under EOF loses a byte), so strict also avoids such prefixes.
    for line in lines if strict else ():
        common = len(posixpath.commonprefix([line, candidate]))
        if common and common < len(line) and not line[common].isascii():
            return False
    return True


def _shell_expansion_end(t: str, start: int, fallback: int) -> int:
    """The end of a shell-only `${...}` whose text may quote a brace, as in ${x:-"}"}.

    Copied through unlexed, it must end where the shell ends it, or the quoting contexts after it
    would be wrong."""
    depth, k = 0, start
    while k < len(t):
        c = t[k]
        if c == "\\":
            k += 2
            continue
        if c in "'\"":
            close = t.find(c, k + 1) if c == "'" else _dquote_end(t, k + 1)
            if close == -1:
                return fallback
            k = close
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return k + 1
            depth -= 1
        k += 1
    return fallback


def _dquote_end(t: str, k: int) -> int:
    while k < len(t):
        if t[k] == "\\":
            k += 2
        elif t[k] == '"':
            return k
        else:
            k += 1
    return -1


def _heredoc_word(t: str, start: int) -> tuple[str, bool, int]:
    """The delimiter after `<<` with quotes removed, whether any quoting was used, and its end."""
    chars: list[str] = []
    quoted = False
    k = start
    while k < len(t) and t[k] not in _DELIMITER_END:
        c = t[k]
        if c in "'\"":
            close = t.find(c, k + 1)
            close = len(t) if close == -1 else close
            chars.append(t[k + 1: close])
            quoted, k = True, close + 1
        elif c == "\\":
            chars.append(t[k + 1: k + 2])
            quoted, k = True, k + 2
        else:
            chars.append(c)
            k += 1
    return "".join(chars), quoted, min(k, len(t))


ARITH_OPERATORS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
_SPACE = " \t"


def neighbour_words(t: str, start: int, end: int) -> set[str]:
    """The shell words just before `start` and just after `end` (to see `[[ x -eq ${v} ]]`)."""
    left = t[:start].rstrip(_SPACE)
    before = left[len(left) - len(left.split()[-1]):] if left.split() else ""
    right = t[end:].lstrip(_SPACE)
    after = right.split()[0] if right.split() else ""
    return {before, after}


def _backquote_body(t: str, start: int, *, dquoted: bool) -> tuple[str, frozenset[int], int] | None:
    r"""The script inside `...` that opens before `start`, as the shell reads it: one level of backslashes
    removed (\\, \`, \$, and \" inside double quotes; backslash-newline dropped), the positions in it of a
    $ the author escaped, and the index of the closing backquote. None when it is not closed."""
    chars: list[str] = []
    protected: set[int] = set()
    k = start
    while k < len(t):
        c = t[k]
        if c == "`":
            return "".join(chars), frozenset(protected), k
        if c == "\\" and k + 1 < len(t):
            nxt = t[k + 1]
            if nxt == "\n":
                k += 2
                continue
            if nxt in "\\`$" or (dquoted and nxt == '"'):
                if nxt == "$":
                    protected.add(len(chars))
                chars.append(nxt)
                k += 2
                continue
        chars.append(c)
        k += 1
    return None
