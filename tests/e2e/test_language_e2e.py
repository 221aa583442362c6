"""The workflow language's documented features, each through the installed CLI with a small workflow written
from the original's own book examples (issue 15). Each test asserts what ran (a ledger), what the variables
held, and where it matters, what a resume after a kill ran again."""

from __future__ import annotations

import json
from pathlib import Path

import mr_support as mr
import pytest
from mr_support import run

import support

pytestmark = pytest.mark.e2e


def test_filter_words_functions_and_multi_key_sort(work: Path) -> None:
    # Items and expressions from docs/mapreduce/work-distribution/filtering-sorting.md.
    rows = [
        {"id": 1, "severity": "high", "priority": 7, "score": 60, "path": "src/a.rs", "tags": ["x"]},
        {"id": 2, "severity": "critical", "priority": 9, "score": "88", "path": "src/b.rs", "tags": []},
        {"id": 3, "severity": "high", "priority": 7, "score": 75, "path": "docs/c.md", "tags": ["y"]},
        {"id": 4, "severity": "low", "priority": 2, "score": 99, "path": "src/d.rs"},
        {"id": 5, "severity": "critical", "priority": 9, "score": 51, "path": "src/e.rs", "tags": ["z"]},
        {"id": 6, "severity": "high", "priority": 3, "score": None, "path": "src/f.rs"},
    ]
    (work / "items.json").write_text(json.dumps({"items": rows}))
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        name: filter-sort
        mode: mapreduce
        map:
          input: items.json
          json_path: "$.items[*]"
          filter: "severity in ['high', 'critical'] AND (is_number(score) OR is_null(score)) AND NOT ends_with(path, '.md')"
          sort_by: "priority DESC, score ASC NULLS FIRST"
          max_parallel: 1
          agent_template:
            - shell: echo "${{item.id}}" >> "{ledger}"
        """)
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 0, out + err
    # kept: 1 (p7, 60), 5 (p9, 51), 6 (p3, null); 2 has a string score, 3 is .md, 4 is low
    assert mr.ledger(ledger) == ["5", "1", "6"]


def test_when_with_the_whole_condition_inside_braces_and_word_operators(work: Path) -> None:
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        - shell: "exit 3"
          capture: unit
          on_failure: "true"
        - shell: "true"
          capture: fmt
        - shell: echo "analyze unit" >> "{ledger}"
          when: "${{unit.exit_code != 0}}"
        - shell: echo "build" >> "{ledger}"
          when: "${{unit.exit_code == 0 && fmt.exit_code == 0}}"
        - shell: echo "either" >> "{ledger}"
          when: "${{unit.success}} OR ${{fmt.success}}"
        """)
    code, out, err = run("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 0, out + err
    assert mr.ledger(ledger) == ["analyze unit", "either"]


def _count(ledger: Path, line: str) -> int:
    return support.ledger_lines(ledger).count(line)


def test_foreach_list_command_parallel_and_variables(work: Path) -> None:
    # book/src/advanced/parallel-iteration-with-foreach.md, "Example with Variables" and "Dynamic Item Lists".
    ledger = work / "ledger.txt"
    for name in ("b.rs", "a.rs", "c.txt"):
        (work / name).write_text("x")
    support.write_workflow(work, f"""
        - foreach:
            foreach: ["test1.rs", "test2.rs", "test3.rs"]
            do:
              - shell: echo "Processing ${{item}} (${{index}}/${{total}})" >> "{ledger}"
        - foreach:
            foreach: "ls *.rs"
            parallel: 2
            do:
              - shell: echo "rs ${{item}}" >> "{ledger}"
        - foreach:
            foreach: ["one", "two", "three"]
            max_items: 2
            continue_on_error: true
            do:
              - shell: test "${{item}}" != one && echo "kept ${{item}}" >> "{ledger}"
        - shell: echo "after ${{foreach.successful}}/${{foreach.total}} failed ${{foreach.failed}}" >> "{ledger}"
        """)
    code, out, err = run("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 0, out + err
    lines = mr.ledger(ledger)
    assert lines[:3] == ["Processing test1.rs (0/3)", "Processing test2.rs (1/3)", "Processing test3.rs (2/3)"]
    assert sorted(lines[3:5]) == ["rs a.rs", "rs b.rs"]
    assert lines[5:] == ["kept two", "after 1/2 failed 1"]


def test_foreach_failure_stops_without_continue_on_error(work: Path) -> None:
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        - foreach:
            foreach: [a, b, c]
            do:
              - shell: echo "${{item}}" >> "{ledger}" && test "${{item}}" != b
        - shell: echo never >> "{ledger}"
        """)
    code, out, err = run("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 1, out + err
    assert mr.ledger(ledger) == ["a", "b"]
    assert "foreach item 1 ('b') failed" in out


def test_foreach_resumes_at_the_iteration_that_stopped(work: Path, spawn_prodigy) -> None:
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        - shell: echo setup >> "{ledger}"
        - foreach:
            foreach: "printf 'a\\\\nb\\\\nc\\\\nd\\\\n'"
            do:
              - shell: |
                  echo "start ${{item}}" >> "{ledger}"
                  if [ "${{item}}" = c ]; then while [ ! -e "{work}/go" ]; do sleep 0.05; done; fi
                  echo "end ${{item}}" >> "{ledger}"
        - shell: echo after >> "{ledger}"
        """)
    first = spawn_prodigy("run", "workflow.yml", "--no-worktree", cwd=work, env={"PYTHONUNBUFFERED": "1"})
    support.wait_for_line(ledger, "start c")
    first.kill()
    _code, out, _err = support.finish(first)
    session_id = support.session_id_from(out)
    resume = spawn_prodigy("resume", session_id, cwd=work, env={"PYTHONUNBUFFERED": "1"})
    support.wait_for(lambda: _count(ledger, "start c") == 2, what="item c to start again")
    (work / "go").touch()
    code, out, err = support.finish(resume)
    assert code == 0, out + err
    assert "from step 2/3" in out and "Ended 1 command(s) still running" in out
    assert mr.ledger(ledger) == ["setup", "start a", "end a", "start b", "end b", "start c",
                                 "start c", "end c", "start d", "end d", "after"]


VALIDATOR = """\
if [ -e "{work}/fixed2" ]; then echo '{{"completion_percentage": 100}}';
elif [ -e "{work}/fixed1" ]; then echo '{{"completion_percentage": 70, "missing": ["docs"], "gaps": {{"docs": "none"}}}}';
else echo '{{"completion_percentage": 40, "missing": ["tests", "docs"], "gaps": {{"tests": "none"}}}}'; fi
"""


def test_validate_with_on_incomplete_loops_until_the_threshold(work: Path, fake_claude: Path) -> None:
    # book/src/advanced/implementation-validation.md: a claude step, a shell validator, claude on_incomplete.
    (work / "validate.sh").write_text(VALIDATOR.format(work=work))
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        - claude: "/implement-spec 42"
          validate:
            shell: sh validate.sh
            threshold: 100
            on_incomplete:
              commands:
                - claude: "/prodigy-complete-spec 42 --gaps ${{validation.gaps}} at ${{validation.completion}}"
                - shell: |
                    echo "round ${{validation.completion}} missing=${{validation.missing_count}}" >> "{ledger}"
                    if [ -e fixed1 ]; then touch fixed2; else touch fixed1; fi
              max_attempts: 3
        - shell: echo "final ${{validation.completion}} ${{validation.status}}" >> "{ledger}"
        """)
    code, out, err = run("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 0, out + err
    assert mr.ledger(ledger) == ["round 40.0 missing=2", "round 70.0 missing=1", "final 100.0 complete"]
    prompts = [argv[-1] for argv in support.read_ledger_json(fake_claude)]
    assert prompts == ["/implement-spec 42", '/prodigy-complete-spec 42 --gaps {"tests":"none"} at 40.0',
                       '/prodigy-complete-spec 42 --gaps {"docs":"none"} at 70.0']


def test_validate_below_threshold_fails_the_step_after_max_attempts(work: Path) -> None:
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        - shell: "true"
          validate:
            shell: |
              echo '{{"completion_percentage": 20, "missing": ["all"]}}'
            threshold: 90
            on_incomplete:
              shell: echo fix >> "{ledger}"
        - shell: echo never >> "{ledger}"
        """)
    code, out, err = run("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 1, out + err
    assert mr.ledger(ledger) == ["fix", "fix"]  # max_attempts defaults to 2
    assert "validation incomplete after 2 on_incomplete attempt(s): 20% < threshold 90% (missing: all)" in out


def test_a_validation_loop_resumes_where_it_stopped(work: Path, spawn_prodigy) -> None:
    (work / "validate.sh").write_text(VALIDATOR.format(work=work))
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        - shell: echo implement >> "{ledger}"
          validate:
            shell: sh validate.sh
            on_incomplete:
              shell: |
                echo "fix at ${{validation.completion}}" >> "{ledger}"
                if [ -e fixed1 ]; then
                  while [ ! -e go ]; do sleep 0.05; done
                  touch fixed2
                else touch fixed1; fi
              max_attempts: 3
        """)
    first = spawn_prodigy("run", "workflow.yml", "--no-worktree", cwd=work, env={"PYTHONUNBUFFERED": "1"})
    support.wait_for_line(ledger, "fix at 70.0")
    first.kill()
    _code, out, _err = support.finish(first)
    resume = spawn_prodigy("resume", support.session_id_from(out), cwd=work, env={"PYTHONUNBUFFERED": "1"})
    support.wait_for(lambda: _count(ledger, "fix at 70.0") == 2, what="the round to start again")
    (work / "go").touch()
    code, out, err = support.finish(resume)
    assert code == 0, out + err
    # The command and the first round are not run again; the round in flight at the kill is.
    assert mr.ledger(ledger) == ["implement", "fix at 40.0", "fix at 70.0", "fix at 70.0"]


def test_git_context_ids_outputs_and_analyze_in_a_repository(git_repo: Path) -> None:
    # book/src/variables/available-variables.md (git context, format modifiers), step-identification.md,
    # and the analyze step of the original's workflows/analysis-workflow.yml.
    (git_repo / "src").mkdir()
    (git_repo / "src" / "app.py").write_text("# TODO: more\nprint(1)\n")
    subprocess_git(git_repo, "add", "-A")
    subprocess_git(git_repo, "commit", "-qm", "code")
    ledger = git_repo.parent / "ledger.txt"
    support.write_workflow(git_repo, f"""
        - analyze:
            max_cache_age: 300
            save: true
            format: summary
        - shell: echo "analysis ${{analysis.files}} ${{analysis.primary_language}} todo=${{analysis.todo}}" >> "{ledger}"
        - shell: |
            mkdir -p specs && echo one > specs/01-a.md && echo x > notes.txt
            git add specs notes.txt && git commit -qm "add spec"
          id: add-spec
          outputs:
            spec:
              file_pattern: "specs/*.md"
        - shell: |
            echo "added ${{step.files_added}}" >> "{ledger}"
            echo "md ${{step.files_added:specs/*.md}} json ${{step.files_added:json}}" >> "{ledger}"
            echo "commits ${{step.commit_count}} spec ${{add-spec.spec}} exit ${{add-spec.exit_code}}" >> "{ledger}"
        - shell: echo "workflow ${{workflow.commit_count}} ${{workflow.files_added:csv}}" >> "{ledger}"
        """, name="wf.yml")
    subprocess_git(git_repo, "add", "wf.yml")
    subprocess_git(git_repo, "commit", "-qm", "workflow")
    code, out, err = run("run", "wf.yml", "-y", cwd=git_repo)
    assert code == 0, out + err
    lines = mr.ledger(ledger)
    assert lines[0].startswith("analysis ") and lines[0].endswith(" Python todo=1"), lines
    assert lines[1:] == ["added notes.txt specs/01-a.md", 'md specs/01-a.md json ["notes.txt", "specs/01-a.md"]',
                         "commits 1 spec specs/01-a.md exit 0",
                         "workflow 1 .prodigy/context/analysis.json,notes.txt,specs/01-a.md"]


def subprocess_git(repo: Path, *args: str) -> None:
    import subprocess

    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_step_keys_allow_failure_capture_streams_retry_and_output_file(work: Path) -> None:
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        - shell: cargo-like-test; exit 3
          capture: tests_passed
          capture_format: boolean
          allow_failure: true
        - shell: echo "passed=${{tests_passed}} success=${{tests_passed.success}} exit=${{last.exit_code}}" >> "{ledger}"
        - shell: echo out; echo err >&2
          capture_output: build
          capture_streams:
            stdout: true
            stderr: true
        - shell: echo "build=${{build}} exit=${{build.exit_code}} stderr=${{shell.stderr}}" | tr '\\n' ' ' >> "{ledger}"
        - shell: echo >> "{ledger}"
        - shell: |
            n=$(cat n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > n
            echo "attempt $n" >> "{ledger}"; [ $n -ge 3 ]
          retry_config:
            attempts: 5
            backoff: fixed
            initial_delay: 0.05
        - shell: echo report
          output_file: reports/out.txt
        - test:
            command: "test -e reports/out.txt"
        """)
    code, out, err = run("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 0, out + err
    assert mr.ledger(ledger) == ["passed=false success=false exit=3", "build=out err exit=0 stderr=err ",
                                 "attempt 1", "attempt 2", "attempt 3"]
    assert (work / "reports" / "out.txt").read_text() == "report\n"


def test_validate_reports_unresolvable_references_and_run_never_sends_one_to_the_agent(
        work: Path, fake_claude: Path) -> None:
    support.write_workflow(work, """
        - shell: echo ok
          id: build
        - claude: "/review ${build.outptu}"
        """)
    code, out, err = run("validate", "workflow.yml", cwd=work)
    assert code == 2, out + err
    assert "workflow.yml:3: commands[1].claude: ${build.outptu} can never resolve: step id 'build' has no output " \
           "'outptu'" in out
    support.write_workflow(work, """
        - claude: "/review ${NOT_SET_ANYWHERE} ${HOME}"
        """)
    code, out, err = run("validate", "workflow.yml", cwd=work)
    assert code == 0 and "warning" in out and "${NOT_SET_ANYWHERE} is not set by the workflow" in out, out
    code, out, err = run("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 1, out + err
    assert "the prompt refers to ${NOT_SET_ANYWHERE}, which has no value here; the agent was not started" in out
    assert support.read_ledger_json(fake_claude) == []


@pytest.mark.parametrize(("policy", "blocks"), [
    ("error_collection: aggregate", ["Failed items (3):"]),
    ("error_collection: batched:2", ["2 item(s) failed:", "1 item(s) failed:"]),
    ("error_policy:\n  error_collection:\n    batched: {size: 3}", ["3 item(s) failed:"]),
    ("error_collection: immediate", []),
])
def test_error_collection_reports_failed_items_as_the_book_says(work: Path, policy: str, blocks: list[str]) -> None:
    support.write_workflow(work, "name: ec\nmode: mapreduce\n" + policy + """
map:
  input: "printf '1\\\\n2\\\\n3\\\\n4\\\\n5\\\\n'"
  max_parallel: 1
  agent_template:
    - shell: "test ${item} -le 2"
""")
    code, out, err = run("run", "workflow.yml", "--no-worktree", cwd=work)
    assert code == 3, out + err  # failed items are in the DLQ
    headings = [line for line in out.splitlines() if "failed:" in line or line.startswith("Failed items")]
    assert headings == blocks, out
    assert out.count("  item_4: shell command exited with code 1") == (1 if blocks else 0)
