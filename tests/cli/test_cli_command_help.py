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


def _complete(args: list[str], incomplete: str) -> list[tuple[str, str]]:
    from click.shell_completion import BashComplete

    from prodigy.cli import cli

    completer = BashComplete(cli, {}, "prodigy", "_PRODIGY_COMPLETE")
    return [(item.type, item.value) for item in completer.get_completions(args, incomplete)]


def test_shell_completion_of_the_new_commands(prodigy_home, work, write_workflow, invoke, monkeypatch) -> None:
    from prodigy import paths

    write_workflow("- shell: echo hi\n")
    invoke("run", str(work / "workflow.yml"), "-p", str(work))
    from prodigy.state import sessions

    (session_id,) = sessions.all_ids()
    (paths.templates_dir()).mkdir(parents=True)
    (paths.templates_dir() / "standard-ci.yml").write_text("- shell: echo\n")
    monkeypatch.chdir(work)
    assert _complete(["logs"], session_id[:12]) == [("plain", session_id)]
    assert _complete(["worktree", "merge"], session_id[:12]) == [("plain", session_id)]
    assert _complete(["template", "show"], "stan") == [("plain", "standard-ci")]
    assert ("plain", "standard-ci") in _complete(["template", "validate"], "st")
    assert _complete(["clean"], "wo") == [("plain", "worktrees")]
    assert _complete(["run", "workflow.yml", "--param-file"], "pa") == [("file", "pa")]
    assert ("plain", "template") in _complete([], "temp")
