"""End to end: the installed `prodigy` in subprocesses, PRODIGY_HOME in a temp folder, kill -9 and resume.

Steps append to a ledger file, so "not run again" is proven by counting lines. Commands that must stay
running until the test says so wait for a `go` file instead of sleeping a fixed time.
"""

from __future__ import annotations

import re
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from support import finish, ledger_lines, read_ledger_json, session_id_from, wait_for, wait_for_line

pytestmark = pytest.mark.e2e

REAL = Path("/work/shared/prodigy-workflows")
UNBUFFERED = {"PYTHONUNBUFFERED": "1"}
WAIT_FOR_GO = 'while [ ! -f go ]; do sleep 0.05; done'


def count(ledger: Path, line: str) -> int:
    return ledger_lines(ledger).count(line)


def resume_command_in(output: str) -> str:
    match = re.search(r"Resume with: prodigy resume (session-[0-9a-f-]{36})", output)
    assert match, f"no resume command in:\n{output}"
    return match.group(1)


# ---------------------------------------------------------------- kill -9, SIGINT


def test_sigkill_during_step_3_then_resume(work: Path, write_workflow, spawn_prodigy, prodigy) -> None:
    ledger = work / "ledger"
    write_workflow(f"""
        - shell: echo step1 >> ledger
        - shell: echo step2 >> ledger
        - shell: echo step3-start >> ledger; {WAIT_FOR_GO}; echo step3 >> ledger
        - shell: echo step4 >> ledger
        - shell: echo step5 >> ledger
    """)
    run = spawn_prodigy("run", "workflow.yml", cwd=work, env=UNBUFFERED)
    wait_for_line(ledger, "step3-start")
    run.send_signal(signal.SIGKILL)
    _code, out, _err = finish(run)
    session_id = session_id_from(out)

    resume = spawn_prodigy("resume", session_id, cwd=work, env=UNBUFFERED)
    # The re-run of step 3 has started, so the orphan of the killed run has been dealt with.
    wait_for(lambda: count(ledger, "step3-start") == 2, what="step 3 to start again")
    (work / "go").touch()  # an orphan that was not ended would now finish step 3 a second time
    code, out, err = finish(resume)
    assert code == 0, out + err
    assert "Ended 1 command(s) still running from the interrupted run" in out
    assert "from step 3/5 (2 step(s) already done, skipped)" in out
    time.sleep(0.3)  # more than the orphan's poll interval
    assert ledger_lines(ledger) == ["step1", "step2", "step3-start", "step3-start", "step3", "step4", "step5"]


def test_sigint_during_a_step(work: Path, write_workflow, spawn_prodigy, prodigy) -> None:
    ledger = work / "ledger"
    write_workflow(f"""
        - shell: echo s1 >> ledger
        - shell: echo s2-start >> ledger; {WAIT_FOR_GO}; echo s2 >> ledger
        - shell: echo s3 >> ledger
    """)
    run = spawn_prodigy("run", "workflow.yml", cwd=work)
    wait_for_line(ledger, "s2-start")
    run.send_signal(signal.SIGINT)
    code, out, err = finish(run, timeout=15)
    assert code == 130, out + err
    session_id = session_id_from(out)
    assert f"Resume with: prodigy resume {session_id}" in out
    assert "interrupted" in out
    assert ledger_lines(ledger) == ["s1", "s2-start"]  # the running command was ended, not left to finish

    (work / "go").touch()
    code, out, err = prodigy("resume", session_id, cwd=work)
    assert code == 0, out + err
    assert ledger_lines(ledger) == ["s1", "s2-start", "s2-start", "s2", "s3"]


# ---------------------------------------------------------------- failing steps, variables


