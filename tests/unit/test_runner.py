"""The one step executor: when, captures, on_failure/on_success/on_exit_code, commit_required, timeout."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from prodigy.execution import outcome as o
from prodigy.execution.context import Masker, StepContext
from prodigy.execution.runner import parse_capture, run_step, run_steps
from prodigy.ids import new_session_id
from prodigy.workflow.load import load_workflow
from prodigy.workflow.model import Step


@pytest.fixture
def ctx(work: Path) -> StepContext:
    return StepContext(run_dir=work, process_env=dict(os.environ), session_id=new_session_id(),
                       log_dir=work.parent / "logs")


@pytest.fixture
def steps(work: Path):
    """steps(yaml) -> the workflow's steps (a bare list of steps as YAML)."""
    counter = iter(range(1000))

    def load(text: str) -> tuple[Step, ...]:
        path = work.parent / f"wf{next(counter)}.yml"
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return load_workflow(path).steps

    return load


def one(steps_fn, text: str) -> Step:
    (step,) = steps_fn(text)
    return step


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# ---------------------------------------------------------------- basics


def test_success_and_failure_are_values(ctx, steps) -> None:
    ok = run_step(one(steps, "- shell: echo hello"), {}, ctx)
    assert (ok.status, ok.exit_code, ok.stdout, ok.attempts) == (o.SUCCEEDED, 0, "hello\n", 1)
    bad = run_step(one(steps, "- shell: echo oops >&2; exit 3"), {}, ctx)
    assert (bad.status, bad.exit_code, bad.error) == (o.FAILED, 3, "shell command exited with code 3")
    assert bad.stderr == "oops\n" and not bad.ok


def test_interrupted_before_start(ctx, steps) -> None:
    ctx.stop_event.set()
    result = run_step(one(steps, "- shell: touch ran"), {}, ctx)
    assert result.status == o.INTERRUPTED
    assert not (ctx.run_dir / "ran").exists()


def test_stop_during_a_step_interrupts_it(ctx, steps) -> None:
    timer = threading.Timer(0.3, ctx.stop_event.set)
    timer.start()
    started = time.monotonic()
    result = run_step(one(steps, "- shell: sleep 20"), {}, ctx)
    timer.cancel()
    assert result.status == o.INTERRUPTED and time.monotonic() - started < 10


def test_timeout(ctx, steps) -> None:
    started = time.monotonic()
    result = run_step(one(steps, "- shell: sleep 20\n  timeout: 0.5"), {}, ctx)
    assert result.status == o.TIMED_OUT and "timed out" in (result.error or "")
    assert time.monotonic() - started < 8


def test_timeout_from_a_variable(ctx, steps) -> None:
    result = run_step(one(steps, "- shell: sleep 20\n  timeout: ${LIMIT}"), {"LIMIT": "0.3s"}, ctx)
    assert result.status == o.TIMED_OUT
    bad = run_step(one(steps, "- shell: echo\n  timeout: ${LIMIT}"), {"LIMIT": "soon"}, ctx)
    assert bad.status == o.ERRORED and "not a duration" in (bad.error or "")


def test_working_dir_and_step_env(ctx, steps, work: Path) -> None:
    (work / "sub").mkdir()
    result = run_step(one(steps, """
        - shell: pwd; echo "$LOCAL"
          working_dir: sub
          env:
            LOCAL: "v-${X}"
    """), {"X": "1"}, ctx)
    assert result.stdout.splitlines() == [str(work / "sub"), "v-1"]
    missing = run_step(one(steps, "- shell: pwd\n  working_dir: nope"), {}, ctx)
    assert missing.status == o.ERRORED and "working_dir does not exist" in (missing.error or "")


# ---------------------------------------------------------------- when


@pytest.mark.parametrize("when, ran", [("true", True), ("false", False), ("${FLAG} == 'yes'", True),
                                       ("${FLAG} == 'no'", False), ("COUNT > 2", True)])
def test_when(ctx, steps, work: Path, when: str, ran: bool) -> None:
    step = one(steps, f'- shell: touch ran\n  when: "{when}"')
    result = run_step(step, {"FLAG": "yes", "COUNT": 3}, ctx)
    assert result.status == (o.SUCCEEDED if ran else o.SKIPPED)
    assert result.ok
    assert (work / "ran").exists() is ran


def test_when_boolean_yaml_values(ctx, steps, work: Path) -> None:
    skipped, ran = steps("- shell: touch a\n  when: false\n- shell: touch b\n  when: true\n")
    assert run_step(skipped, {}, ctx).status == o.SKIPPED and not (work / "a").exists()
    assert run_step(ran, {}, ctx).status == o.SUCCEEDED and (work / "b").exists()


