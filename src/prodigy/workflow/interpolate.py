"""`${...}` interpolation for workflow strings, with shell-aware quoting.

`render` inserts values as plain text (claude prompts, messages, file contents). `render_shell`
treats the template as a POSIX `sh -c` script: a small lexer tracks the quoting context at each
reference so that every inserted value reaches the shell as one literal string. Item data is data,
never code; `|raw` is the one deliberate opt-out.

Unknown `${name}` references are left exactly as written (the shell may expand an env var of that
name), and `$NAME` is replaced only when NAME is a context variable, so `$1`, `$HOME` and awk's `$2`
reach the shell unchanged.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prodigy.errors import UsageError

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# JSON keys often carry hyphens, so segments after the root may too (`${item.file-name}`).
_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*|\[[0-9]+\])*")
_SEGMENT_RE = re.compile(r"\.([A-Za-z0-9_][A-Za-z0-9_-]*)|\[([0-9]+)\]")
_INT_RE = re.compile(r"[+-]?[0-9]+")
# `$` followed by one of these is a shell special parameter (`$$`, `$?`, `$1`, ...).
_SPECIAL_PARAMS = frozenset("$?#!@*-0123456789")
# `${...}` contents that start like this are shell-only expansions (`${#x}`, `${1}`, `${@}`).
_SHELL_ONLY_START = frozenset("#!@*?$-0123456789")
# After a bare name, these start a shell parameter expansion (`${x%.txt}`, `${x:=1}`, `${a[@]}`).
_SHELL_OPERATORS = frozenset("%#/:-=+?^,[")

FILTERS_WITHOUT_ARG = frozenset({"raw", "json", "length", "upper", "lower", "basename", "dirname"})
FILTERS = FILTERS_WITHOUT_ARG | {"default"}


class InterpolationError(UsageError):
    """A malformed `${...}` reference or an unknown filter."""

    def __init__(self, message: str, *, position: int | None = None, reference: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint or (
            "References look like ${name}, ${a.b[0].c}, ${name:-default} or ${name|filter}; "
            f"filters: {', '.join(sorted(FILTERS))}."))
        self.position = position
        self.reference = reference


@dataclass(frozen=True)
class Reference:
    """One `${...}` or `$NAME` occurrence; `start:end` is its span in the template."""

    name: str
    root: str
    filters: tuple[tuple[str, str | None], ...]
    default: str | None
    start: int
    end: int
    braced: bool

    @property
    def raw(self) -> bool:
        return any(name == "raw" for name, _ in self.filters)


def scope(*layers: Mapping[str, Any]) -> ChainMap[str, Any]:
    """Layer contexts, lowest precedence first: `scope(workflow_env, captures, item_vars)`."""
    return ChainMap(*reversed(layers))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------- values


def to_text(value: Any) -> str:
    """The text a value renders as: JSON for containers, lower-case booleans, "" for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def _plain(value: Any) -> Any:
    # json.dumps knows dict and list only; a ChainMap or other Mapping must be converted first.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def lookup(ctx: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Find `path` (`a.b[0].c`) in ctx: the longest flat key prefix wins, then walk the rest."""
    if path in ctx:
        return True, ctx[path]
    match = _PATH_RE.fullmatch(path)
    if match is None:
        raise InterpolationError(f"'{path}' is not a variable path like a.b[0].c", reference=path)
    root = NAME_RE.match(path)
    assert root is not None
    steps = [(m.end(), m.group(1) if m.group(1) is not None else int(m.group(2)))
             for m in _SEGMENT_RE.finditer(path, root.end())]
    # Flat keys such as "map.results" are stored as they are; try the longest such prefix first.
    boundaries = [root.end()] + [end for end, _ in steps[:-1]]
    for count in range(len(boundaries), 0, -1):
        prefix = path[: boundaries[count - 1]]
        if prefix in ctx:
            return _walk(ctx[prefix], [key for _, key in steps[count - 1:]])
    return False, None


def _walk(value: Any, keys: list[str | int]) -> tuple[bool, Any]:
    for key in keys:
        value = _maybe_json(value)
        if isinstance(value, Mapping):
            if str(key) not in value:
                return False, None
            value = value[str(key)]
        elif isinstance(value, Sequence) and not isinstance(value, str):
            index = key if isinstance(key, int) else int(key) if key.isdigit() else -1
            if not 0 <= index < len(value):
                return False, None
            value = value[index]
        else:
            return False, None
    return True, value


