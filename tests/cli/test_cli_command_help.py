"""Every command and subcommand added for the everyday commands has --help with examples."""

from __future__ import annotations

import pytest

COMMANDS = [
    ("exec",), ("batch",), ("clean",), ("logs",), ("template",), ("template", "register"), ("template", "list"),
    ("template", "show"), ("template", "delete"), ("template", "search"), ("template", "validate"),
    ("worktree", "merge"), ("dlq", "export"), ("dlq", "stats"), ("events", "search"), ("events", "export"),
    ("events", "clean"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_examples(invoke, command: tuple[str, ...]) -> None:
    code, out, _ = invoke(*command, "--help")
    assert code == 0 and "Examples:" in out
    assert f"prodigy {' '.join(command)}" in out


def test_run_help_lists_the_new_options(invoke) -> None:
    code, out, _ = invoke("run", "--help")
    for option in ("--args", "--map", "--max-iterations", "--fail-fast", "--dry-run", "--param", "--param-file"):
        assert option in out
