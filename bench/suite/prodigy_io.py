"""Prodigy's side of the benchmarks: writing workflows, finding the session and job, reading the journal,
counting the DLQ, and fabricating a large job through prodigy's own JobStore."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from suite.common import BenchError, Context, prodigy_argv


def write_workflow(folder: Path, n: int, command: str, max_parallel: int, *, extra: str = "",
                   name: str = "bench") -> Path:
    """items.json (0..n-1) and wf.yml running `command` per item; returns the workflow path."""
    (folder / "items.json").write_text(json.dumps(list(range(n))))
    workflow = folder / "wf.yml"
    # A JSON string is a valid YAML double-quoted scalar.
    workflow.write_text(f"name: {name}\nmode: mapreduce\n{extra}map:\n  input: items.json\n"
                        f"  max_parallel: {max_parallel}\n  agent_template:\n"
                        f"    - shell: {json.dumps(command)}\nreduce: []\n")
    return workflow


def write_inputs(folder: Path, n: int) -> Path:
    """The same work list for GNU parallel and xargs: one index per line."""
    path = folder / "items.txt"
    path.write_text("".join(f"{i}\n" for i in range(n)))
    return path


def run_argv(workflow: Path) -> list[str]:
    return [*prodigy_argv(), "run", str(workflow)]


def resume_argv(session_id: str) -> list[str]:
    return [*prodigy_argv(), "resume", session_id]


def job_folder(home: Path) -> Path:
    folders = list((home / "state").glob("*/mapreduce/jobs/*"))
    if len(folders) != 1:
        raise BenchError(f"expected one job folder under {home}/state, found {len(folders)}")
    return folders[0]


def session_id(home: Path) -> str:
    records = list((home / "sessions").glob("*.json"))
    if len(records) != 1:
        raise BenchError(f"expected one session under {home}/sessions, found {len(records)}")
    return records[0].stem


def job_id(home: Path) -> str:
    return job_folder(home).name


class JournalTail:
    """Reads a job journal incrementally (polling while a run is going)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self.succeeded: set[int] = set()
        self.records = 0
        self.frozen = False

    def poll(self) -> JournalTail:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return self
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            record = as_record(json.loads(line))
            self.records += 1
            if record.get("t") == "done" and record.get("s", "succeeded") == "succeeded":
                self.succeeded.add(int(record["i"]))
            elif record.get("t") == "items_frozen":
                self.frozen = True
        return self


def as_record(value: object) -> dict:
    """A journal line as its record (prodigy's reading: a compact start row is a start record); {} if none."""
    from prodigy.state.records import as_record as record_of

    return record_of(value) or {}


def succeeded_in_journal(home: Path) -> set[int]:
    return JournalTail(job_folder(home) / "journal.jsonl").poll().succeeded


def dlq_count(ctx: Context, home: Path, cwd: Path) -> tuple[int, str]:
    """Items in the DLQ: `prodigy dlq list --json` when the command exists, else the journal's fold."""
    job = job_id(home)
    try:
        done = subprocess.run([*prodigy_argv(), "dlq", "list", job, "--json"], cwd=cwd, env=ctx.env(home),
                              capture_output=True, timeout=60, check=False)
        if done.returncode == 0:
            data = json.loads(done.stdout)
            jobs = data.get("jobs", [data]) if isinstance(data, dict) else []
            return sum(int(j.get("dlq_count", len(j.get("items", [])))) for j in jobs), "prodigy dlq list --json"
    except (subprocess.TimeoutExpired, ValueError, AttributeError):
        pass
    from prodigy.state.jobs import DLQ, JobStore

    return JobStore(job_folder(home)).load_state().count(DLQ), "JobStore.load_state()"


def fabricate_done(home: Path, n: int, leave: int, in_flight: int) -> None:
    """Complete items 0..n-leave-1 in a real (killed) job through JobStore.append, as the coordinator would.

    The records have the shape the coordinator writes (start with its process, done); the checkpoint is written where a
    crashed run would have left it (a little before the journal's end), and `in_flight` of the remaining
    items are left started with a dead process, as after a kill -9.
    """
    from prodigy.state.jobs import SUCCEEDED, JobStore  # the bench never writes prodigy state by hand

    dead = subprocess.Popen(["true"])
    dead.wait()
    store = JobStore(job_folder(home))
    state = store.load_state()
    first_left = n - leave
    snapshot_at = max(0, first_left - 500)
    for index in range(first_left):
        if index == snapshot_at:
            store.maybe_snapshot(force=True)
        if state.status_of(index) == SUCCEEDED:
            continue
        attempt = state.item(index).attempts + 1
        extra = {"a": attempt} if attempt != 1 else {}  # the coordinator leaves out attempt 1, status and exit 0
        store.append({"t": "start", "i": index, **extra, "pid": dead.pid, "st": round(time.time(), 2)},
                     sync=False, stamp=False)
        store.append({"t": "done", "i": index, **extra, "d": 0.004}, sync=False)
    for index in range(first_left, first_left + in_flight):
        store.append({"t": "start", "i": index, "pid": dead.pid, "st": round(time.time(), 2)},
                     sync=False, stamp=False)
    store.state = None  # a crash writes no final checkpoint: close() must only sync and close the journal
    store.close()
