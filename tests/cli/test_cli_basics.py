"""Argument handling, help and messages of the CLI, in process."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import support
from prodigy import __version__
from prodigy.cli import COMMANDS, cli
from prodigy.ids import new_session_id
from prodigy.state import sessions
from prodigy.state.sessions import SessionRecord

AVAILABLE = [name for name, (module, _a, _h) in COMMANDS.items() if importlib.util.find_spec(module)]


def make_session(status: str, name: str = "wf", kind: str = "workflow") -> str:
    session_id = new_session_id()
    sessions.save(SessionRecord(id=session_id, kind=kind, status=status, workflow_path=f"/nowhere/{name}.yml",
                                workflow_sha256="0" * 64, workflow_name=name, run_dir="/tmp",
                                progress={"done": 1, "total": 3}))
    return session_id


def test_version(invoke) -> None:
    code, out, _ = invoke("--version")
    assert code == 0 and out.strip() == f"prodigy, version {__version__}"


def test_top_level_help_lists_commands_examples_and_exit_codes(invoke) -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for name in ("run", "resume", "resume-job", "validate"):
        assert name in out
    assert "Examples:" in out and "Exit codes:" in out


def test_no_arguments_shows_usage(invoke) -> None:
    code, out, err = invoke()
    assert code in (0, 2) and "Usage:" in out + err


@pytest.mark.parametrize("command", AVAILABLE)
def test_every_command_help_lists_examples(invoke, command: str) -> None:
    code, out, _ = invoke(command, "--help")
    assert code == 0
    assert "Examples:" in out and f"prodigy {command}" in out


def _leaf_commands(group: click.Group, path: list[str]) -> list[list[str]]:
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += _leaf_commands(command, path + [name])
        elif command is not None:
            found.append(path + [name])
    return found


@pytest.mark.parametrize("path", _leaf_commands(cli, []), ids=" ".join)
def test_every_subcommand_help_shows_its_examples_verbatim(invoke, path: list[str]) -> None:
    code, out, _ = invoke(*path, "--help")
    lines = out.splitlines()
    assert code == 0 and "\\b" not in out  # a literal \b: click did not see its no-rewrap marker
    start = next(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    assert lines[start + 1].strip().startswith(f"prodigy {' '.join(path)}")


def test_help_with_clirunner() -> None:
    result = CliRunner().invoke(cli, ["run", "-h"])
    assert result.exit_code == 0 and "WORKFLOW" in result.output and "--profile" in result.output


@pytest.mark.parametrize("args", [["--bogus"], ["run", "--bogus", "x.yml"], ["resume", "--nope", "session-x"],
                                  ["validate", "--strict", "x.yml"], ["resume", "--max-retries", "-1", "s"]])
def test_unknown_or_bad_flags_exit_2(invoke, args: list[str]) -> None:
    code, _, err = invoke(*args)
    assert code == 2 and "Error" in err


def test_unknown_command_exits_2(invoke) -> None:
    code, _, err = invoke("frobnicate")
    assert code == 2 and "No such command" in err


def test_missing_arguments_exit_2(invoke) -> None:
    assert invoke("run")[0] == 2
    assert invoke("validate")[0] == 2
    assert invoke("resume-job")[0] == 2


def test_resume_without_id_lists_resumable_sessions(invoke) -> None:
    failed = make_session("failed", "first")
    interrupted = make_session("interrupted", "second")
    completed = make_session("completed", "third")
    code, out, err = invoke("resume")
    assert code == 2
    assert "no session id given" in err
    assert failed in err and interrupted in err and completed not in err
    assert "1/3" in err and "first" in err
    assert "prodigy resume <session-id>" in err


def test_resume_without_id_and_nothing_to_resume(invoke) -> None:
    make_session("completed")
    code, _, err = invoke("resume")
    assert code == 2 and "no resumable sessions" in err


def test_resume_unknown_id(invoke) -> None:
    code, _, err = invoke("resume", new_session_id())
    assert code == 2 and "not found" in err.lower()
    code, _, err = invoke("resume", "zzz")
    assert code == 2 and "no session or job id matches 'zzz'" in err


@pytest.mark.parametrize("bad", ["../x", "../../etc/passwd", "a/b"])
def test_resume_rejects_path_like_ids(invoke, bad: str, prodigy_home: Path) -> None:
    code, _, err = invoke("resume", bad)
    assert code == 2 and "Invalid id" in err
    assert not (prodigy_home.parent / "x.json").exists()


def test_resume_ambiguous_prefix_lists_candidates(invoke) -> None:
    a, b = make_session("failed"), make_session("failed")
    code, _, err = invoke("resume", "session-")
    assert code == 2 and a in err and b in err and "Type more characters" in err


def test_resume_completed_session_exits_5(invoke) -> None:
    session_id = make_session("completed")
    code, _, err = invoke("resume", session_id[:16])  # a unique prefix works
    assert code == 5 and "already completed" in err


def test_a_completed_claude_job_exits_5_even_without_the_agent_cli(invoke, write_workflow, work: Path,
                                                                 fake_claude: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is left to run, so saying so needs no agent CLI (the check used to come first: exit 2)."""
    (work / "items.json").write_text('["a", "b"]')
    path = write_workflow("""
        name: agents
        mode: mapreduce
        map:
          input: items.json
          agent_template:
            - claude: "/review ${item}"
    """)
    code, out, err = invoke("run", str(path), "-p", str(work), "--no-worktree")
    assert code == 0, out + err
    monkeypatch.setenv("PRODIGY_CLAUDE_BIN", str(work / "no-such-claude"))
    code, _, err = invoke("resume", support.session_id_from(out))
    assert code == 5 and "already completed, nothing to resume" in err


