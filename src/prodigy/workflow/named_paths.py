"""The relative paths a workflow names (map input, working_dir, words of its shell commands): candidates for
`prodigy validate`'s check that a run's git worktree will have them. Pure: nothing here reads the disk."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator

from prodigy.workflow.model import Step, Workflow

_REDIRECTS = {">", ">>", ">|", "&>", "2>", "1>"}


def named_paths(workflow: Workflow) -> list[str]:
    """Relative paths, in order of appearance, without duplicates. Values with ${...} are left out (they are
    known only at run time), and so are redirection targets (outputs, not inputs)."""
    found: list[str] = []
    if workflow.map is not None and _plain(workflow.map.input) and not any(c.isspace() for c in workflow.map.input):
        found.append(workflow.map.input.strip())
    for step in _all_steps(workflow):
        if step.working_dir and _plain(step.working_dir):
            found.append(step.working_dir)
        if step.kind == "shell":
            base = step.working_dir if step.working_dir and _plain(step.working_dir) else ""
            found += [os.path.normpath(os.path.join(base, w)) if base else w for w in _command_words(step.command)]
    return [p for p in dict.fromkeys(found) if p and not p.startswith(("/", "~", "-"))]


def _plain(text: str) -> bool:
    return "$" not in text and "`" not in text


def _command_words(command: str) -> list[str]:
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:  # unbalanced quotes: the loader reports the command itself
        return []
    kept: list[str] = []
    after_redirect = False
    for word in words:
        if word in _REDIRECTS or set(word) <= set("<>&|;()"):
            after_redirect = word in _REDIRECTS
            continue
        if not after_redirect and _plain(word) and ("/" in word or "." in word) and "=" not in word:
            kept.append(word.removeprefix("./"))
        after_redirect = False
    return kept


def _all_steps(workflow: Workflow) -> Iterator[Step]:
    roots: list[Step] = [s for steps in workflow.phase_steps().values() for s in steps]
    if workflow.merge is not None:
        roots += list(workflow.merge.steps)
    while roots:
        step = roots.pop(0)
        yield step
        roots += list(step.on_success)
        if step.on_failure:
            roots += list(step.on_failure.steps)
        for _code, steps in step.on_exit_code:
            roots += list(steps)
