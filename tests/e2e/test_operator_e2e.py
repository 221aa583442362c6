"""The operator commands end to end: the installed prodigy in subprocesses, against jobs it ran itself."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import support

pytestmark = pytest.mark.e2e

ITEMS = json.dumps([{"n": n, "ok": n % 2 == 1} for n in range(1, 5)])

DLQ_FLOW = """
name: e2e-dlq
mode: mapreduce
map:
  input: items.json
  json_path: "$[*]"
  agent_template:
    - shell: "test ${item.ok} = true || { echo broken ${item.n} >&2; exit 1; }"
  max_parallel: 2
reduce:
  - shell: echo ${map.successful} of ${map.total}
"""

TIMED_FLOW = """
name: e2e-timed
mode: mapreduce
map:
  input: items.json
  json_path: "$[*]"
  agent_template:
    - shell: "sleep SECONDS"
  max_parallel: 2
"""

Prodigy = Callable[..., tuple[int, str, str]]


def plain_env() -> dict[str, str]:
    return {"NO_COLOR": ""}  # colour allowed: a pipe must still get no escape codes


def record(home: Path, session_id: str) -> dict:
    return json.loads((home / "sessions" / f"{session_id}.json").read_text())


def test_dlq_job_listed_retried_after_a_fix_and_emptied(prodigy: Prodigy, work: Path, write_workflow,
                                                         prodigy_home: Path) -> None:
    (work / "items.json").write_text(ITEMS)
    write_workflow(DLQ_FLOW)
    code, out, err = prodigy("run", "workflow.yml", cwd=work)
    assert code == 3, (out, err)
    session = support.session_id_from(out)
    job = record(prodigy_home, session)["job_id"]

    code, out, _ = prodigy("dlq", "list", cwd=work, env=plain_env())
    assert code == 0 and "\x1b" not in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("item_")] == ["item_1", "item_3"]
    code, out, _ = prodigy("dlq", "show", job[:30], "item_3", cwd=work)
    assert code == 0 and "broken 4" in out and '"n": 4' in out

    write_workflow(DLQ_FLOW.replace("test ${item.ok} = true ||", "true ||"))  # fix the command
    code, out, err = prodigy("dlq", "retry", job, cwd=work)
    assert code == 0, (out, err)
    code, out, _ = prodigy("dlq", "list", job, cwd=work)
    assert code == 0 and "is empty" in out
    code, out, _ = prodigy("sessions", "show", session, "--json", cwd=work)
    detail = json.loads(out)
    assert detail["job"]["counts"] == {"total": 4, "successful": 4, "failed": 0, "dlq": 0, "pending": 0}
    assert detail["record"]["resumes"] == 1 and detail["next_command"] is None
    code, out, _ = prodigy("events", "stats", job, "--json", cwd=work)
    stats = json.loads(out)
    assert stats["items"]["succeeded"] == 4 and stats["items"]["success_rate"] == 100.0
    assert stats["resumes"]["outcomes"] == {"completed": 1}


def test_interrupted_job_seen_by_every_command(spawn_prodigy, prodigy: Prodigy, work: Path, write_workflow,
                                               prodigy_home: Path) -> None:
    (work / "items.json").write_text(ITEMS)
    write_workflow(TIMED_FLOW.replace("SECONDS", "30"))
    proc = spawn_prodigy("run", "workflow.yml", cwd=work)
    support.wait_for(lambda: support.started_items(prodigy_home) >= 2, what="two items running")
    proc.send_signal(signal.SIGINT)
    code, out, err = support.finish(proc)
    assert code == 130, (out, err)
    session = support.session_id_from(out)
    job = record(prodigy_home, session)["job_id"]

    code, out, _ = prodigy("sessions", "list", cwd=work, env=plain_env())
    assert code == 0 and "\x1b" not in out
    assert out.splitlines()[1].split()[:5] == [session, "mapreduce", "e2e-timed", "interrupted", "0/4"]
    code, out, _ = prodigy("sessions", "show", session[:13], cwd=work)
    assert f"Next: prodigy resume {session}" in out
    code, out, _ = prodigy("events", "ls", job, "--type", "job_interrupted", "--json", cwd=work)
    assert [e["signal"] for e in json.loads(out)["events"]] == ["SIGINT"]
    code, out, _ = prodigy("checkpoints", "validate", job, cwd=work)
    assert code == 0 and "state is valid" in out
    code, out, _ = prodigy("dlq", "list", cwd=work)
    assert code == 0 and "No items in any dead-letter queue." in out

    before = sorted(str(p) for p in prodigy_home.rglob("*"))
    code, out, err = prodigy("sessions", "clean", "--older-than", "0", "--status", "interrupted", "--dry-run",
                             cwd=work)
    assert code == 0, err
    assert session in out and "Dry run: nothing was removed." in out
    assert sorted(str(p) for p in prodigy_home.rglob("*")) == before
    code, _, err = prodigy("sessions", "clean", "--older-than", "0", "--status", "interrupted", cwd=work)
    assert code == 2 and "Refusing" in err  # no terminal, no -y
    assert sorted(str(p) for p in prodigy_home.rglob("*")) == before


def test_events_follow_ends_when_the_job_ends(spawn_prodigy, work: Path, write_workflow,
                                              prodigy_home: Path) -> None:
    (work / "items.json").write_text(ITEMS)
    write_workflow(TIMED_FLOW.replace("SECONDS", "0.8"))
    run = spawn_prodigy("run", "workflow.yml", cwd=work)

    def job_id() -> str | None:
        for path in prodigy_home.glob("sessions/*.json"):
            return json.loads(path.read_text()).get("job_id")
        return None

    job = support.wait_for(job_id, what="the job to be created")
    follower = spawn_prodigy("events", "follow", str(job)[:40], cwd=work)
    time.sleep(0.5)
    if run.poll() is None:
        assert follower.poll() is None, "follow ended while the job was still running"
    code, out, err = support.finish(run)
    assert code == 0, (out, err)
    ended = time.monotonic()
    code, out, err = support.finish(follower, timeout=10)
    assert code == 0, err
    assert time.monotonic() - ended < 3, "follow kept running after the job ended"
    events = [line.split()[2] for line in out.splitlines()]
    assert events[0] == "job_started" and events[-1] == "job_finished"
    assert events.count("item_completed") == 4