def test_resume_cancelled_session_exits_5(invoke) -> None:
    code, _, err = invoke("resume", make_session("cancelled"))
    assert code == 5 and "cancelled" in err


def test_resume_missing_workflow_file(invoke) -> None:
    session_id = make_session("failed")
    code, _, err = invoke("resume", session_id)
    assert code == 2
    assert "Workflow file not found: /nowhere/wf.yml" in err and "moved or deleted" in err
    assert f"prodigy resume {session_id} --workflow PATH" in err


def test_resume_job_unknown(invoke) -> None:
    code, _, err = invoke("resume-job", f"mapreduce-20260101_000000_{new_session_id()}")
    assert code == 2 and "not found" in err.lower()


def test_run_missing_file(invoke, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    code, _, err = invoke("run", "nope.yml")
    assert code == 2 and "Workflow file not found" in err


def test_run_invalid_workflow_lists_problems(invoke, work: Path, write_workflow) -> None:
    path = write_workflow("- shell: echo\n  captur: x\n- name: nothing\n")
    code, out, err = invoke("run", str(path), "-p", str(work))
    assert code == 2
    assert "captur: unknown key" in err and "commands[1]: no command" in err
    assert "Session:" not in out


def test_run_missing_run_dir(invoke, write_workflow, work: Path) -> None:
    code, _, err = invoke("run", str(write_workflow("- shell: echo\n")), "-p", str(work / "missing"))
    assert code == 2 and "Run directory does not exist" in err


def test_run_unknown_profile(invoke, write_workflow, work: Path) -> None:
    code, _, err = invoke("run", str(write_workflow("- shell: echo\n")), "-p", str(work), "--profile", "x")
    assert code == 2 and "Unknown profile 'x'" in err


def test_run_and_json_output(invoke, write_workflow, work: Path) -> None:
    path = write_workflow("- shell: echo one\n- shell: exit 3\n")
    code, out, err = invoke("run", str(path), "-p", str(work), "--json")
    assert code == 1
    data = json.loads(out)
    assert data["status"] == "failed" and data["failed_step"] == 2 and data["exit_code_of_step"] == 3
    assert data["resume_command"] == f"prodigy resume {data['session_id']}"
    assert "Session:" in err  # progress goes to stderr in --json mode
    sessions_record = sessions.load(data["session_id"])
    assert sessions_record.status == "failed" and sessions_record.exit_code == 1


def test_run_then_resume_in_process(invoke, write_workflow, work: Path) -> None:
    path = write_workflow("- shell: echo 1 >> ledger\n- shell: test -f fixed\n- shell: echo 3 >> ledger\n")
    code, out, _ = invoke("run", str(path), "-p", str(work))
    assert code == 1
    session_id = out.splitlines()[0].removeprefix("Session: ").strip()
    assert f"Resume with: prodigy resume {session_id}" in out
    (work / "fixed").touch()
    code, out, _ = invoke("resume", session_id)
    assert code == 0, out
    assert "from step 2/3" in out and "Resumed session completed" in out
    assert (work / "ledger").read_text().splitlines() == ["1", "3"]


def test_claude_workflow_without_the_agent_cli(invoke, write_workflow, work: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODIGY_CLAUDE_BIN", str(work / "no-such-claude"))
    path = write_workflow("- shell: echo 1 >> ledger\n- claude: /do-it\n")
    code, out, err = invoke("run", str(path), "-p", str(work))
    assert code == 2 and "agent CLI" in err and "PRODIGY_CLAUDE_BIN" in err
    assert not (work / "ledger").exists() and "Session:" not in out


def test_a_misspelt_command_gets_a_suggestion(invoke) -> None:
    code, _out, err = invoke("resum", "x")
    assert code == 2 and "No such command 'resum'. Did you mean 'resume'?" in err


def test_max_retries_needs_force_and_force_needs_a_retry(invoke) -> None:
    code, _out, err = invoke("resume-job", "mapreduce-x", "--max-retries", "3")
    assert code == 2 and "without --force they do not run" in err and "Add --force" in err
    code, _out, err = invoke("resume", "session-x", "--force", "--max-retries", "0")
    assert code == 2 and "would retry nothing" in err