def _maybe_json(value: Any) -> Any:
    # A captured command output is often a JSON document held as a string; let paths walk into it.
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def _apply_filter(name: str, arg: str | None, found: bool, value: Any) -> tuple[bool, Any]:
    if name == "default":
        return (True, arg) if not found or _is_empty(value) else (found, value)
    if not found or name == "raw":
        return found, value
    if name == "json":
        return True, json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False, default=str)
    if name == "length":
        sized = value if isinstance(value, Mapping | list | tuple) else to_text(value)
        return True, len(sized)
    text = to_text(value)
    transforms: dict[str, Callable[[str], str]] = {
        "upper": str.upper, "lower": str.lower, "basename": posixpath.basename, "dirname": posixpath.dirname,
    }
    return True, transforms[name](text)


def evaluate(ref: Reference, ctx: Mapping[str, Any]) -> tuple[bool, Any]:
    """The value of a reference after its default and filters; (False, None) when unresolved."""
    found, value = lookup(ctx, ref.name)
    if ref.default is not None and (not found or _is_empty(value)):
        found, value = True, ref.default
    for name, arg in ref.filters:
        found, value = _apply_filter(name, arg, found, value)
    return found, value


# -------------------------------------------------------------------------------------- parsing


def _parse_dollar(template: str, start: int) -> tuple[Reference | None, int]:
    """Parse what starts at the `$` at `start`: (a reference or None, the end of what was consumed).

    None means "not prodigy's": a shell special parameter, a shell-only `${...}` expansion, or a
    lone `$`; the caller copies template[start:end] unchanged.
    """
    nxt = template[start + 1: start + 2]
    if nxt == "{":
        return _parse_braced(template, start)
    name = NAME_RE.match(template, start + 1)
    if name is not None:
        text = name.group()
        return Reference(text, text, (), None, start, name.end(), braced=False), name.end()
    return None, start + (2 if nxt and nxt in _SPECIAL_PARAMS else 1)


def _parse_braced(template: str, start: int) -> tuple[Reference | None, int]:
    close = _matching_brace(template, start + 2)
    if close is None:
        raise _malformed(template[start: start + 20], start, "has no closing '}'")
    end = close + 1
    content = template[start + 2: close]
    path = _PATH_RE.match(content)
    if path is None:
        if content[:1] in _SHELL_ONLY_START and content:
            return None, end
        raise _malformed(template[start:end], start, "does not start with a variable name")
    name, rest = path.group(), content[path.end():]
    root = NAME_RE.match(name)
    assert root is not None
    if rest.startswith(":-"):
        return Reference(name, root.group(), (), rest[2:], start, end, braced=True), end
    if rest.startswith("|"):
        filters = _parse_filters(rest[1:], template[start:end], start)
        return Reference(name, root.group(), filters, None, start, end, braced=True), end
    if rest and name == root.group() and rest[0] in _SHELL_OPERATORS:
        return None, end  # a shell parameter expansion such as ${x%.txt}: the shell's business
    if rest:
        raise _malformed(template[start:end], start, f"has unexpected text {rest!r} after '{name}'")
    return Reference(name, root.group(), (), None, start, end, braced=True), end


def _matching_brace(template: str, index: int) -> int | None:
    depth = 0
    for i in range(index, len(template)):
        if template[i] == "{":
            depth += 1
        elif template[i] == "}":
            if depth == 0:
                return i
            depth -= 1
    return None


def _parse_filters(text: str, ref_text: str, start: int) -> tuple[tuple[str, str | None], ...]:
    filters: list[tuple[str, str | None]] = []
    for piece in text.split("|"):
        name, colon, arg = piece.partition(":")
        name = name.strip()
        if name not in FILTERS:
            what = f"unknown filter '{name}'" if name else "an empty filter"
            raise InterpolationError(f"Reference {ref_text} at position {start} uses {what}",
                                     position=start, reference=ref_text)
        if name == "default" and not colon:
            raise InterpolationError(f"Reference {ref_text} at position {start}: 'default' needs a value "
                                     "(default:text)", position=start, reference=ref_text)
        if name != "default" and colon:
            raise InterpolationError(f"Reference {ref_text} at position {start}: filter '{name}' takes no "
                                     "argument", position=start, reference=ref_text)
        filters.append((name, arg if colon else None))
    return tuple(filters)