def test_when_with_a_bad_expression_is_an_error_value(ctx) -> None:
    result = run_step(Step(kind="shell", command="touch x", when="a ==="), {}, ctx)
    assert result.status == o.ERRORED and "when" in (result.error or "")


def test_when_on_capture_metadata(ctx, steps, work: Path) -> None:
    result = run_steps(steps("""
        - shell: "true"
          capture: build
        - shell: touch ran
          when: "${build.success}"
    """), {}, ctx)
    assert result.ok and (work / "ran").exists()


# ---------------------------------------------------------------- captures


@pytest.mark.parametrize("command, fmt, value", [
    ("echo '{\"a\": [1, 2]}'", "json", {"a": [1, 2]}),
    ("echo 42", "number", 42),
    ("echo 2.5", "number", 2.5),
    ("printf 'a\\n\\nb\\n'", "lines", ["a", "b"]),
    ("echo yes", "boolean", True),
    ("echo false", "boolean", False),
    ("echo '  padded  '", "string", "  padded  "),
])
def test_capture_formats(ctx, steps, command: str, fmt: str, value: Any) -> None:
    step = one(steps, f"- shell: {json.dumps(command)}\n  capture: X\n  capture_format: {fmt}\n")
    result = run_step(step, {}, ctx)
    assert result.status == o.SUCCEEDED, result.error
    assert result.variables["X"] == value
    assert result.variables["X.exit_code"] == 0 and result.variables["X.success"] is True
    assert isinstance(result.variables["X.duration"], float)


@pytest.mark.parametrize("command, fmt, message", [
    ("echo not-json", "json", "capture_format json: the output is not JSON"),
    ("echo twelve", "number", "capture_format number: the output 'twelve' is not a number"),
])
def test_capture_format_failures_fail_the_step(ctx, steps, command: str, fmt: str, message: str) -> None:
    result = run_step(one(steps, f"- shell: {command}\n  capture: X\n  capture_format: {fmt}\n"), {}, ctx)
    assert result.status == o.FAILED and message in (result.error or "")
    assert result.variables["X"] == command.split()[1]  # the raw text stays visible
    assert "X.error" in result.variables


def test_capture_of_a_failed_command_keeps_text_and_metadata(ctx, steps) -> None:
    result = run_step(one(steps, "- shell: echo partial; echo err >&2; exit 4\n  capture: X\n"), {}, ctx)
    assert result.status == o.FAILED
    v = result.variables
    assert (v["X"], v["X.exit_code"], v["X.success"], v["X.stderr"]) == ("partial", 4, False, "err\n")


def test_capture_output_variable_and_shell_output(ctx, steps) -> None:
    result = run_steps(steps("""
        - shell: echo first
          capture_output: FIRST
        - shell: printf 'got %s and %s' "${FIRST}" "${shell.output}"
          capture_output: true
        - shell: echo "then ${shell.output}"
    """), {}, ctx)
    assert result.ok
    assert result.variables["FIRST"] == "first"  # captures drop the trailing newline
    # ${shell.output} is the previous command's stdout without its trailing newline
    assert result.stdout == "then got first and first\n"
    assert result.variables["shell.output"] == result.stdout.rstrip("\n")
    assert result.variables["shell.exit_code"] == 0


def test_parse_capture_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown capture_format"):
        parse_capture("x", "xml")


# ---------------------------------------------------------------- on_failure


def test_on_failure_string_runs_the_handler_and_recovers(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - shell: exit 2
          on_failure: echo "handled ${error.exit_code}" >> handler.log
    """), {}, ctx)
    assert result.status == o.SUCCEEDED and result.recovered
    assert lines(work / "handler.log") == ["handled 2"]


def test_on_failure_list_runs_every_handler_step(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - shell: exit 1
          on_failure:
            - shell: echo one >> handler.log
            - shell: echo two >> handler.log
    """), {}, ctx)
    assert result.ok and result.recovered
    assert lines(work / "handler.log") == ["one", "two"]


def test_on_failure_handler_that_fails_fails_the_step(ctx, steps) -> None:
    result = run_step(one(steps, "- shell: exit 1\n  on_failure: exit 7\n"), {}, ctx)
    assert result.status == o.FAILED
    assert "the on_failure handler failed too: shell command exited with code 7" in (result.error or "")


def test_on_failure_max_attempts_retries_until_success(ctx, steps, work: Path) -> None:
    # Fails twice, succeeds on the third attempt; the handler runs after each failure.
    result = run_step(one(steps, """
        - shell: echo try >> attempts.log; test $(wc -l < attempts.log) -ge 3
          on_failure:
            shell: echo "fix ${error.attempt}/${error.max_attempts}" >> handler.log
            max_attempts: 3
    """), {}, ctx)
    assert result.status == o.SUCCEEDED and result.attempts == 3
    assert lines(work / "attempts.log") == ["try"] * 3
    assert lines(work / "handler.log") == ["fix 1/3", "fix 2/3"]


