"""`prodigy run --args/--map/-n/--dry-run` in process: arguments, messages, sessions and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from prodigy.state import sessions

LEDGER_STEP = '- shell: echo "ARG=$ARG FILE=${FILE:-} PATH=${FILE_PATH:-} ITER=${ITERATION:-}" >> ledger\n'


def _ledger(work: Path) -> list[str]:
    path = work / "ledger"
    return path.read_text().splitlines() if path.exists() else []


def test_args_run_one_session_per_value(invoke, work: Path, write_workflow) -> None:
    write_workflow(LEDGER_STEP)
    code, out, err = invoke("run", str(work / "workflow.yml"), "-p", str(work), "--args", "41", "--args", "42", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [r["input"] for r in data["runs"]] == ["ARG=41", "ARG=42"]
    assert [r["status"] for r in data["runs"]] == ["completed", "completed"] and data["exit_code"] == 0
    assert _ledger(work) == ["ARG=41 FILE= PATH= ITER=", "ARG=42 FILE= PATH= ITER="]
    ids = [r["session_id"] for r in data["runs"]]
    assert len(set(ids)) == 2
    record = sessions.load(ids[1])
    assert record.extra["inputs"] == {"label": "ARG=42",
                                      "variables": {"ARG": "42", "ARG_1": "42", "PRODIGY_ARG": "42"}}


def test_the_summary_lists_every_run_and_how_to_resume_a_failed_one(invoke, work: Path, write_workflow) -> None:
    write_workflow('- shell: test "$ARG" != bad\n')
    code, out, _ = invoke("run", str(work / "workflow.yml"), "-p", str(work), "--args", "bad", "--args", "good")
    assert code == 1
    assert "2 run(s): 1 failed, 1 completed" in out
    failed = [r for r in sessions.load_all()[0] if r.status == "failed"]
    assert len(failed) == 1 and f"Resume ARG=bad with: prodigy resume {failed[0].id}" in out


def test_fail_fast_stops_at_the_first_failed_run(invoke, work: Path, write_workflow) -> None:
    write_workflow('- shell: test "$ARG" != bad\n')
    code, out, _ = invoke("run", str(work / "workflow.yml"), "-p", str(work), "--args", "bad", "--args", "good",
                          "--fail-fast")
    assert code == 1 and "Not run (--fail-fast): ARG=good" in out
    assert len(sessions.all_ids()) == 1


def test_map_runs_once_per_file_with_arg_file_and_path(invoke, work: Path, write_workflow) -> None:
    write_workflow(LEDGER_STEP)
    (work / "specs").mkdir()
    for name in ("65-foo.md", "66-bar.md", "7.md"):
        (work / "specs" / name).write_text("spec\n")
    code, out, err = invoke("run", str(work / "workflow.yml"), "-p", str(work), "--map", "specs/*.md")
    assert code == 0, err
    assert _ledger(work) == ["ARG=65 FILE=65-foo.md PATH=specs/65-foo.md ITER=",
                             "ARG=66 FILE=66-bar.md PATH=specs/66-bar.md ITER=",
                             "ARG=7 FILE=7.md PATH=specs/7.md ITER="]
    assert "3 run(s): 3 completed" in out


def test_map_with_no_match_creates_nothing(invoke, work: Path, write_workflow) -> None:
    write_workflow(LEDGER_STEP)
    code, _, err = invoke("run", str(work / "workflow.yml"), "-p", str(work), "--map", "specs/*.md")
    assert code == 2 and "--map 'specs/*.md' matches no file" in err
    assert sessions.all_ids() == []


def test_dry_run_prints_steps_and_creates_nothing(invoke, work: Path, write_workflow, prodigy_home: Path) -> None:
    write_workflow("""
        env: {WHO: world}
        commands:
          - shell: echo hello $WHO $ARG > out.txt
          - claude: "/review ${ARG} ${shell.output}"
    """)
    code, out, err = invoke("run", str(work / "workflow.yml"), "-p", str(work), "--args", "7", "--dry-run")
    assert code == 0, err
    assert "[DRY RUN] Would execute: shell: echo hello 'world' '7' > out.txt" in out
    assert "[DRY RUN] Would execute: claude: /review 7 ${shell.output}" in out
    assert "resolved when it runs: ${shell.output}" in out
    assert not (work / "out.txt").exists() and not prodigy_home.exists()


def test_dry_run_json(invoke, work: Path, write_workflow, prodigy_home: Path) -> None:
    write_workflow("- shell: echo $ARG\n")
    code, out, _ = invoke("run", str(work / "workflow.yml"), "-p", str(work), "--args", "1", "--args", "2", "--dry-run",
                          "--json")
    data = json.loads(out)
    assert code == 0 and data["dry_run"] is True
    assert [r["phases"][0]["steps"][0]["text"] for r in data["runs"]] == ["echo '1'", "echo '2'"]
    assert not prodigy_home.exists()


def test_iterations_of_a_mapreduce_workflow_are_refused(invoke, work: Path, write_workflow) -> None:
    write_workflow("""
        mode: mapreduce
        name: mr
        map:
          input: items.json
          agent_template:
            - shell: echo ${item}
    """)
    code, _, err = invoke("run", str(work / "workflow.yml"), "-p", str(work), "-n", "3")
    assert code == 2 and "repeats a standard workflow" in err
    assert invoke("run", str(work / "workflow.yml"), "-p", str(work), "-n", "0")[0] == 2


def test_iterations_without_git_run_all_of_them(invoke, work: Path, write_workflow) -> None:
    write_workflow(LEDGER_STEP)
    code, out, _ = invoke("run", str(work / "workflow.yml"), "-p", str(work), "-n", "3")
    assert code == 0
    assert _ledger(work) == ["ARG= FILE= PATH= ITER=1", "ARG= FILE= PATH= ITER=2", "ARG= FILE= PATH= ITER=3"]


def test_resume_of_an_args_run_gets_its_arg_back(invoke, work: Path, write_workflow) -> None:
    write_workflow("""
        - shell: test -f fixed
        - shell: echo "resumed ARG=$ARG" >> ledger
    """)
    code, out, _ = invoke("run", str(work / "workflow.yml"), "-p", str(work), "--args", "99")
    assert code == 1
    (session_id,) = sessions.all_ids()
    (work / "fixed").touch()
    code, out, err = invoke("resume", session_id)
    assert code == 0, err
    assert _ledger(work) == ["resumed ARG=99"]