def test_failing_step_fixed_in_the_workflow_file_then_resumed(work: Path, write_workflow, prodigy) -> None:
    ledger = work / "ledger"
    steps = """
        - shell: echo step1 >> ledger
        - shell: echo step2 >> ledger
        - shell: {step3}
        - shell: echo step4 >> ledger
    """
    write_workflow(steps.format(step3="echo broken >&2; exit 3"))
    code, out, err = prodigy("run", "workflow.yml", cwd=work)
    assert code == 1, out + err
    assert "failed at step 3/4" in out and "exited with code 3" in out and "broken" in out
    session_id = resume_command_in(out)

    write_workflow(steps.format(step3="echo step3 >> ledger"))
    code, out, err = prodigy("resume", session_id, cwd=work)
    assert code == 0, out + err
    assert "the workflow file changed since this session started" in out
    assert ledger_lines(ledger) == ["step1", "step2", "step3", "step4"]


def test_variables_and_captures_survive_resume(work: Path, write_workflow, prodigy) -> None:
    ledger = work / "ledger"
    write_workflow("""
        env:
          GREETING: hello
        commands:
          - shell: echo captured-value
            capture: CAP
          - shell: |
              echo '{"n": 7}'
            capture: DATA
            capture_format: json
          - shell: echo out-var
            capture_output: OUTV
          - shell: test -f fixed
          - shell: echo "${GREETING} ${CAP} ${DATA.n} ${OUTV} ${CAP.exit_code}" >> ledger
    """)
    code, out, _ = prodigy("run", "workflow.yml", cwd=work)
    assert code == 1
    (work / "fixed").touch()
    code, out, err = prodigy("resume", session_id_from(out), cwd=work)
    assert code == 0, out + err
    assert ledger_lines(ledger) == ["hello captured-value 7 out-var 0"]


# ---------------------------------------------------------------- what resume refuses


def test_resume_refusals(work: Path, write_workflow, prodigy, prodigy_home: Path) -> None:
    write_workflow("- shell: echo ok\n")
    code, out, _ = prodigy("run", "workflow.yml", cwd=work)
    assert code == 0
    session_id = session_id_from(out)

    code, _, err = prodigy("resume", session_id, cwd=work)
    assert code == 5 and "already completed" in err

    code, _, err = prodigy("resume", "session-00000000-0000-4000-8000-000000000000", cwd=work)
    assert code == 2 and "not found" in err.lower()

    code, _, err = prodigy("resume", "../../etc/passwd", cwd=work)
    assert code == 2 and "Invalid id" in err
    code, _, err = prodigy("resume", f"../{session_id}", cwd=work)
    assert code == 2 and "Invalid id" in err


def test_missing_workflow_file_and_resume_with_workflow_path(work: Path, write_workflow, prodigy) -> None:
    ledger = work / "ledger"
    path = write_workflow("- shell: echo one >> ledger\n- shell: test -f fixed\n- shell: echo three >> ledger\n")
    code, out, _ = prodigy("run", str(path), cwd=work)
    assert code == 1
    session_id = session_id_from(out)
    moved = work / "moved"
    moved.mkdir()
    shutil.move(path, moved / "renamed.yml")

    code, out, err = prodigy("resume", session_id, cwd=work)
    assert code == 2, out + err
    assert f"Workflow file not found: {path}" in err and "moved or deleted" in err
    assert "--workflow PATH" in err

    (work / "fixed").touch()
    code, out, err = prodigy("resume", session_id, "--workflow", str(moved / "renamed.yml"), cwd=work)
    assert code == 0, out + err
    assert ledger_lines(ledger) == ["one", "three"]


# ---------------------------------------------------------------- one executor at a time


