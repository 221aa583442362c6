"""claude: steps through the runner, with the fake CLI playing each case the real one shows."""

from __future__ import annotations

import json
import os
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from prodigy.execution import outcome as o
from prodigy.execution.agents import run as agent_run
from prodigy.execution.agents.usage import UsageLedger
from prodigy.execution.context import Masker, StepContext
from prodigy.execution.runner import run_step, run_steps
from prodigy.ids import new_session_id
from prodigy.workflow.load import load_workflow
from prodigy.workflow.model import Step


@pytest.fixture
def ctx(work: Path, fake_claude: Path) -> StepContext:
    return StepContext(run_dir=work, process_env=dict(os.environ), session_id=new_session_id(),
                       log_dir=work.parent / "logs", claude_bin=os.environ["PRODIGY_CLAUDE_BIN"],
                       usage=UsageLedger())


def steps(work: Path, text: str) -> tuple[Step, ...]:
    path = work.parent / f"wf-{time.monotonic_ns()}.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_workflow(path).steps


def step(work: Path, text: str) -> Step:
    (only,) = steps(work, text)
    return only


def test_the_answer_is_the_output_and_the_cost_is_recorded(ctx: StepContext, work: Path) -> None:
    result = run_steps(steps(work, """
        - claude: "/fix it"
          capture: answer
        - shell: echo "agent said ${claude.output} / ${answer}"
    """), {}, ctx)
    assert result.ok and result.stdout == "agent said done: /fix it / done: /fix it\n"
    usage = ctx.usage.total()
    assert usage.cost_usd == 0.0123 and usage.turns == 1 and usage.model == "claude-opus-5-5" and usage.session_id


@pytest.mark.parametrize(("case", "status", "kind"), [
    ("is_error_exit0", o.FAILED, o.AGENT),
    ("error", o.FAILED, o.AGENT),
    ("success_exit1", o.SUCCEEDED, None),
    ("auth", o.FAILED, o.FATAL),
    ("forbidden", o.FAILED, o.FATAL),
    ("rate_limit", o.FAILED, o.TRANSIENT),
    ("overloaded", o.FAILED, o.TRANSIENT),
    ("server_error", o.FAILED, o.TRANSIENT),
    ("usage_limit", o.FAILED, o.TRANSIENT),
    ("max_turns", o.FAILED, o.AGENT),
    ("max_budget", o.FAILED, o.AGENT),
    ("no_result", o.FAILED, o.AGENT),
    ("crash", o.FAILED, o.AGENT),
    ("mcp_failed", o.SUCCEEDED, None),
])
def test_each_case_of_the_cli(ctx: StepContext, work: Path, case: str, status: str, kind: str | None) -> None:
    result = run_step(step(work, f'- claude: "/task [fake:{case}]"'), {}, ctx)
    assert result.status == status, result.error
    assert (result.failure_kind.kind if result.failure_kind else None) == kind
    assert result.log_path and Path(result.log_path).stat().st_size > 0


def test_run_level_failures_skip_the_steps_handlers(ctx: StepContext, work: Path) -> None:
    marker = work / "handler-ran"
    for case in ("auth", "rate_limit"):
        result = run_step(step(work, f"""
            - claude: "/task [fake:{case}]"
              on_failure:
                shell: touch {marker}
                max_attempts: 3
        """), {}, ctx)
        assert result.failure_kind.run_level and result.attempts == 1 and not marker.exists()
    agent_fault = run_step(step(work, f"""
        - claude: "/task [fake:error]"
          on_failure:
            shell: touch {marker}
    """), {}, ctx)
    assert agent_fault.failure_kind.kind == o.AGENT and marker.exists()


def test_step_options_reach_the_cli(ctx: StepContext, work: Path, fake_claude: Path) -> None:
    result = run_step(step(work, """
        - claude: "/task [fake:max_turns]"
          model: claude-sonnet-9
          max_turns: 2
          max_budget_usd: 0.25
          allowed_tools: [Read, Edit]
    """), {}, ctx)
    argv = json.loads(fake_claude.read_text().splitlines()[-1])
    assert "--model=claude-sonnet-9" in argv and "--max-turns=2" in argv and "--max-budget-usd=0.25" in argv
    assert "--allowedTools=Read,Edit" in argv and argv[-2:] == ["--", "/task [fake:max_turns]"]
    assert result.error == ("claude failed: Reached maximum number of turns (2) (error_max_turns, terminal_reason "
                            "max_turns, 3 turns)")


def test_prompts_the_cli_would_misread(ctx: StepContext, work: Path) -> None:
    dash = run_step(step(work, '- claude: "-v is not a flag here"'), {}, ctx)
    assert dash.ok and dash.variables["claude.output"] == "done: -v is not a flag here"
    big = "x" * 200_000  # over the 128 KiB a single argv string may hold
    long = run_step(step(work, '- claude: "/review ${BIG}"'), {"BIG": big}, ctx)
    assert long.ok and long.variables["claude.output"] == f"done: /review {big}"


def test_a_cli_that_hangs_after_its_result_is_ended_and_the_result_used(ctx: StepContext, work: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_run, "RESULT_GRACE", 0.3)
    started = time.monotonic()
    result = run_step(step(work, '- claude: "/task [fake:hang_after_result]"'), {}, ctx)
    assert result.ok and result.variables["claude.output"] == "done: /task [fake:hang_after_result]"
    assert time.monotonic() - started < 10


def test_the_tighter_of_step_timeout_and_agent_timeout_wins(ctx: StepContext, work: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_SLEEP", "30")
    ctx = replace(ctx, process_env=dict(os.environ))
    short_deadline = replace(ctx, deadline=time.monotonic() + 1)
    started = time.monotonic()
    result = run_step(step(work, '- claude: "/task [fake:sleep]"\n  timeout: 20'), {}, short_deadline)
    assert result.status == o.TIMED_OUT and time.monotonic() - started < 8
    started = time.monotonic()
    result = run_step(step(work, '- claude: "/task [fake:sleep]"\n  timeout: 1'),
                      {}, replace(ctx, deadline=time.monotonic() + 60))
    assert result.status == o.TIMED_OUT and time.monotonic() - started < 8


def test_a_flood_is_logged_whole_and_the_answer_stays_small(ctx: StepContext, work: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_BYTES", str(2_000_000))
    result = run_step(step(work, '- claude: "/task [fake:flood]"'), {}, replace(ctx, process_env=dict(os.environ)))
    assert result.ok and result.stdout == "done: /task [fake:flood]"
    assert Path(result.log_path).stat().st_size > 2_000_000


def test_a_long_answer_is_cut_with_a_note(ctx: StepContext, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_run, "ANSWER_CAP", 10)
    result = run_step(step(work, '- claude: "/task"'), {}, ctx)
    answer = result.variables["claude.output"]
    assert answer.startswith("[answer cut: the last 10 of 11 bytes; the whole answer is in ")
    assert answer.endswith("\none: /task")


def test_secrets_never_reach_the_log_or_the_outcome(ctx: StepContext, work: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    secret = 'tok"en\\wé-9'
    for ascii_only in ("0", "1"):
        monkeypatch.setenv("FAKE_CLAUDE_ASCII", ascii_only)
        result = run_step(step(work, '- claude: "/use ${TOKEN}"'), {"TOKEN": secret},
                          replace(ctx, masker=Masker([secret]), process_env=dict(os.environ)))
        log = Path(result.log_path).read_bytes()
        assert result.ok and b"***" in log
        for printed in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
            assert printed.encode() not in log
        assert secret not in result.variables["claude.output"] and "***" in result.variables["claude.output"]