def _malformed(ref_text: str, start: int, why: str) -> InterpolationError:
    return InterpolationError(f"Malformed reference {ref_text} at position {start}: it {why}",
                              position=start, reference=ref_text)


def references(template: str, *, shell: bool = False) -> list[Reference]:
    """Every reference in the template, in order. `$NAME` ones (braced=False) are only candidates:
    they are substituted only when NAME is a context variable. With shell=True, references that the
    shell lexer sees as escaped (`\\${x}`) are skipped, as render_shell skips them."""
    if shell:
        found: list[Reference] = []

        def collect(ref: Reference, _quote: Callable[[str], str]) -> str | None:
            found.append(ref)
            return None

        _ShellLexer(template, collect).run()
        return found
    return _plain_refs(template)


def _plain_refs(template: str) -> list[Reference]:
    refs: list[Reference] = []
    i = template.find("$")
    while i != -1:
        ref, end = _parse_dollar(template, i)
        if ref is not None:
            refs.append(ref)
        i = template.find("$", end)
    return refs


# ------------------------------------------------------------------------------------- rendering


def render(template: str, ctx: Mapping[str, Any]) -> str:
    """Plain-text interpolation: values are inserted as text, unresolved references stay as written."""
    pieces: list[str] = []
    last = 0
    for ref in _plain_refs(template):
        found, value = evaluate(ref, ctx)
        if found:
            pieces += [template[last: ref.start], to_text(value)]
            last = ref.end
    pieces.append(template[last:])
    return "".join(pieces)


def render_shell(template: str, ctx: Mapping[str, Any]) -> str:
    """Interpolate into an `sh -c` script so each value is one literal string in its quoting context."""
    def resolve(ref: Reference, quote: Callable[[str], str]) -> str | None:
        if _shell_default(ref, ctx):
            return None  # ${HOME:-/tmp} with HOME unknown to prodigy: the shell applies the default
        found, value = evaluate(ref, ctx)
        if not found:
            return None
        text = to_text(value)
        return text if ref.raw else quote(text)

    return _ShellLexer(template, resolve).run()


def _shell_default(ref: Reference, ctx: Mapping[str, Any]) -> bool:
    """A plain `${NAME:-default}` whose NAME prodigy does not know belongs to the shell (an env var)."""
    return (ref.braced and ref.default is not None and not ref.filters and NAME_RE.fullmatch(ref.name) is not None
            and not lookup(ctx, ref.name)[0])


# ----------------------------------------------------------------------------------- shell lexer
#
# The lexer only tracks the quoting context at each position; it does not parse the shell grammar.
# Template text is copied through; inserted values are appended as finished pieces and never lexed.

_UNQUOTED, _CMDSUB, _BACKTICK, _DQUOTE = "unquoted", "cmdsub", "backtick", "dquote"
_SQUOTE, _ARITH, _HEREDOC, _COMMENT = "squote", "arith", "heredoc", "comment"
_CODE_KINDS = frozenset({_UNQUOTED, _CMDSUB, _BACKTICK})
_WORD_BREAK = frozenset(" \t\n;&|()<>`")
_DELIMITER_END = frozenset(" \t\n;&|()<>")

# Gets a reference and the quoting function for its position; None leaves the reference as written.
Resolver = Callable[[Reference, Callable[[str], str]], "str | None"]


@dataclass
class _Heredoc:
    delimiter: str
    quoted: bool
    strip_tabs: bool
    word_piece: int  # index in the output of the delimiter word, rewritten if a value collides
    body_start: int = 0


@dataclass
class _Frame:
    kind: str
    depth: int = 0  # parentheses opened inside $( ... ) or $(( ... ))
    heredoc: _Heredoc | None = None


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