def test_two_resumes_at_once(work: Path, write_workflow, spawn_prodigy, prodigy) -> None:
    ledger = work / "ledger"
    write_workflow(f"""
        - shell: test -f fixed
        - shell: echo start >> ledger; {WAIT_FOR_GO}
    """)
    code, out, _ = prodigy("run", "workflow.yml", cwd=work)
    assert code == 1
    session_id = session_id_from(out)
    (work / "fixed").touch()

    first = spawn_prodigy("resume", session_id, cwd=work)
    second = spawn_prodigy("resume", session_id, cwd=work)
    loser = wait_for(lambda: next((p for p in (first, second) if p.poll() is not None), None),
                     what="one resume to be refused")
    winner = second if loser is first else first
    code, _out, err = finish(loser)
    assert code == 4, err
    assert "already in progress" in err and f"pid {winner.pid}" in err
    assert winner.poll() is None
    (work / "go").touch()
    code, out, err = finish(winner)
    assert code == 0, out + err
    assert ledger_lines(ledger) == ["start"]


def test_resume_while_the_original_run_is_alive(work: Path, write_workflow, spawn_prodigy, prodigy) -> None:
    ledger = work / "ledger"
    write_workflow(f"- shell: echo start >> ledger; {WAIT_FOR_GO}\n- shell: echo end >> ledger\n")
    run = spawn_prodigy("run", "workflow.yml", cwd=work, env=UNBUFFERED)
    wait_for_line(ledger, "start")
    session_id = wait_for(_only_session_id, what="the session record")
    code, _, err = prodigy("resume", session_id, cwd=work)
    assert code == 4, err
    assert "already in progress" in err and f"pid {run.pid}" in err and "(run)" in err
    (work / "go").touch()
    code, out, err = finish(run)
    assert code == 0, out + err
    assert ledger_lines(ledger) == ["start", "end"]


def _only_session_id() -> str | None:
    from prodigy.state import sessions

    ids = sessions.all_ids()
    return ids[0] if len(ids) == 1 else None


# ---------------------------------------------------------------- output, tools


def test_50_mb_of_output_and_invalid_utf8(work: Path, write_workflow, spawn_prodigy) -> None:
    ledger = work / "ledger"
    write_workflow(r"""
        - shell: head -c 50000000 /dev/zero | tr '\0' 'x'; printf '\377\376 invalid \300\n'
          capture_output: BIG
        - shell: printf 'bad \377 bytes\n' >&2; printf '\377\n'
        - shell: echo "${BIG}" | tail -c 20 > tail.txt; echo done >> ledger
    """)
    time_bin = "/usr/bin/time"
    rss_file = work / "rss.txt"
    use_time = Path(time_bin).exists()
    prefix = [time_bin, "-f", "%M", "-o", str(rss_file)] if use_time else None
    run = spawn_prodigy("run", "workflow.yml", cwd=work, prefix=prefix)
    peak = 0
    if not use_time:
        proc = psutil.Process(run.pid)
        while run.poll() is None:
            try:
                peak = max(peak, proc.memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.01)
    code, out, err = finish(run, timeout=60)
    assert code == 0, out + err
    assert "Internal error" not in out + err
    assert ledger_lines(ledger) == ["done"]
    assert "invalid" in (work / "tail.txt").read_text()  # the kept tail of 50 MB, decoded with replacement
    if use_time:
        peak = int(rss_file.read_text().split()[-1]) * 1024
    assert 0 < peak < 200 * 1024 * 1024, f"peak RSS {peak / 1e6:.0f} MB"
    assert len(out) < 100_000  # the output is not echoed without -v


def test_invalid_utf8_streamed_with_verbose(work: Path, write_workflow, prodigy) -> None:
    write_workflow(r"- shell: printf 'bad \377\376 bytes\n'; printf 'err \300\n' >&2" + "\n")
    code, out, err = prodigy("-v", "run", "workflow.yml", cwd=work)
    assert code == 0, out + err
    assert "bad" in out and "bytes" in out and "err" in out