def test_on_failure_max_attempts_exhausted_fails(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - shell: echo try >> attempts.log; exit 1
          on_failure:
            shell: echo fix >> handler.log
            max_attempts: 2
    """), {}, ctx)
    assert result.status == o.FAILED and result.attempts == 2 and not result.recovered
    assert lines(work / "attempts.log") == ["try", "try"]
    assert lines(work / "handler.log") == ["fix", "fix"]


def test_on_failure_exhausted_with_fail_workflow_false_recovers(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - shell: echo try >> attempts.log; exit 1
          on_failure:
            max_attempts: 2
            fail_workflow: false
    """), {}, ctx)
    assert result.status == o.SUCCEEDED and result.recovered and result.attempts == 2
    assert lines(work / "attempts.log") == ["try", "try"]


def test_on_failure_with_fail_workflow_true_still_fails(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - shell: exit 1
          on_failure:
            shell: echo cleanup >> handler.log
            fail_workflow: true
    """), {}, ctx)
    assert result.status == o.FAILED
    assert lines(work / "handler.log") == ["cleanup"]


def test_on_failure_handler_sees_error_variables(ctx, steps, work: Path) -> None:
    run_step(one(steps, """
        - name: compile
          shell: echo some-out; echo bad-thing >&2; exit 5
          on_failure: printf '%s|' "${error.step}" "${error.exit_code}" "${error.stderr}" "${error.stdout}" > err.txt
    """), {}, ctx)
    assert (work / "err.txt").read_text() == "compile|5|bad-thing\n|some-out\n|"


def test_no_handler_means_failure_is_returned_as_is(ctx, steps) -> None:
    result = run_step(one(steps, "- shell: exit 9"), {}, ctx)
    assert (result.status, result.exit_code, result.recovered) == (o.FAILED, 9, False)


def test_timeout_goes_to_on_failure(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - shell: sleep 20
          timeout: 0.3
          on_failure: echo "${error.message}" > err.txt
    """), {}, ctx)
    assert result.ok and result.recovered
    assert "timed out" in (work / "err.txt").read_text()


# ---------------------------------------------------------------- on_success, on_exit_code


def test_on_success_chain(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - shell: echo built
          on_success:
            shell: echo "after ${shell.output}" >> chain.log
            on_success:
              shell: echo nested >> chain.log
    """), {}, ctx)
    assert result.ok
    assert lines(work / "chain.log") == ["after built", "nested"]


def test_on_success_is_skipped_on_failure_and_fails_the_step_when_it_fails(ctx, steps, work: Path) -> None:
    failed = run_step(one(steps, "- shell: exit 1\n  on_success: touch nope\n"), {}, ctx)
    assert failed.status == o.FAILED and not (work / "nope").exists()
    chained = run_step(one(steps, "- shell: echo ok\n  on_success: exit 4\n"), {}, ctx)
    assert chained.status == o.FAILED and chained.exit_code == 4


def test_on_exit_code(ctx, steps, work: Path) -> None:
    step_text = """
        - shell: exit ${CODE}
          on_exit_code:
            0: echo zero >> codes.log
            2: echo two >> codes.log
    """
    step = one(steps, step_text)
    zero = run_step(step, {"CODE": "0"}, ctx)
    two = run_step(step, {"CODE": "2"}, ctx)
    three = run_step(step, {"CODE": "3"}, ctx)
    assert zero.ok and not zero.recovered
    assert two.ok and two.recovered and two.exit_code == 2
    assert three.status == o.FAILED and three.exit_code == 3
    assert lines(work / "codes.log") == ["zero", "two"]


def test_on_exit_code_wins_over_on_failure(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - shell: exit 2
          on_exit_code:
            2: echo exit-code-handler >> h.log
          on_failure: echo on-failure >> h.log
    """), {}, ctx)
    assert result.ok
    assert lines(work / "h.log") == ["exit-code-handler"]


# ---------------------------------------------------------------- commit_required


def test_commit_required(ctx, steps, git_repo: Path) -> None:
    committed = run_step(one(steps, """
        - shell: echo change >> README.md && git commit -qam change
          commit_required: true
    """), {}, ctx)
    assert committed.status == o.SUCCEEDED, committed.error
    nothing = run_step(one(steps, "- shell: echo no commit\n  commit_required: true\n"), {}, ctx)
    assert nothing.status == o.FAILED
    assert nothing.error == "commit_required: the step finished without creating a commit"
    log = subprocess.run(["git", "log", "--oneline"], cwd=git_repo, capture_output=True, text=True).stdout
    assert len(log.splitlines()) == 2


def test_commit_required_outside_a_repository(ctx, steps) -> None:
    result = run_step(one(steps, "- shell: echo hi\n  commit_required: true\n"), {}, ctx)
    assert result.status == o.FAILED and "not a git repository" in (result.error or "")


