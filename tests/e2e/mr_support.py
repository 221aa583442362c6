"""Helpers for the MapReduce and resume end-to-end tests (imported as `mr_support`).

The item command used by most tests appends `start <item_id> <attempt>` and `end <item_id>` lines to a
ledger file; it fails (exit 5) while a file `fail_<item_id>` exists beside the ledger; and it can be held:
items whose `n` is at least $LIMIT wait while the file $HOLD exists. LIMIT and HOLD come from the
environment of the prodigy process, so each run or resume of one job can hold different items. Every
workflow carries a unique marker in its commands, so a test can find (and at teardown end) any process the
job left behind.
"""

from __future__ import annotations

import json
import re
import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

import support
from prodigy.state.jobs import JobState, JobStore, find_job_folder
from prodigy.state.journal import read_journal

JOB_RE = re.compile(r"Job:\s+(mapreduce-\d{8}_\d{6}_session-[0-9a-f-]{36})")
NO_LIMIT = "1000000000"

ITEM_SCRIPT = """\
: {marker}
echo "start ${{item_id}} $PRODIGY_ATTEMPT" >> "{ledger}"
if [ -e "{folder}/fail_${{item_id}}" ]; then echo "failing ${{item_id}} on attempt $PRODIGY_ATTEMPT" >&2; exit 5; fi
if [ ${{item.n}} -ge "$LIMIT" ]; then while [ -e "$HOLD" ]; do sleep 0.05; done; fi
echo "end ${{item_id}}" >> "{ledger}"
"""


def new_marker() -> str:
    return f"PRODIGY-E2E-{uuid.uuid4().hex[:12]}"


def indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def item_script(marker: str, ledger: Path) -> str:
    return ITEM_SCRIPT.format(marker=marker, ledger=ledger, folder=ledger.parent)


def ledger_workflow(work: Path, marker: str, ledger: Path, *, count: int, max_parallel: int,
                    setup: str = "", reduce: str | None = None, extra: str = "") -> Path:
    """A MapReduce workflow over items.json ({"n": 0..count-1}) running ITEM_SCRIPT per item."""
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(count)]), encoding="utf-8")
    if reduce is None:
        reduce = f"""\
  - shell: echo "reduce ${{map.successful}}/${{map.total}} failed ${{map.failed}}" >> "{ledger}"
"""
    text = f"""\
name: ledger-job
mode: mapreduce
{setup}map:
  input: items.json
  max_parallel: {max_parallel}
  agent_template:
    - shell: |
{indent(item_script(marker, ledger), 8)}reduce:
{reduce}{extra}"""
    path = work / "workflow.yml"
    path.write_text(text, encoding="utf-8")
    return path


def hold_env(work: Path, limit: int | None = None, hold: str = "hold") -> dict[str, str]:
    """Environment that holds items with n >= limit while work/hold exists (no limit: nothing is held)."""
    return {"LIMIT": NO_LIMIT if limit is None else str(limit), "HOLD": str(work / hold)}


# ---------------------------------------------------------------- reading what happened


def ledger(path: Path) -> list[str]:
    return support.ledger_lines(path)


def starts(path: Path) -> Counter[str]:
    return Counter(line.split()[1] for line in ledger(path) if line.startswith("start "))


def ends(path: Path) -> Counter[str]:
    return Counter(line.split()[1] for line in ledger(path) if line.startswith("end "))


def attempts_of(path: Path, item: str) -> list[int]:
    return [int(line.split()[2]) for line in ledger(path) if line.startswith(f"start {item} ")]


def held_items(path: Path, limit: int) -> set[str]:
    """Items at or above `limit` that started and have not ended."""
    begun, ended = starts(path), ends(path)
    return {i for i in begun if int(i[5:]) >= limit and begun[i] > ended[i]}


def max_concurrency(path: Path) -> int:
    running = peak = 0
    for line in ledger(path):
        if line.startswith("start "):
            running += 1
            peak = max(peak, running)
        elif line.startswith("end "):
            running -= 1
    return peak


def job_id_from(output: str) -> str:
    match = JOB_RE.search(output)
    assert match, f"no 'Job: mapreduce-...' line in:\n{output}"
    return match.group(1)


def only_job_id(home: Path) -> str | None:
    """The job id of the one job under this PRODIGY_HOME, once its mapping file exists."""
    found = sorted((home / "state" / "mappings").glob("job-*.json"))
    return found[0].name[len("job-"):-len(".json")] if found else None


def only_session_id(home: Path) -> str | None:
    found = sorted((home / "sessions").glob("session-*.json"))
    return found[0].stem if found else None


def job_folder(job_id: str) -> Path:
    return find_job_folder(job_id)


def job_state(job_id: str) -> JobState:
    return JobStore(job_folder(job_id)).load_state()


def journal(job_id: str) -> list[dict[str, Any]]:
    return read_journal(job_folder(job_id) / "journal.jsonl").records


def succeeded_in_journal(job_id: str) -> set[int]:
    return {r["i"] for r in journal(job_id) if r.get("t") == "done" and r.get("s", "succeeded") == "succeeded"}


def session_record(home: Path, session_id: str) -> dict[str, Any]:
    return json.loads((home / "sessions" / f"{session_id}.json").read_text())


def wait_for_journal(job_id_of: Any, count: int, timeout: float = 20.0) -> str:
    """Wait until the job's journal records `count` successful items; job_id_of() finds the job id."""
    def ready() -> str | None:
        job_id = job_id_of()
        if job_id is None:
            return None
        try:
            return job_id if len(succeeded_in_journal(job_id)) >= count else None
        except Exception:  # noqa: BLE001 - the folder may not exist yet
            return None

    return support.wait_for(ready, timeout, what=f"{count} items journaled as succeeded")


def wait_for_held(path: Path, limit: int, count: int, timeout: float = 20.0) -> None:
    support.wait_for(lambda: len(held_items(path, limit)) >= count, timeout,
                     what=f"{count} held items at or above {limit} in {path}")


# ---------------------------------------------------------------- processes


def marker_processes(marker: str) -> list[psutil.Process]:
    """Live (non-zombie) processes whose command line contains the marker."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if marker in " ".join(proc.cmdline()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def kill_marker_processes(marker: str) -> None:
    """Teardown: end whatever a failed test left behind (each group the marker's processes lead)."""
    for proc in marker_processes(marker):
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue


def no_traceback(text: str) -> bool:
    return "Traceback" not in text and "Internal error" not in text


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str]:
    return support.run_prodigy(*args, cwd=cwd, env=env, timeout=timeout)