def test_claude_step_with_missing_agent_cli_fails_before_the_first_step(work: Path, write_workflow,
                                                                        prodigy) -> None:
    ledger = work / "ledger"
    write_workflow("- shell: echo one >> ledger\n- claude: /prodigy-fix\n")
    code, out, err = prodigy("run", "workflow.yml", cwd=work,
                             env={"PRODIGY_CLAUDE_BIN": str(work / "no-such-claude")})
    assert code == 2, out + err
    assert "claude: steps" in err and "was not found" in err and "PRODIGY_CLAUDE_BIN" in err
    assert not ledger.exists()


def test_shell_only_workflow_never_needs_claude(work: Path, write_workflow, prodigy) -> None:
    write_workflow("- shell: echo one >> ledger\n")
    code, out, err = prodigy("run", "workflow.yml", cwd=work,
                             env={"PRODIGY_CLAUDE_BIN": str(work / "no-such-claude"), "PATH": "/usr/bin:/bin"})
    assert code == 0, out + err
    assert ledger_lines(work / "ledger") == ["one"]


def test_claude_step_with_the_fake_agent(work: Path, write_workflow, prodigy, fake_claude: Path) -> None:
    write_workflow("""
        - claude: "/prodigy-fix ${NAME}"
        - shell: echo "${claude.output}" >> ledger
        - claude: "/prodigy-FAIL"
    """.replace("${NAME}", "src/a b.py"))
    code, out, err = prodigy("run", "workflow.yml", cwd=work)
    assert code == 1, out + err
    assert ledger_lines(work / "ledger") == ["done: /prodigy-fix src/a b.py"]
    calls = read_ledger_json(fake_claude)
    assert [c[-1] for c in calls] == ["/prodigy-fix src/a b.py", "/prodigy-FAIL"]
    assert "Agent log:" in out


# ---------------------------------------------------------------- the original project's files


@pytest.mark.skipif(not REAL.is_dir(), reason="the shared workflow files are not available")
def test_real_test_resume_yml(work: Path, prodigy) -> None:
    path = work / "test-resume.yml"
    shutil.copy(REAL / "test-resume.yml", path)
    code, out, err = prodigy("-v", "run", str(path), cwd=work)
    assert code == 1, out + err
    assert "failed at step 3/5" in out and "exited with code 1" in out
    assert "Step 2 - Processing data" in out and "Step 4" not in out
    session_id = resume_command_in(out)

    text = path.read_text()
    assert "- shell: exit 1" in text
    path.write_text(text.replace("- shell: exit 1", '- shell: echo "Step 3 - fixed"'))
    code, out, err = prodigy("-v", "resume", session_id, cwd=work)
    assert code == 0, out + err
    for step in ("[3/5]", "[4/5]", "[5/5]", "Step 3 - fixed", "Step 4 - This should run on resume",
                 "Step 5 - Final step"):
        assert step in out
    for step in ("[1/5]", "[2/5]", "Step 1 - Starting workflow", "Step 2 - Processing data"):
        assert step not in out
    assert "3 of 5 step(s) in this run, 2 done before it" in out


@pytest.mark.skipif(not REAL.is_dir(), reason="the shared workflow files are not available")
def test_real_standard_workflow_yml(work: Path, prodigy) -> None:
    shutil.copy(REAL / "standard-workflow.yml", work / "standard-workflow.yml")
    (work / "a.rs").write_text("fn main() {}\n")
    (work / "b.rs").write_text("fn b() {}\n")
    (work / "README.md").write_text("# x\n")
    code, out, err = prodigy("-v", "run", "standard-workflow.yml", cwd=work)
    assert code == 0, out + err
    assert "Found 2 Rust files" in out  # xargs -I {} got its literal {}
    assert "README.md exists" in out and "Workflow complete" in out
    assert "7 of 7 step(s) in this run" in out


def test_python_module_entry_point(work: Path, write_workflow) -> None:
    import subprocess

    write_workflow("- shell: echo hi\n")
    proc = subprocess.run([sys.executable, "-m", "prodigy", "validate", "workflow.yml"], cwd=work,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "valid" in proc.stdout
