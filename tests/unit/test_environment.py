"""The environment commands run with: workflow env, secrets (masked), profiles, env_files, PRODIGY_*."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from prodigy.errors import UsageError
from prodigy.execution import environment
from prodigy.execution.context import Masker, StepContext
from prodigy.execution.runner import run_step
from prodigy.ids import new_session_id
from prodigy.workflow.load import load_workflow
from prodigy.workflow.model import Workflow


def workflow(work: Path, text: str) -> Workflow:
    path = work / "wf.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_workflow(path)


def build(wf: Workflow, work: Path, profile: str | None = None) -> environment.RunEnvironment:
    return environment.build(wf, session_id="session-test", run_dir=work, profile=profile)


def declared(env: environment.RunEnvironment) -> dict[str, object]:
    """The workflow's own variables (without `env`, the whole process environment)."""
    return {k: v for k, v in env.variables.items() if k != "env"}


def test_env_values_reach_commands_and_interpolation(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_OUTSIDE", "outer")
    wf = workflow(work, """
        env:
          GREETING: hello
          COUNT: 3
          DERIVED: "${GREETING}-world"
          INHERITED: "${env:FROM_OUTSIDE}"
        commands:
          - shell: echo "$GREETING $COUNT $DERIVED $INHERITED ${GREETING}"
    """)
    env = build(wf, work)
    assert declared(env) == {"GREETING": "hello", "COUNT": "3", "DERIVED": "hello-world", "INHERITED": "outer"}
    assert env.process_env["GREETING"] == "hello" and env.process_env["FROM_OUTSIDE"] == "outer"
    assert env.process_env["PRODIGY_AUTOMATION"] == "true"
    assert env.process_env["PRODIGY_SESSION_ID"] == "session-test"
    ctx = StepContext(run_dir=work, process_env=env.process_env, session_id=new_session_id(), masker=env.masker)
    result = run_step(wf.steps[0], env.variables, ctx)
    assert result.stdout == "hello 3 hello-world outer hello\n"


def test_secrets_are_masked(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REAL_TOKEN", "tok-from-env-123")
    wf = workflow(work, """
        env:
          API_KEY:
            secret: true
            value: sk-very-secret
          PLAIN: visible
        secrets:
          TOKEN: "${env:REAL_TOKEN}"
        commands:
          - shell: |
              [ "$API_KEY" = sk-very-secret ] && [ "$TOKEN" = tok-from-env-123 ] || exit 9
              echo "key=$API_KEY token=$TOKEN plain=$PLAIN"; exit 1
    """)
    env = build(wf, work)
    assert env.process_env["API_KEY"] == "sk-very-secret"  # the command gets the real value
    assert env.process_env["TOKEN"] == "tok-from-env-123"
    assert env.masker("key=sk-very-secret token=tok-from-env-123 plain=visible") == "key=*** token=*** plain=visible"
    ctx = StepContext(run_dir=work, process_env=env.process_env, session_id=new_session_id(), masker=env.masker)
    result = run_step(wf.steps[0], env.variables, ctx)
    assert result.exit_code == 1  # the command saw the real values (exit 9 otherwise)
    assert env.masker(result.stdout) == "key=*** token=*** plain=visible\n"


def test_masker_ignores_very_short_values_and_prefers_longest() -> None:
    masker = Masker(["ab", "secret", "secret-long"])
    assert masker("ab secret-long secret") == "ab *** ***"
    assert not Masker([]) and Masker(["abc"])
    assert Masker([])("text") == "text" and Masker(["abc"])(None) == ""


def test_profiles_override_env(work: Path) -> None:
    wf = workflow(work, """
        env:
          NODE_ENV: production
          API_URL: https://api.example.com
        profiles:
          development:
            description: local work
            NODE_ENV: development
            DEBUG: "true"
        commands:
          - shell: echo
    """)
    assert declared(build(wf, work)) == {"NODE_ENV": "production", "API_URL": "https://api.example.com"}
    dev = build(wf, work, profile="development")
    assert declared(dev) == {"NODE_ENV": "development", "API_URL": "https://api.example.com", "DEBUG": "true"}
    with pytest.raises(UsageError) as exc:
        build(wf, work, profile="staging")
    assert "Unknown profile 'staging'" in exc.value.message and "development" in exc.value.message


def test_env_files(work: Path) -> None:
    (work / ".env").write_text(textwrap.dedent("""
        # a comment
        export FROM_FILE=file-value
        QUOTED="with spaces"
        SINGLE='single'
        OVERRIDDEN=from-file
        not a pair
    """))
    wf = workflow(work, """
        env_files:
          - .env
          - .env.missing
        env:
          OVERRIDDEN: from-env
        commands:
          - shell: echo
    """)
    env = build(wf, work)
    assert declared(env) == {"FROM_FILE": "file-value", "QUOTED": "with spaces", "SINGLE": "single",
                             "OVERRIDDEN": "from-env"}


def test_env_file_by_absolute_path(work: Path, tmp_path: Path) -> None:
    outside = tmp_path / "shared.env"
    outside.write_text("SHARED=1\n")
    wf = workflow(work, f"env_files: {outside}\ncommands:\n  - shell: echo\n")
    assert declared(build(wf, work)) == {"SHARED": "1"}


def test_inherited_environment_is_kept(work: Path) -> None:
    wf = workflow(work, "- shell: echo\n")
    env = build(wf, work)
    assert env.process_env["PATH"] == os.environ["PATH"]
    assert declared(env) == {}