class _ShellLexer:
    def __init__(self, template: str, resolve: Resolver) -> None:
        self.t = template
        self.resolve = resolve
        self.i = 0
        self.out: list[str] = []
        self.stack = [_Frame(_UNQUOTED)]
        self.pending: list[_Heredoc] = []
        self.line_start = False

    def run(self) -> str:
        handlers: dict[str, Callable[[_Frame], None]] = {
            _UNQUOTED: self._code, _CMDSUB: self._code, _BACKTICK: self._code, _DQUOTE: self._dquote,
            _SQUOTE: self._squote, _ARITH: self._arith, _HEREDOC: self._heredoc, _COMMENT: self._comment,
        }
        while self.i < len(self.t):
            frame = self.stack[-1]
            handlers[frame.kind](frame)
        # A here-document cut off by the end of the script still ends at a delimiter-like value line.
        open_docs = [f.heredoc for f in self.stack if f.heredoc is not None]
        if open_docs:
            self._close_heredoc(open_docs[-1], None)
        return "".join(self.out)

    # -- helpers

    def _emit(self, count: int = 1) -> None:
        self.out.append(self.t[self.i: self.i + count])
        self.i += count

    def _push(self, kind: str, count: int) -> None:
        self.stack.append(_Frame(kind))
        self._emit(count)

    def _quote(self, text: str) -> str:
        top = self.stack[-1]
        if top.kind == _DQUOTE:
            quoted = _escaped(text, '\\"$`')
        elif top.kind == _SQUOTE:
            quoted = text.replace("'", "'\\''")
        elif top.heredoc is not None:
            quoted = text if top.heredoc.quoted else _escaped(text, "\\$`")
        elif top.kind == _ARITH:
            quoted = _arithmetic(text)
        elif top.kind == _COMMENT:
            # A newline would end the comment (quotes mean nothing there) and run the rest as code.
            quoted = _single_quoted(text.replace("\n", " "))
        else:
            quoted = _single_quoted(text)
        # The shell strips one level of backslashes from `...` before it parses the inside.
        for frame in self.stack:
            if frame.kind == _BACKTICK:
                quoted = _escaped(quoted, "\\$`")
        return quoted

    def _reference(self) -> None:
        ref, end = _parse_dollar(self.t, self.i)
        if ref is None and self.t.startswith("${", self.i) and self.stack[-1].kind in _CODE_KINDS:
            end = _shell_expansion_end(self.t, self.i + 2, end)
        try:
            text = None if ref is None else self.resolve(ref, self._quote)
        except _NotAnInteger:
            ref_text = self.t[self.i: end]
            raise InterpolationError(
                f"Reference {ref_text} at position {self.i} is inside $((...)) but its value is not an "
                "integer; only integers may be inserted into shell arithmetic",
                position=self.i, reference=ref_text,
                hint="Check the value in a separate step, or hand it to a program instead of $((...)).",
            ) from None
        self.out.append(self.t[self.i: end] if text is None else text)
        self.i = end

    def _dollar(self) -> None:
        if self.t.startswith("$((", self.i):
            self._push(_ARITH, 3)
        elif self.t.startswith("$(", self.i):
            self._push(_CMDSUB, 2)
        else:
            self._reference()

    def _backtick(self) -> None:
        # Inside `...` the shell looks for the closing backtick before it looks at quotes.
        for index in range(len(self.stack) - 1, -1, -1):
            kind = self.stack[index].kind
            if kind == _BACKTICK:
                del self.stack[index:]
                self._emit()
                return
            if kind == _CMDSUB:
                break
        top = self.stack[-1]
        literal = top.kind in (_SQUOTE, _COMMENT) or (top.heredoc is not None and top.heredoc.quoted)
        if literal:
            self._emit()
        else:
            self._push(_BACKTICK, 1)

    # -- one handler per context; each consumes at least one character

    def _code(self, frame: _Frame) -> None:
        t, i = self.t, self.i
        c = t[i]
        if c == "\\":
            self._emit(2)
        elif c == "'":
            self._push(_SQUOTE, 1)
        elif c == '"':
            self._push(_DQUOTE, 1)
        elif c == "`":
            self._backtick()
        elif c == "$":
            self._dollar()
        elif t.startswith("<<", i):
            self._heredoc_operator()
        elif c == "#" and (i == 0 or t[i - 1] in _WORD_BREAK):
            self._push(_COMMENT, 1)
        elif c == "(" and frame.kind == _CMDSUB:
            frame.depth += 1
            self._emit()
        elif c == ")" and frame.kind == _CMDSUB:
            if frame.depth:
                frame.depth -= 1
            else:
                self.stack.pop()
            self._emit()
        elif c == "\n":
            self._emit()
            self._start_heredocs()
        else:
            self._emit()

    def _dquote(self, frame: _Frame) -> None:
        c = self.t[self.i]
        if c == "\\":
            self._emit(2 if self.t[self.i + 1: self.i + 2] in ('$', '`', '"', "\\", "\n") else 1)
        elif c == '"':
            self.stack.pop()
            self._emit()
        elif c == "`":
            self._backtick()
        elif c == "$":
            self._dollar()
        else:
            self._emit()

    def _squote(self, frame: _Frame) -> None:
        c = self.t[self.i]
        if c == "'":
            self.stack.pop()
            self._emit()
        elif c == "$":
            self._reference()  # prodigy substitutes inside '...' too; the shell expands nothing there
        elif c == "`":
            self._backtick()
        else:
            self._emit()

    def _arith(self, frame: _Frame) -> None:
        c = self.t[self.i]
        if c == "(":
            frame.depth += 1
            self._emit()
        elif c == ")" and frame.depth:
            frame.depth -= 1
            self._emit()
        elif c == ")" and self.t.startswith("))", self.i):
            self.stack.pop()
            self._emit(2)
        elif c == "$":
            self._dollar()
        elif c == "`":
            self._backtick()
        else:
            self._emit()

    def _comment(self, frame: _Frame) -> None:
        c = self.t[self.i]
        if c == "\n":
            self.stack.pop()  # the newline belongs to the code around: it may start here-documents
        elif c == "$":
            self._reference()
        elif c == "`":
            self._backtick()
        else:
            self._emit()

    # -- here-documents

    def _heredoc_operator(self) -> None:
        t, i = self.t, self.i
        if t.startswith("<<<", i):  # a bash here-string, not a here-document
            self._emit(3)
            return
        j = i + 2
        strip_tabs = t.startswith("-", j)
        j += strip_tabs
        while j < len(t) and t[j] in " \t":
            j += 1
        delimiter, quoted, end = _heredoc_word(t, j)
        if end == j:
            self._emit(2)
            return
        self._emit(j - i)
        self.pending.append(_Heredoc(delimiter, quoted, strip_tabs, len(self.out)))
        self._emit(end - j)

    def _start_heredocs(self) -> None:
        if not self.pending:
            return
        docs, self.pending = self.pending, []
        for doc in reversed(docs):  # the first one on top: bodies follow in operator order
            self.stack.append(_Frame(_HEREDOC, heredoc=doc))
        docs[0].body_start = len(self.out)
        self.line_start = True

    def _heredoc(self, frame: _Frame) -> None:
        doc = frame.heredoc
        assert doc is not None
        if self.line_start and self._at_terminator(doc):
            return
        self.line_start = False
        c = self.t[self.i]
        if c == "\n":
            self._emit()
            self.line_start = True
        elif c == "$" and doc.quoted:
            self._reference()  # no $(...) in a quoted body: the shell expands nothing there
        elif c == "$":
            self._dollar()
        elif c == "`":
            self._backtick()
        elif c == "\\" and not doc.quoted:
            self._emit(2)
        else:
            self._emit()

    def _at_terminator(self, doc: _Heredoc) -> bool:
        end = self.t.find("\n", self.i)
        end = len(self.t) if end == -1 else end
        line = self.t[self.i: end]
        if (line.lstrip("\t") if doc.strip_tabs else line) != doc.delimiter:
            return False
        self._close_heredoc(doc, line)
        self.i = end
        self.stack.pop()
        if self.i < len(self.t):
            self._emit()  # the newline after the terminator
        self.line_start = self.stack[-1].kind == _HEREDOC
        if self.line_start:
            self.stack[-1].heredoc.body_start = len(self.out)  # type: ignore[union-attr]
        return True

    def _close_heredoc(self, doc: _Heredoc, terminator: str | None) -> None:
        """Emit the terminator; if an inserted value produced a line equal to the delimiter (which
        would end the body early and run the rest as commands), rename the delimiter first."""
        lines = "".join(self.out[doc.body_start:]).split("\n")
        if doc.strip_tabs:
            lines = [line.lstrip("\t") for line in lines]
        delimiter = _choose_delimiter(doc.delimiter, lines)
        if delimiter != doc.delimiter:
            self.out[doc.word_piece] = _single_quoted(delimiter) if doc.quoted else delimiter
        if terminator is not None:
            self.out.append(terminator[: len(terminator) - len(doc.delimiter)] + delimiter)


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


__all__ = [
    "FILTERS", "InterpolationError", "Reference", "evaluate", "lookup", "references", "render",
    "render_shell", "scope", "to_text",
]
