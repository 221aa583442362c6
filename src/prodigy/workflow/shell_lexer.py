"""The quoting-context lexer behind `render_shell`: it walks an `sh -c` script, tracks the quoting context at
each position and asks a resolver for each reference's replacement, quoted for that context.

Contexts: unquoted code, "...", '...', $'...' (bash's ANSI-C quotes; plain '...' to dash), $(...), `...`,
$((...)) and bash's ((...)), $[...] and the operands of [[ ... -eq ... ]] and `let` (integers only), here-
documents (quoted or not), comments, and case patterns (whose `)` does not end a $(...)). A backquote body is
lexed the way the shell reads it: the shell first removes one level of backslashes (and, inside "...", turns
\\" into "), then parses what is left as a script of its own; so the body is unescaped, lexed as a script,
and escaped again. What the lexer cannot classify the same way for dash and bash (an unterminated context, a
$'...' holding \\', a backquote in a here-document holding \\") is refused with an error that says where.

Template text is copied through; inserted values are appended as finished pieces and never lexed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prodigy.workflow.interpolate_refs import InterpolationError, Reference, _parse_dollar
from prodigy.workflow.shell_quoting import (
    ARITH_OPERATORS,
    _arithmetic,
    _backquote_body,
    _choose_delimiter,
    _escaped,
    _heredoc_word,
    _NotAnInteger,
    _shell_expansion_end,
    _single_quoted,
    neighbour_words,
)

_UNQUOTED, _CMDSUB, _DQUOTE, _SQUOTE, _ANSI = "unquoted", "cmdsub", "dquote", "squote", "ansi"
_ARITH, _HEREDOC, _COMMENT = "arith", "heredoc", "comment"
_CODE_KINDS = frozenset({_UNQUOTED, _CMDSUB})
_WORD_BREAK = frozenset(" \t\n;&|()<>`")
_COMMAND_END = frozenset("\n;&|()")
_NAMES = {_CMDSUB: "$(...)", _DQUOTE: '"..."', _SQUOTE: "'...'", _ANSI: "$'...'", _ARITH: "$((...))"}

# Gets a reference; returns its text (or a list of texts, one shell word each) and whether it is |raw, or None
# to leave the reference as written.
Resolver = Callable[[Reference], "tuple[str | list[str], bool] | None"]
# Gets a value; returns the name of an environment variable that will hold it when it holds a secret.
Hider = Callable[[str], "str | None"]


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
    start: int = 0  # where it opened in the template (for errors)
    depth: int = 0  # parentheses (or brackets) opened inside $( ... ), $(( ... )) or $[ ... ]
    closer: str = "))"  # what ends an arithmetic frame: )) or ]
    heredoc: _Heredoc | None = None
    cases: list[str] = field(default_factory=list)  # case statements: head | pattern | body
    test: bool = False  # inside [[ ... ]]
    let: bool = False  # inside the arguments of `let`


class _ShellLexer:
    def __init__(self, template: str, resolve: Resolver, *, hide: Hider | None = None,
                 protected: frozenset[int] = frozenset(), base: int = 0) -> None:
        self.t = template
        self.resolve = resolve
        self.hide = hide
        self.protected = protected  # positions of a `$` the author escaped in a backquote body
        self.base = base  # this script's position in the template (a backquote body is lexed on its own)
        self.i = 0
        self.out: list[str] = []
        self.stack = [_Frame(_UNQUOTED)]
        self.pending: list[_Heredoc] = []
        self.line_start = False
        self.integer_only = False

    def run(self) -> str:
        handlers: dict[str, Callable[[_Frame], None]] = {
            _UNQUOTED: self._code, _CMDSUB: self._code, _DQUOTE: self._dquote, _SQUOTE: self._squote,
            _ANSI: self._ansi, _ARITH: self._arith, _HEREDOC: self._heredoc, _COMMENT: self._comment,
        }
        while self.i < len(self.t):
            frame = self.stack[-1]
            handlers[frame.kind](frame)
        for frame in self.stack[1:]:
            if frame.kind in _NAMES:
                self._refuse(f"the template has an unterminated {_NAMES[frame.kind]} starting at position "
                             f"{self.base + frame.start}", frame.start)
        # A here-document cut off by the end of the script still ends at a delimiter-like value line.
        open_docs = [f.heredoc for f in self.stack if f.heredoc is not None]
        if open_docs:
            self._close_heredoc(open_docs[-1], None)
        return "".join(self.out)

    # -- helpers

    def _refuse(self, message: str, at: int) -> None:
        raise InterpolationError(message, position=self.base + at,
                                 hint="Close the quote or substitution, or write the command as a script file "
                                 "that reads the value from the environment (PRODIGY_ITEM_JSON).")

    def _emit(self, count: int = 1) -> None:
        self.out.append(self.t[self.i: self.i + count])
        self.i += count

    def _push(self, kind: str, count: int, **extra: object) -> None:
        self.stack.append(_Frame(kind, start=self.i, **extra))  # type: ignore[arg-type]
        self._emit(count)

    def _quote(self, text: str) -> str:
        top = self.stack[-1]
        if top.kind == _ARITH or self.integer_only:
            return _arithmetic(text)
        if top.kind == _DQUOTE:
            return _escaped(text, '\\"$`')
        if top.kind == _SQUOTE:
            return text.replace("'", "'\\''")
        if top.kind == _ANSI:
            # Leave $'...' (bash reads its backslashes; dash reads it as '...'), insert '...', resume $'...'.
            return "'" + _single_quoted(text) + "$'"
        if top.heredoc is not None:
            return text if top.heredoc.quoted else _escaped(text, "\\$`")
        if top.kind == _COMMENT:
            # A newline would end the comment (quotes mean nothing there) and run the rest as code.
            return _single_quoted(text.replace("\n", " "))
        return _single_quoted(text)

    def _reference(self) -> None:
        if self.i in self.protected:  # \$ in a backquote body: the author's, for the inner shell
            self._emit()
            return
        ref, end = _parse_dollar(self.t, self.i)
        if ref is None and self.t.startswith("${", self.i) and self.stack[-1].kind in _CODE_KINDS:
            end = _shell_expansion_end(self.t, self.i + 2, end)
        top = self.stack[-1]
        self.integer_only = top.kind in _CODE_KINDS and (top.let or (top.test and bool(
            ARITH_OPERATORS & neighbour_words(self.t, self.i, end))))
        try:
            text = None if ref is None else self._insert(ref)
        except _NotAnInteger:
            ref_text = self.t[self.i: end]
            raise InterpolationError(
                f"Reference {ref_text} at position {self.base + self.i} is inside shell arithmetic "
                "($((...)), ((...)), $[...], [[ ... -eq ... ]] or let) but its value is not an integer; only "
                "integers may be inserted there (the shell evaluates anything else as code)",
                position=self.base + self.i, reference=ref_text,
                hint="Check the value in a separate step, or hand it to a program instead of shell arithmetic.",
            ) from None
        finally:
            self.integer_only = False
        self.out.append(self.t[self.i: end] if text is None else text)
        self.i = end

    def _insert(self, ref: Reference) -> str | None:
        resolved = self.resolve(ref)
        if resolved is None:
            return None
        value, raw = resolved
        if isinstance(value, list):
            return " ".join(self._insert_text(ref, text, raw) for text in value)
        return self._insert_text(ref, value, raw)

    def _insert_text(self, ref: Reference, text: str, raw: bool) -> str:
        if "\0" in text:
            where = self.t[ref.start: ref.end]
            raise InterpolationError(f"{where} at position {self.base + ref.start} holds a NUL byte, which no "
                                     "command line or environment can carry", position=self.base + ref.start,
                                     reference=where, hint="Remove NUL bytes from the data (for example with a "
                                     "filter in the map input command), or pass the value in a file.")
        name = self.hide(text) if self.hide is not None else None
        if name is None:
            return text if raw else self._quote(text)
        if raw:
            raise InterpolationError(f"{self.t[ref.start: ref.end]} at position {self.base + ref.start} holds a "
                                     "secret: a secret cannot be inserted |raw, as shell code (it would be part "
                                     "of the command line, which other users can read)",
                                     position=self.base + ref.start, reference=self.t[ref.start: ref.end])
        return self._expand(name, text, ref)

    def _expand(self, name: str, text: str, ref: Reference) -> str:
        """A value holding a secret reaches the command through its environment: insert a reference to the
        variable that holds it, written for the context, so the secret is never in the command line."""
        top = self.stack[-1]
        if top.kind == _ARITH or self.integer_only:
            _arithmetic(text)  # an integer, or refused like any other value
            return "${" + name + "}"
        if top.kind == _DQUOTE or (top.heredoc is not None and not top.heredoc.quoted):
            return "${" + name + "}"
        if top.kind == _SQUOTE:
            return "'\"${" + name + "}\"'"
        if top.kind == _ANSI:
            return "'\"${" + name + "}\"$'"
        if top.kind == _COMMENT:
            return "***"
        if top.heredoc is not None:
            raise InterpolationError(
                f"{self.t[ref.start: ref.end]} at position {self.base + ref.start} holds a secret and is in a "
                "quoted here-document (<<'EOF'), where the shell expands nothing: it would have to be written "
                "into the command line", position=self.base + ref.start,
                hint="Use an unquoted here-document (<<EOF), or read the secret's environment variable.")
        return '"${' + name + '}"'

    def _dollar(self) -> None:
        t, i = self.t, self.i
        if t.startswith("$((", i):
            self._push(_ARITH, 3)
        elif t.startswith("$(", i):
            self._push(_CMDSUB, 2)
        elif t.startswith("$[", i):
            self._push(_ARITH, 2, closer="]")
        elif t.startswith("$'", i) and self.stack[-1].kind in _CODE_KINDS:
            self._push(_ANSI, 2)
        else:
            self._reference()

    def _backtick(self, *, dquoted: bool, in_heredoc: bool = False) -> None:
        """A `...` substitution: unescape its body, lex it as a script of its own, escape the result again."""
        body = _backquote_body(self.t, self.i + 1, dquoted=dquoted)
        if body is None:
            self._refuse(f"the template has an unterminated `...` starting at position {self.base + self.i}",
                         self.i)
        text, protected, end = body
        if in_heredoc and '\\"' in self.t[self.i + 1: end]:
            self._refuse(f"the `...` at position {self.base + self.i} in a here-document holds \\\" , which dash "
                         "and bash read differently; use $(...) instead", self.i)
        inner = _ShellLexer(text, self.resolve, hide=self.hide, protected=protected,
                            base=self.base + self.i + 1).run()
        self.out.append("`" + _escaped(inner, "\\`$") + "`")
        self.i = end + 1

    def _word(self, word: str) -> bool:
        """Whether the template has the shell word `word` at the current position."""
        i, t = self.i, self.t
        return (t.startswith(word, i) and (i == 0 or t[i - 1] in _WORD_BREAK)
                and (i + len(word) == len(t) or t[i + len(word)] in _WORD_BREAK))

    # -- one handler per context; each consumes at least one character

    def _code(self, frame: _Frame) -> None:
        t, i = self.t, self.i
        c = t[i]
        if c in _COMMAND_END:
            frame.let = False
        if c == "\\":
            self._emit(2)
        elif c == "'":
            self._push(_SQUOTE, 1)
        elif c == '"':
            self._push(_DQUOTE, 1)
        elif c == "`":
            self._backtick(dquoted=False)
        elif c == "$":
            self._dollar()
        elif t.startswith("<<", i):
            self._heredoc_operator()
        elif c == "#" and (i == 0 or t[i - 1] in _WORD_BREAK):
            self._push(_COMMENT, 1)
        elif t.startswith("((", i) and (i == 0 or t[i - 1] in _WORD_BREAK) and not frame.cases:
            self._push(_ARITH, 2)  # bash's arithmetic command (to dash, two subshells: integers are safe too)
        elif c.isalpha() or c == "[" or c == "]":
            self._code_word(frame)
        elif t.startswith(";;", i) or t.startswith(";&", i):
            if frame.cases and frame.cases[-1] == "body":
                frame.cases[-1] = "pattern"
            self._emit(3 if t.startswith(";;&", i) else 2)
        elif c == "(" and frame.cases and frame.cases[-1] == "pattern":
            self._emit()  # the optional ( before a case pattern
        elif c == ")" and frame.cases and frame.cases[-1] == "pattern":
            frame.cases[-1] = "body"
            self._emit()  # ends a case pattern, not the $( ... )
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

    def _code_word(self, frame: _Frame) -> None:
        """Words that change how what follows is read: case ... in ... esac, [[ ... ]], let."""
        cases = frame.cases
        for word, action in (("case", "push"), ("in", "in"), ("esac", "pop"), ("[[", "test"), ("]]", "untest"),
                             ("let", "let")):
            if not self._word(word):
                continue
            if action == "push":
                cases.append("head")
            elif action == "in" and cases and cases[-1] == "head":
                cases[-1] = "pattern"
            elif action == "pop" and cases and cases[-1] in ("pattern", "body"):
                cases.pop()
            elif action in ("test", "untest"):
                frame.test = action == "test"
            elif action == "let":
                frame.let = True
            self._emit(len(word))
            return
        self._emit()

    def _dquote(self, frame: _Frame) -> None:
        c = self.t[self.i]
        if c == "\\":
            self._emit(2 if self.t[self.i + 1: self.i + 2] in ('$', '`', '"', "\\", "\n") else 1)
        elif c == '"':
            self.stack.pop()
            self._emit()
        elif c == "`":
            self._backtick(dquoted=True)
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
        else:
            self._emit()

    def _ansi(self, frame: _Frame) -> None:
        c = self.t[self.i]
        if c == "\\":
            if self.t.startswith("\\'", self.i):
                self._refuse(f"the $'...' starting at position {self.base + frame.start} holds \\' , where dash "
                             "(which reads $'...' as '...') and bash end the quote differently", frame.start)
            self._emit(2)
        elif c == "'":
            self.stack.pop()
            self._emit()
        elif c == "$":
            self._reference()
        else:
            self._emit()

    def _arith(self, frame: _Frame) -> None:
        c = self.t[self.i]
        opener = "[" if frame.closer == "]" else "("
        if c == opener:
            frame.depth += 1
            self._emit()
        elif c == frame.closer[0] and frame.depth:
            frame.depth -= 1
            self._emit()
        elif self.t.startswith(frame.closer, self.i):
            self.stack.pop()
            self._emit(len(frame.closer))
        elif c == "$":
            self._dollar()
        elif c == "`":
            self._backtick(dquoted=False)
        else:
            self._emit()

    def _comment(self, frame: _Frame) -> None:
        c = self.t[self.i]
        if c == "\n":
            self.stack.pop()  # the newline belongs to the code around: it may start here-documents
        elif c == "$":
            self._reference()
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
            self.stack.append(_Frame(_HEREDOC, start=self.i, heredoc=doc))
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
            self._dollar()  # $' and $" are not special in a body: _dollar opens $'...' only in code
        elif c == "`" and not doc.quoted:
            self._backtick(dquoted=False, in_heredoc=True)
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
