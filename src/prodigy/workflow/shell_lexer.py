"""The quoting-context lexer behind `render_shell`: it walks an `sh -c` script, tracks the quoting
context at each position (quotes, $(...), backticks, $((...)), here-documents, comments) and asks a
resolver for each reference's replacement, quoted for that context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prodigy.workflow.interpolate_refs import InterpolationError, Reference, _parse_dollar
from prodigy.workflow.shell_quoting import (
    _arithmetic,
    _choose_delimiter,
    _escaped,
    _heredoc_word,
    _NotAnInteger,
    _shell_expansion_end,
    _single_quoted,
)

# ----------------------------------------------------------------------------------- shell lexer
#
# The lexer only tracks the quoting context at each position; it does not parse the shell grammar.
# Template text is copied through; inserted values are appended as finished pieces and never lexed.

_UNQUOTED, _CMDSUB, _BACKTICK, _DQUOTE = "unquoted", "cmdsub", "backtick", "dquote"
_SQUOTE, _ARITH, _HEREDOC, _COMMENT = "squote", "arith", "heredoc", "comment"
_CODE_KINDS = frozenset({_UNQUOTED, _CMDSUB, _BACKTICK})
_WORD_BREAK = frozenset(" \t\n;&|()<>`")

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
