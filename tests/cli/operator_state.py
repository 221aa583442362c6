"""State for the operator command tests, produced by REAL runs of the installed prodigy: a MapReduce job with
items in its DLQ, one interrupted with SIGINT, one completed, and a failed standard session.

The runs happen once per test session (in their own PRODIGY_HOME); each test gets a private copy of that
home, so tests may mutate it freely."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

import support

ITEMS = [{"n": 1, "ok": True, "tag": "a"}, {"n": 2, "ok": False, "tag": "b"},
         {"n": 3, "ok": True, "tag": "a"}, {"n": 4, "ok": False, "tag": "c"}]

DLQ_WORKFLOW = """
name: dlq-job
mode: mapreduce
map:
  input: items.json
  json_path: "$[*]"
  agent_template:
    - shell: "test ${item.ok} = true || { echo bad item ${item.n} >&2; exit 1; }"
  max_parallel: 2
reduce:
  - shell: echo ${map.successful}
"""

SLOW_WORKFLOW = """
name: slow-job
mode: mapreduce
map:
  input: items.json
  json_path: "$[*]"
  agent_template:
    - shell: "sleep 30"
  max_parallel: 2
"""

OK_WORKFLOW = """
name: ok-job
mode: mapreduce
map:
  input: items.json
  json_path: "$[*]"
  agent_template:
    - shell: "echo item ${item.n}"
  max_parallel: 4
reduce:
  - shell: echo ${map.successful}
"""

STANDARD_WORKFLOW = """
name: std-job
commands:
  - shell: echo one
  - shell: exit 3
"""


@dataclass(frozen=True)
class Built:
    home: Path  # the PRODIGY_HOME the runs wrote
    work: Path  # their run directory (workflow files and items.json)
    dlq_session: str
    dlq_job: str
    interrupted_session: str
    interrupted_job: str
    completed_session: str
    completed_job: str
    standard_session: str


_BUILT: Built | None = None


def env_for(home: Path) -> dict[str, str]:
    return {"PRODIGY_HOME": str(home), "HOME": str(home.parent), "NO_COLOR": "1"}


def write_items(work: Path, items: list[dict] | None = None) -> None:
    (work / "items.json").write_text(json.dumps(items or ITEMS), encoding="utf-8")


def run_workflow(work: Path, home: Path, text: str, name: str) -> tuple[int, str, str]:
    support.write_workflow(work, text, name)
    return support.run_prodigy("run", name, cwd=work, env=env_for(home))


def session_record(home: Path, session_id: str) -> dict:
    return json.loads((home / "sessions" / f"{session_id}.json").read_text())


def job_folder(home: Path, job_id: str) -> Path:
    return next((home / "state").glob(f"*/mapreduce/jobs/{job_id}"))


def events_file(home: Path, job_id: str) -> Path:
    return next((home / "events").glob(f"*/{job_id}/events.jsonl"))


def run_interrupted(work: Path, home: Path) -> str:
    """Start the slow job, wait until items are running, SIGINT it; returns the session id."""
    support.write_workflow(work, SLOW_WORKFLOW, "slow.yml")
    proc = support.spawn_prodigy("run", "slow.yml", cwd=work, env=env_for(home))
    try:
        def started() -> bool:
            journals = list((home / "state").glob("*/mapreduce/jobs/*/journal.jsonl"))
            return any(sum(r.get("t") == "start" for r in support.journal_records(j)) >= 2 for j in journals
                       if "slow" in (j.parent / "job.json").read_text())
        support.wait_for(started, timeout=20, what="two slow items running")
        proc.send_signal(signal.SIGINT)
        code, out, err = support.finish(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, (out, err)
    return support.session_id_from(out)


def build(base: Path) -> Built:
    """The real runs, once per test session."""
    global _BUILT
    if _BUILT is not None:
        return _BUILT
    home, work = base / "prodigy-home", base / "work"
    work.mkdir(parents=True)
    write_items(work)
    code, out, err = run_workflow(work, home, DLQ_WORKFLOW, "dlq.yml")
    assert code == 3, (out, err)
    dlq_session = support.session_id_from(out)
    time.sleep(0.01)
    interrupted_session = run_interrupted(work, home)
    time.sleep(0.01)
    code, out, err = run_workflow(work, home, OK_WORKFLOW, "ok.yml")
    assert code == 0, (out, err)
    completed_session = support.session_id_from(out)
    time.sleep(0.01)
    code, out, err = run_workflow(work, home, STANDARD_WORKFLOW, "std.yml")
    assert code == 1, (out, err)
    standard_session = support.session_id_from(out)
    _BUILT = Built(
        home=home, work=work, dlq_session=dlq_session, dlq_job=session_record(home, dlq_session)["job_id"],
        interrupted_session=interrupted_session,
        interrupted_job=session_record(home, interrupted_session)["job_id"],
        completed_session=completed_session, completed_job=session_record(home, completed_session)["job_id"],
        standard_session=standard_session,
    )
    return _BUILT


def install(built: Built, prodigy_home: Path) -> Built:
    """A private copy of the built state in this test's PRODIGY_HOME."""
    shutil.copytree(built.home, prodigy_home, dirs_exist_ok=True)
    return Built(**{**built.__dict__, "home": prodigy_home})


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process through its one error handler: (exit code, stdout, stderr)."""
    from prodigy.cli import cli
    from prodigy.cli.errors import run_cli

    runner = CliRunner()
    with runner.isolation(input=stdin) as (out, err, _mixed):
        code = run_cli(cli, list(args))
        sys.stdout.flush()
        sys.stderr.flush()
    return code, out.getvalue().decode(), err.getvalue().decode()


def json_of(*args: str) -> dict:
    code, out, err = invoke(*args, "--json")
    assert code == 0, (code, out, err)
    return json.loads(out)


def tree(folder: Path) -> dict[str, int]:
    """Every file under folder with its size: a cheap fingerprint to prove nothing changed."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}
