"""Confirmation for commands that remove things: -y skips it; without a terminal it is refused, never assumed."""

from __future__ import annotations

import sys

import click

from prodigy.errors import UsageError


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm(question: str, *, yes: bool, refusal: str, hint: str) -> bool:
    """True to go ahead. Raises UsageError (exit 2) when there is no terminal to ask on and -y was not given."""
    if yes:
        return True
    if not stdin_is_terminal():
        raise UsageError(refusal, hint=hint)
    return click.confirm(question, err=True)