# ---------------------------------------------------------------- write_file, claude


def test_write_file(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - write_file:
            path: out/data.json
            content: '{"name": "${NAME}"}'
            format: json
            create_dirs: true
    """), {"NAME": "x"}, ctx)
    assert result.ok
    assert (work / "out" / "data.json").read_text() == '{\n  "name": "x"\n}\n'


def test_write_file_refuses_to_escape_at_run_time(ctx, steps) -> None:
    result = run_step(one(steps, "- write_file:\n    path: ${P}\n    content: x\n"), {"P": "../evil"}, ctx)
    assert result.status == o.ERRORED and "escapes the working directory" in (result.error or "")


def test_claude_step_with_the_fake_agent(ctx, steps, fake_claude: Path, work: Path) -> None:
    from dataclasses import replace

    from support import FAKE_CLAUDE, read_ledger_json

    claude_ctx = replace(ctx, claude_bin=str(FAKE_CLAUDE), process_env=dict(os.environ))
    result = run_steps(steps("""
        - claude: "/fix ${ISSUE}"
        - shell: echo "agent said ${claude.output}"
    """), {"ISSUE": "a b"}, claude_ctx)
    assert result.ok, result.error
    assert result.stdout == "agent said done: /fix a b\n"
    calls = read_ledger_json(fake_claude)
    (argv,) = calls
    assert argv[:4] == ["-p", "--output-format=stream-json", "--verbose", "--dangerously-skip-permissions"]
    assert argv[4].startswith("--session-id=") and argv[5:] == ["--", "/fix a b"]
    failed = run_step(one(steps, '- claude: "/fix FAIL"'), {}, claude_ctx)
    assert failed.status == o.FAILED and failed.log_path and Path(failed.log_path).is_file()
    assert '"type":"result"' in Path(failed.log_path).read_text()


# ---------------------------------------------------------------- masking


def test_secrets_are_masked_in_errors(ctx, steps) -> None:
    from dataclasses import replace

    masked = replace(ctx, masker=Masker(["hunter22"]))
    result = run_step(one(steps, "- shell: echo x\n  working_dir: hunter22"), {}, masked)
    assert result.status == o.ERRORED and "hunter22" not in (result.error or "") and "***" in (result.error or "")


def test_a_big_value_can_be_interpolated_into_a_script(ctx, steps, work: Path) -> None:
    # 200 KB in one interpolated value is more than Linux allows in a single argv string (128 KiB).
    step = one(steps, """- shell: printf '%s' "${BIG}" | wc -c > size.txt; echo "$0" > name.txt""")
    result = run_step(step, {"BIG": "y" * 200_000}, ctx)
    assert result.ok, result.error
    assert (work / "size.txt").read_text().strip() == "200000"
    script = Path((work / "name.txt").read_text().strip())
    assert script.name.startswith("prodigy-step-") and not script.exists()  # the temporary script is gone


def test_output_between_half_and_full_cap_is_kept_whole(ctx, steps, work: Path) -> None:
    result = run_step(one(steps, """
        - shell: head -c 200000 /dev/zero | tr '\\0' 'y'; echo
          capture_output: BIG
    """), {}, ctx)
    assert result.ok
    assert len(result.variables["BIG"]) == 200_000


def test_claude_modes_of_the_fake_agent(ctx, steps, fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from support import FAKE_CLAUDE

    def claude_ctx() -> StepContext:
        return replace(ctx, claude_bin=str(FAKE_CLAUDE), process_env=dict(os.environ))

    monkeypatch.setenv("FAKE_CLAUDE_MODE", "fail")
    monkeypatch.setenv("FAKE_CLAUDE_EXIT", "7")
    failed = run_step(one(steps, "- claude: /x"), {}, claude_ctx())
    assert (failed.status, failed.exit_code) == (o.FAILED, 7) and "failing as asked" in failed.stderr

    monkeypatch.setenv("FAKE_CLAUDE_MODE", "sleep")
    monkeypatch.setenv("FAKE_CLAUDE_SLEEP", "30")
    started = time.monotonic()
    slow = run_step(one(steps, "- claude: /x\n  timeout: 1"), {}, claude_ctx())
    assert slow.status == o.TIMED_OUT and time.monotonic() - started < 10

    monkeypatch.setenv("FAKE_CLAUDE_MODE", "flood")
    monkeypatch.setenv("FAKE_CLAUDE_BYTES", str(3_000_000))
    flood = run_step(one(steps, "- claude: /x"), {}, claude_ctx())
    assert flood.ok and len(flood.stdout) <= ctx.output_cap
    assert flood.variables["claude.output"] == "done: /x"
    assert Path(flood.log_path).stat().st_size > 3_000_000  # the full stream is kept as the agent log
