"""MapReduce workflows end to end through the installed CLI (issue 3)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import mr_support as mr
import pytest
from mr_support import run

import support
from prodigy.state.jobs import DLQ, SUCCEEDED

pytestmark = pytest.mark.e2e


def test_120_items_at_max_parallel_4_each_run_exactly_once(work: Path, marker: str, prodigy_home: Path) -> None:
    ledger = work / "ledger.txt"
    results = work / "results.json"
    mr.ledger_workflow(work, marker, ledger, count=120, max_parallel=4, reduce=f"""\
  - shell: echo "reduce ${{map.successful}}/${{map.total}} failed ${{map.failed}}" >> "{ledger}"
  - shell: printf '%s' ${{map.results}} > "{results}"
""")
    code, out, err = run("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work))
    assert code == 0, out + err
    lines = out.splitlines()
    session_id = support.session_id_from(out)
    assert lines[0].startswith("Session: ")
    job_line = next(i for i, line in enumerate(lines) if line.startswith("Job:"))
    assert not any(line.startswith(("Setup", "Map", "Reduce")) for line in lines[:job_line])
    job_id = mr.job_id_from(out)
    assert job_id.endswith(session_id)
    expected = {f"item_{i}" for i in range(120)}
    assert mr.starts(ledger) == {item: 1 for item in expected}
    assert mr.ends(ledger) == {item: 1 for item in expected}
    assert all(mr.attempts_of(ledger, item) == [1] for item in expected)
    assert 1 <= mr.max_concurrency(ledger) <= 4
    assert mr.ledger(ledger)[-1] == "reduce 120/120 failed 0"
    entries = json.loads(results.read_text())
    assert [e["item_id"] for e in entries] == [f"item_{i}" for i in range(120)]
    assert {e["status"] for e in entries} == {"succeeded"} and {e["exit_code"] for e in entries} == {0}
    state = mr.job_state(job_id)
    assert (state.item_count, state.count(SUCCEEDED), state.phase, state.status) == (120, 120, "done", "completed")
    record = mr.session_record(prodigy_home, session_id)
    assert (record["kind"], record["status"], record["job_id"]) == ("mapreduce", "completed", job_id)
    mapping = json.loads((prodigy_home / "state" / "mappings" / f"job-{job_id}.json").read_text())
    assert mapping["session_id"] == session_id


def test_filter_sort_offset_and_max_items_choose_the_items_and_their_order(work: Path) -> None:
    rows = [{"name": name, "score": score, "kind": kind} for name, score, kind in [
        ("a", 5, "bug"), ("b", 9, "bug"), ("c", 1, "bug"), ("d", 7, "doc"), ("e", 8, "bug"),
        ("f", 3, "bug"), ("g", 6, "bug"), ("h", 9, "doc"), ("i", 2, "bug"), ("j", 4, "bug")]]
    (work / "rows.json").write_text(json.dumps({"rows": rows}))
    ledger = work / "ledger.txt"
    support.write_workflow(work, f"""
        name: select
        mode: mapreduce
        map:
          input: rows.json
          json_path: "$.rows[*]"
          filter: "kind == 'bug' && score >= 3"
          sort_by: "score DESC"
          offset: 1
          max_items: 3
          max_parallel: 1
          agent_template:
            - shell: echo "${{item_id}} ${{item.name}} ${{item_index}}/${{item_total}}" >> "{ledger}"
        """)
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 0, out + err
    # bugs with score >= 3: a5 b9 e8 f3 g6 j4 -> by score desc: b e g a j f -> offset 1: e g a j -> max 3
    assert mr.ledger(ledger) == ["item_0 e 0/3", "item_1 g 1/3", "item_2 a 2/3"]
    frozen = (mr.job_folder(mr.job_id_from(out)) / "items.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in frozen] == ["e", "g", "a"]


def test_command_input_of_json_lines_and_of_plain_lines(work: Path) -> None:
    ledger = work / "ledger.log"
    support.write_workflow(work, f"""
        name: from-a-command
        mode: mapreduce
        map:
          input: "printf '{{\\"n\\": 1}}\\\\n{{\\"n\\": 2}}\\\\n'"
          agent_template:
            - shell: echo "json ${{item.n}}" >> "{ledger}"
        """, name="jsonl.yml")
    code, out, err = run("run", "jsonl.yml", "-y", cwd=work)
    assert code == 0, out + err
    assert sorted(mr.ledger(ledger)) == ["json 1", "json 2"]
    for name in ("b.txt", "a b.txt", "it's.txt"):
        (work / name).write_text("x")
    support.write_workflow(work, f"""
        name: plain-lines
        mode: mapreduce
        map:
          input: ls *.txt
          max_parallel: 1
          agent_template:
            - shell: echo "file ${{item}} $(cat ${{item}})" >> "{ledger}"
        """, name="lines.yml")
    code, out, err = run("run", "lines.yml", "-y", cwd=work)
    assert code == 0, out + err
    assert mr.ledger(ledger)[2:] == ["file a b.txt x", "file b.txt x", "file it's.txt x"]


def test_three_failing_items_go_to_the_dlq_and_reduce_still_runs(work: Path) -> None:
    ledger = work / "ledger.txt"
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(20)]))
    support.write_workflow(work, f"""
        name: some-fail
        mode: mapreduce
        map:
          input: items.json
          max_parallel: 4
          agent_template:
            - shell: |
                case ${{item.n}} in 3|7|11) echo "boom-${{item.n}}" >&2; exit 9;; esac
                echo "ok ${{item_id}}" >> "{ledger}"
        reduce:
          - shell: echo "reduce ${{map.successful}}/${{map.total}} failed ${{map.failed}}" >> "{ledger}"
        """)
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 3, out + err
    job_id = mr.job_id_from(out)
    assert "dead-letter queue" in out and f"prodigy resume-job {job_id} --force" in out
    assert mr.ledger(ledger)[-1] == "reduce 17/20 failed 3"
    state = mr.job_state(job_id)
    assert state.indexes(DLQ) == [3, 7, 11]
    assert state.count(SUCCEEDED) == 17
    by_item = {r["i"]: r for r in mr.journal(job_id) if r.get("t") == "done" and r.get("final") == "dlq"}
    assert sorted(by_item) == [3, 7, 11]
    for index, record in by_item.items():
        assert record["x"] == 9 and f"boom-{index}" in record["se"] and "exit" in record["err"]
    code, out, err = run("run", "workflow.yml", "-y", "--json", cwd=work)
    summary = json.loads(out)
    assert (code, summary["exit_code"], summary["items"]["dlq"], summary["status"]) == (
        3, 3, 3, "completed_with_failures")


def test_a_retry_succeeds_on_attempt_2(work: Path) -> None:
    ledger = work / "ledger.txt"
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(4)]))
    support.write_workflow(work, f"""
        name: flaky
        mode: mapreduce
        error_policy:
          retry:
            attempts: 2
        map:
          input: items.json
          agent_template:
            - shell: |
                echo "${{item_id}} attempt $PRODIGY_ATTEMPT" >> "{ledger}"
                test "$PRODIGY_ATTEMPT" -ge 2 || test ${{item.n}} -ge 2
        """)
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 0, out + err
    assert sorted(mr.ledger(ledger)) == ["item_0 attempt 1", "item_0 attempt 2", "item_1 attempt 1",
                                         "item_1 attempt 2", "item_2 attempt 1", "item_3 attempt 1"]
    state = mr.job_state(mr.job_id_from(out))
    assert [state.items[i].attempts for i in range(4)] == [2, 2, 1, 1]
    assert state.count(SUCCEEDED) == 4 and state.count(DLQ) == 0


def test_sigint_in_the_middle_of_the_map_phase(work: Path, marker: str, prodigy_home: Path,
                                               spawn_prodigy) -> None:
    ledger = work / "ledger.txt"
    mr.ledger_workflow(work, marker, ledger, count=12, max_parallel=3)
    (work / "hold").touch()
    proc = spawn_prodigy("run", "workflow.yml", "-y", cwd=work, env=mr.hold_env(work, limit=5))
    job_id = mr.wait_for_journal(lambda: mr.only_job_id(prodigy_home), 5)
    mr.wait_for_held(ledger, 5, 3)
    assert mr.marker_processes(marker)
    proc.send_signal(signal.SIGINT)
    code, out, err = support.finish(proc)
    assert code == 130, out + err
    session_id = support.session_id_from(out)
    assert "interrupted" in out and f"prodigy resume {session_id}" in out
    assert mr.session_record(prodigy_home, session_id)["status"] == "interrupted"
    finished = {f"item_{i}" for i in range(5)}
    assert set(mr.ends(ledger)) == finished
    assert mr.succeeded_in_journal(job_id) == set(range(5))
    interrupted = {r["i"] for r in mr.journal(job_id) if r.get("t") == "done" and r.get("s") == "interrupted"}
    assert interrupted == {5, 6, 7}
    assert not mr.marker_processes(marker)
    state = mr.job_state(job_id)
    assert state.status == "interrupted" and state.indexes("pending") == list(range(5, 12))


# ---------------------------------------------------------------- bad input


def simple_map(work: Path, map_lines: str, *, top: str = "", reduce: str = "") -> None:
    support.write_workflow(work, "name: bad-input\nmode: mapreduce\n" + top + "map:\n" + map_lines
                           + "  agent_template:\n    - shell: \"true\"\n" + reduce)


def test_a_missing_input_file(work: Path) -> None:
    """The job exists when the input is read: the failure is a summary that says how to continue, and --json
    still prints its object."""
    simple_map(work, "  input: missing.json\n")
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 2
    assert "Map input file not found" in out and str(work / "missing.json") in out
    session_id = support.session_id_from(out)
    assert out.rstrip().splitlines()[-1] == f"Resume with: prodigy resume {session_id}"
    assert mr.no_traceback(out + err)
    code, out, err = run("run", "workflow.yml", "-y", "--json", cwd=work)
    data = json.loads(out)
    assert code == 2 and data["exit_code"] == 2 and data["status"] == "failed"
    assert data["session_id"].startswith("session-") and "Map input file not found" in data["error"]
    assert data["next_command"] == f"prodigy resume {data['session_id']}"


def test_an_input_file_that_is_not_json(work: Path) -> None:
    (work / "items.json").write_text("{not: json,,")
    simple_map(work, "  input: items.json\n")
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 2 and "is not JSON" in out and mr.no_traceback(out + err)


def test_json_path_matching_nothing_says_so_and_reduce_still_runs(work: Path) -> None:
    (work / "data.json").write_text(json.dumps({"items": [1, 2]}))
    simple_map(work, "  input: data.json\n  json_path: \"$.nothing[*]\"\n",
               reduce=f"reduce:\n  - shell: echo \"reduce ${{map.total}}\" > \"{work / 'reduce.txt'}\"\n")
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 0, out + err
    assert "matched nothing" in out + err
    assert (work / "reduce.txt").read_text() == "reduce 0\n"


def test_string_items_render_as_the_string(work: Path) -> None:
    ledger = work / "ledger.txt"
    (work / "items.json").write_text(json.dumps(["plain", "with space", "it's \"quoted\"", "$(touch pwned)"]))
    support.write_workflow(work, f"""
        name: strings
        mode: mapreduce
        map:
          input: items.json
          max_parallel: 1
          agent_template:
            - shell: printf '%s|%s\\n' ${{item}} "$PRODIGY_ITEM_JSON" >> "{ledger}"
        """)
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 0, out + err
    assert mr.ledger(ledger) == ['plain|"plain"', 'with space|"with space"',
                                 'it\'s "quoted"|"it\'s \\"quoted\\""', '$(touch pwned)|"$(touch pwned)"']
    assert not (work / "pwned").exists()


@pytest.mark.parametrize(("map_lines", "expected"), [
    ("  input: items.json\n  filter: \"score >> 3\"\n", ["map.filter", "column 8", "^"]),
    ("  input: items.json\n  sort_by: \"score SIDEWAYS\"\n", ["map.sort_by", "column 7"]),
    ("  input: items.json\n  max_parallel: 0\n", ["map.max_parallel", "positive integer"]),
    ("  input: items.json\n  max_parallel: abc\n", ["map.max_parallel", "'abc'"]),
    ("  input: items.json\n  max_paralel: 3\n", ["map.max_paralel", "did you mean 'max_parallel'"]),
])
def test_invalid_map_settings_are_usage_errors(work: Path, map_lines: str, expected: list[str]) -> None:
    (work / "items.json").write_text("[]")
    simple_map(work, map_lines)
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 2, out + err
    for text in expected:
        assert text in err
    assert "workflow.yml:" in err and not out.startswith("Session:") and mr.no_traceback(out + err)


def test_an_unknown_top_level_key_is_a_usage_error_with_a_suggestion(work: Path) -> None:
    (work / "items.json").write_text("[]")
    simple_map(work, "  input: items.json\n", top="redcue: []\n")
    code, out, err = run("run", "workflow.yml", "-y", cwd=work)
    assert code == 2 and "redcue" in err and "did you mean 'reduce'" in err and mr.no_traceback(out + err)


def test_ten_thousand_items(work: Path) -> None:
    count = 10_000
    support.write_workflow(work, f"""
        name: many
        mode: mapreduce
        map:
          input: seq 1 {count}
          max_parallel: 8
          agent_template:
            - shell: "true"
        reduce:
          - shell: echo "${{map.successful}}/${{map.total}}" > "{work / 'reduce.txt'}"
        """)
    started = time.monotonic()
    code, out, err = run("run", "workflow.yml", "-y", cwd=work, timeout=120)
    elapsed = time.monotonic() - started
    assert code == 0, out[-2000:] + err
    assert (work / "reduce.txt").read_text() == f"{count}/{count}\n"
    assert mr.job_state(mr.job_id_from(out)).count(SUCCEEDED) == count
    assert len(out.splitlines()) < 200  # a large job prints progress lines, not one line per item
    assert elapsed < 60


def test_an_item_printing_invalid_utf8(work: Path) -> None:
    (work / "items.json").write_text(json.dumps([{"n": 1}, {"n": 2}]))
    support.write_workflow(work, """
        name: bytes
        mode: mapreduce
        map:
          input: items.json
          agent_template:
            - shell: printf 'ok \\377\\376 %s\\n' ${item.n}; printf '\\377 on stderr\\n' >&2
        reduce:
          - shell: printf '%s' '${map.results}' > results.json
        """)
    code, out, err = run("-v", "run", "workflow.yml", "-y", cwd=work)
    assert code == 0, out + err
    assert mr.no_traceback(out + err)
    outputs = {r["i"]: r["out"] for r in mr.journal(mr.job_id_from(out)) if r.get("t") == "done"}
    assert outputs == {0: "ok \ufffd\ufffd 1\n", 1: "ok \ufffd\ufffd 2\n"}
    results = json.loads((work / "results.json").read_text())
    assert [r["output"] for r in results] == ["ok \ufffd\ufffd 1\n", "ok \ufffd\ufffd 2\n"]
