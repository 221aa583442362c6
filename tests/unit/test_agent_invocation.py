"""How the agent CLI is started: argv, stdin for long prompts, the environment, the preflight."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from prodigy.errors import ExitCode, MissingToolError
from prodigy.execution.agents import invocation
from prodigy.execution.agents.invocation import AgentSetupError, agent_env, command, preflight
from prodigy.workflow.model import AgentOptions, EnvVar


def test_the_prompt_follows_double_dash_and_options_use_equals() -> None:
    inv = command("claude", "-starts with a dash", AgentOptions(model="opus", max_turns=5, max_budget_usd=0.5,
                                                                  allowed_tools=("Read", "Bash(git *)")))
    assert inv.stdin is None
    assert inv.argv == ["claude", "-p", "--output-format=stream-json", "--verbose", "--dangerously-skip-permissions",
                        "--model=opus", "--max-turns=5", "--max-budget-usd=0.5", "--allowedTools=Read,Bash(git *)",
                        "--", "-starts with a dash"]


def test_a_long_prompt_goes_on_stdin() -> None:
    prompt = "x" * (invocation.PROMPT_ARGV_MAX + 1)
    inv = command("claude", prompt, None)
    assert inv.argv[-1] == "--dangerously-skip-permissions" and inv.stdin == prompt.encode()
    assert command("claude", "a\0b", None).stdin == b"a\0b"  # a NUL cannot be in argv


def test_clear_env_keeps_the_agents_credentials() -> None:
    process_env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "u", "CLAUDE_CODE_MAX_RETRIES": "1",
                   "IS_SANDBOX": "1", "SECRET_TOKEN": "t", "PATH": "/bin"}
    kept = agent_env({"PATH": "/bin"}, process_env, cleared=True, step_env=(("ANTHROPIC_BASE_URL", "mine"),))
    assert kept == {"PATH": "/bin", "ANTHROPIC_API_KEY": "k", "CLAUDE_CODE_MAX_RETRIES": "1", "IS_SANDBOX": "1"}
    assert agent_env({"A": "1"}, process_env, cleared=False) == {"A": "1"}


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invocation, "_checked", {})


def test_preflight_runs_version_once_per_run(fresh, fake_claude: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_CLAUDE_CALLS", str(calls))
    first = preflight(os.environ["PRODIGY_CLAUDE_BIN"], os.environ)
    again = preflight(os.environ["PRODIGY_CLAUDE_BIN"], os.environ)
    assert first == again and first.version == "2.1.332 (Claude Code)"
    assert [json.loads(line)["case"] for line in calls.read_text().splitlines()] == ["version"]
    assert invocation.checked(os.environ["PRODIGY_CLAUDE_BIN"]) == first


def test_preflight_refuses_root_without_is_sandbox(fresh, fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invocation, "_is_root", lambda: True)
    env = {k: v for k, v in os.environ.items() if k != "IS_SANDBOX"}
    with pytest.raises(AgentSetupError) as caught:
        preflight(os.environ["PRODIGY_CLAUDE_BIN"], env)
    assert "IS_SANDBOX=1" in caught.value.hint and caught.value.exit_code == ExitCode.USAGE
    assert preflight(os.environ["PRODIGY_CLAUDE_BIN"], env, {"IS_SANDBOX": EnvVar("1")}).version  # workflow env
    with pytest.raises(AgentSetupError):
        preflight(os.environ["PRODIGY_CLAUDE_BIN"], {**env, "IS_SANDBOX": "0"})


def test_preflight_reports_a_cli_that_does_not_run(fresh, tmp_path: Path) -> None:
    with pytest.raises(MissingToolError):
        preflight(str(tmp_path / "nope"), os.environ)
    broken = tmp_path / "claude"
    broken.write_text("#!/bin/sh\necho 'claude: libfoo.so: cannot open shared object file' >&2\nexit 127\n")
    broken.chmod(0o755)
    with pytest.raises(AgentSetupError) as caught:
        preflight(str(broken), {**os.environ, "IS_SANDBOX": "1"})
    assert "exit 127" in caught.value.message and "libfoo.so" in caught.value.message
