"""Turn a PyYAML parse error into what a workflow author needs: the likely cause, a hint, and the line where
the problem starts (PyYAML reports where it noticed, often a few lines later)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

_BLOCK_KEY = re.compile(r"^(?P<indent>\s*)(?:-\s+)*(?P<key>[^\s#:][^:#]*?):\s*[|>][-+0-9]*\s*(?:#.*)?$")
_KEY_AT = re.compile(r"^\s*(?:-\s+)?(?P<key>[^\s#:'\"][^:#]*?):(?:\s|$)")


@dataclass(frozen=True)
class YamlProblem:
    line: int | None
    column: int | None
    problem: str
    hint: str | None


def explain(exc: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    problem = exc.problem or "invalid YAML"
    lines = text.splitlines()
    for rule in (_tab, _block_scalar, _list_then_key, _dedented_item, _colon_in_value):
        found = rule(exc, lines, line, column, problem)
        if found is not None:
            return YamlProblem(found.line, found.column, f"{found.problem} (the YAML parser says: {problem})",
                               found.hint)
    return YamlProblem(line, column, problem, None)


def _tab(exc: yaml.MarkedYAMLError, lines: list[str], line: int | None, column: int | None,
         problem: str) -> YamlProblem | None:
    if "'\\t'" not in problem:
        return None
    return YamlProblem(line, column, "a tab character in the indentation",
                       "YAML indentation must be spaces; replace the tab on this line with spaces "
                       "(and check your editor inserts spaces for Tab in .yml files).")


def _block_scalar(exc: yaml.MarkedYAMLError, lines: list[str], line: int | None, column: int | None,
                  problem: str) -> YamlProblem | None:
    """`- shell: |` followed by lines that are not indented more than `shell:`: the block is empty and its
    text is read as YAML (the original's own capture-parallel-analysis.yml fails this way)."""
    if line is None:
        return None
    start = exc.context_mark.line + 1 if exc.context_mark else line
    for number in range(min(start, line), max(0, min(start, line) - 40), -1):
        match = _BLOCK_KEY.match(lines[number - 1]) if number - 1 < len(lines) else None
        if match is None:
            continue
        key_column = lines[number - 1].index(match.group("key"))
        body = next((i for i in range(number, len(lines)) if lines[i].strip()), None)
        if body is None or _indent(lines[body]) > key_column:
            return None  # a well-indented block: not this problem
        key = match.group("key").strip()
        return YamlProblem(
            body + 1, _indent(lines[body]) + 1,
            f"the block scalar of `{key}:` (line {number}) is not indented under its key",
            f"Indent every line of the block more than `{key}:` (which is at column {key_column + 1}), e.g. "
            f"{key_column + 3} spaces; as written the block is empty and its text is read as YAML.")
    return None


def _list_then_key(exc: yaml.MarkedYAMLError, lines: list[str], line: int | None, column: int | None,
                   problem: str) -> YamlProblem | None:
    if "expected <block end>, but found '?'" not in problem or line is None or line > len(lines):
        return None
    key = _KEY_AT.match(lines[line - 1])
    name = key.group("key").strip() if key else "this key"
    started = f" that starts at line {exc.context_mark.line + 1}" if exc.context_mark else ""
    return YamlProblem(
        line, column, f"`{name}:` follows the list{started} at the same indentation",
        "A list and mapping keys cannot share one level. If the key belongs to the enclosing block (a phase's "
        "`timeout:`, say), put the steps under `commands:` (`setup: {commands: [...], timeout: 60}`); if it "
        "belongs to the last step, indent it to line up with that step's other keys.")


def _dedented_item(exc: yaml.MarkedYAMLError, lines: list[str], line: int | None, column: int | None,
                   problem: str) -> YamlProblem | None:
    if "expected <block end>, but found '-'" not in problem:
        return None
    return YamlProblem(line, column, "a list item (`-`) that does not line up with the list above it",
                       "Every `-` of one list must start in the same column; indent this item like the others.")


def _colon_in_value(exc: yaml.MarkedYAMLError, lines: list[str], line: int | None, column: int | None,
                    problem: str) -> YamlProblem | None:
    if "mapping values are not allowed" not in problem:
        return None
    return YamlProblem(
        line, column, "an unquoted ': ' inside a value",
        "A ': ' (colon and space) inside an unquoted value starts a new mapping. Quote the whole command, "
        "e.g.  - shell: \"echo 'id: 1'\"  or use a block scalar:  - shell: |")


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


_COMMENT = re.compile(r"\s#[^\s#]")  # `echo #1`; a real comment is usually `# note`


def comment_swallowed(source_line: str, value: str) -> bool:
    """True when an unquoted value's line goes on after ' #': YAML took the rest as a comment."""
    if not isinstance(value, str) or "\n" in value or "#" in value:
        return False
    head, sep, _rest = source_line.partition(":")
    after = source_line[len(head) + len(sep):].lstrip()
    if not sep or after[:1] in ("'", '"', "|", ">"):
        return False
    return _COMMENT.search(after) is not None and bool(after.split("#", 1)[0].strip())
