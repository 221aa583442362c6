"""`prodigy progress` watching a real 16-item job from a second process: JSON lines whose counts move, and
the live page in a real headless Chromium that follows the job through an interrupt and a resume to 16/16
without a reload. Items are held by a file (mr_support's ledger script), so "mid-run" is a state the test
chooses, never a sleep."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import mr_support as mr
import pytest
from browser import Chromium, find_chromium

import support

pytestmark = pytest.mark.e2e

COUNT, WAVES = 16, 4  # items n wait while the file hold_<n // 4> exists; item_3 fails for good

ITEM = """\
: {marker}
echo "start ${{item_id}} $PRODIGY_ATTEMPT" >> "{work}/ledger.txt"
while [ -e "{work}/hold_$(( ${{item.n}} / 4 ))" ]; do sleep 0.05; done
if [ -e "{work}/fail_${{item_id}}" ]; then echo "failing ${{item_id}}" >&2; exit 5; fi
echo "end ${{item_id}}" >> "{work}/ledger.txt"
"""


class Lines:
    """Collects a process's stdout lines in a thread, so a test can wait on them."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait(self, predicate, what: str, timeout: float = 30.0):
        return support.wait_for(lambda: next((line for line in list(self.lines) if predicate(line)), None),
                                timeout, what=what)

    def finish(self, proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str]:
        """Wait for the process to exit and for its last lines: (exit code, stderr). Not support.finish,
        whose communicate() would race this reader for stdout."""
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"no exit in {timeout}s; stdout so far:\n" + "\n".join(self.lines)) from None
        self._thread.join(10)
        assert proc.stderr is not None
        return code, proc.stderr.read()


def held_job(work: Path, marker: str, *, claude: bool = False) -> Path:
    """A 16-item job (4 at a time) whose items finish in four waves, each when the test releases it."""
    (work / "items.json").write_text(json.dumps([{"n": i} for i in range(COUNT)]))
    (work / "fail_item_3").write_text("")
    for wave in range(WAVES):
        (work / f"hold_{wave}").write_text("")
    agent = '    - claude: "summarise item ${item.n}"\n' if claude else ""  # the fake agent: items get logs
    (work / "workflow.yml").write_text(f"""\
name: waves
mode: mapreduce
map:
  input: items.json
  max_parallel: 4
  agent_template:
    - shell: |
{mr.indent(ITEM.format(marker=marker, work=work), 8)}{agent}reduce:
  - shell: echo "${{map.successful}}/${{map.total}}"
""")
    return work / "ledger.txt"


def release(work: Path, ledger: Path, wave: int) -> None:
    """Let wave `wave` finish, once its four items run (items are dispatched in order)."""
    mr.wait_for_held(ledger, 4 * wave, 4)
    (work / f"hold_{wave}").unlink()


def start_job(spawn_prodigy, work: Path, prodigy_home: Path):
    run = spawn_prodigy("run", "workflow.yml", "-y", cwd=work)
    job_id = support.wait_for(lambda: mr.only_job_id(prodigy_home), 20, what="the job id")
    return run, job_id


def test_follow_prints_a_json_line_per_change_until_the_job_ends(spawn_prodigy, work: Path, marker: str,
                                                                  prodigy_home: Path) -> None:
    ledger = held_job(work, marker)
    run, job_id = start_job(spawn_prodigy, work, prodigy_home)
    watcher = spawn_prodigy("progress", job_id[:40], "--format", "json", "--follow", cwd=work)
    lines = Lines(watcher)

    def counts(line: str) -> dict:
        return json.loads(line)["counts"]

    lines.wait(lambda line: counts(line)["running"] == 4 and counts(line)["finished"] == 0, "4 running, 0 done")
    for wave in range(WAVES - 1):  # the counts move as each wave is released
        release(work, ledger, wave)
        lines.wait(lambda line, n=4 * (wave + 1): counts(line)["finished"] == n and counts(line)["running"] == 4,
                   f"{4 * (wave + 1)} finished, 4 running")
    mid = json.loads(lines.lines[-1])
    assert (mid["live"], mid["ended"], mid["status"], mid["phase"]) == (True, False, "running", "map")
    assert (mid["counts"]["dlq"], mid["counts"]["succeeded"], mid["counts"]["total"]) == (1, 11, COUNT)
    assert sorted(s["item_id"] for s in mid["slowest_running"]) == [f"item_{i}" for i in range(12, 16)]
    assert mid["rate_per_minute"] and mid["eta_seconds"] is not None
    release(work, ledger, WAVES - 1)
    code, err = lines.finish(watcher)
    assert code == 0, err
    assert support.finish(run, timeout=30)[0] == 3  # item_3 is in the DLQ
    snapshots = [json.loads(line) for line in lines.lines]
    finished = [s["counts"]["finished"] for s in snapshots]
    assert finished == sorted(finished) and {0, 4, 8, 12, 16} <= set(finished)
    last = snapshots[-1]
    assert (last["ended"], last["status"], last["phase"], last["counts"]["succeeded"]) == (True, "completed", "done", 15)
    assert [s["seq"] for s in snapshots] == sorted(set(s["seq"] for s in snapshots))  # one line per change
    assert mr.starts(ledger) == {f"item_{i}": 1 for i in range(COUNT)}  # watching re-ran nothing


def test_text_view_in_a_pipe_prints_the_runs_own_lines(spawn_prodigy, work: Path, marker: str,
                                                       prodigy_home: Path) -> None:
    ledger = held_job(work, marker)
    run, job_id = start_job(spawn_prodigy, work, prodigy_home)
    release(work, ledger, 0)
    mr.wait_for_held(ledger, 4, 4)
    watcher = spawn_prodigy("progress", job_id, cwd=work)
    lines = Lines(watcher)
    lines.wait(lambda line: line.startswith("Map    16 item(s), 4 already finished"), "the map header")
    for wave in range(1, WAVES):
        release(work, ledger, wave)
    code, err = lines.finish(watcher)
    assert code == 0, err
    assert support.finish(run, timeout=30)[0] == 3
    text = "\n".join(lines.lines)
    assert f"Job:     {job_id}" in text and "Status:  running, phase map" in text
    assert sorted(line.split()[0] for line in lines.lines if line.startswith("  item_") and "✔" in line) == sorted(
        f"item_{i}" for i in range(4, 16))  # the items that ended while it watched, as `run` prints them
    assert "Job completed: 15 succeeded, 1 failed (1 in the DLQ)" in text
    assert f"Next: prodigy resume-job {job_id} --force" in text


def test_ctrl_c_stops_watching_and_leaves_the_job_running(spawn_prodigy, work: Path, marker: str,
                                                          prodigy_home: Path) -> None:
    ledger = held_job(work, marker)
    run, job_id = start_job(spawn_prodigy, work, prodigy_home)
    mr.wait_for_held(ledger, 0, 4)
    watcher = spawn_prodigy("progress", job_id, cwd=work)
    lines = Lines(watcher)
    lines.wait(lambda line: line.startswith("Map "), "the map line")
    watcher.send_signal(signal.SIGINT)
    code, err = lines.finish(watcher, timeout=10)
    assert code == 130 and "The job was not touched" in err
    assert run.poll() is None  # still running
    for wave in range(WAVES):
        release(work, ledger, wave)
    assert support.finish(run, timeout=30)[0] == 3


# ---------------------------------------------------------------- the page in a real browser


@pytest.fixture
def chromium() -> Iterator[Chromium]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (Debian's chromium package; scripts/install-test-deps.sh "
                    "installs it when run as root)")
    browser = Chromium(binary)
    yield browser
    browser.close()


PAGE_STATE = """JSON.stringify({
  job: document.getElementById('job-id').textContent,
  status: document.getElementById('status').textContent,
  conn: document.getElementById('conn').textContent,
  finished: document.getElementById('count-finished').textContent,
  total: document.getElementById('count-total').textContent,
  succeeded: document.getElementById('count-succeeded').textContent,
  running: document.getElementById('count-running').textContent,
  dlq: document.getElementById('count-dlq').textContent,
  runs: document.getElementById('runs').textContent,
  ended: document.body.dataset.ended,
  rows: [...document.querySelectorAll('#items-body tr')].map(r => [r.dataset.item, r.dataset.status]),
  dlqItems: [...document.querySelectorAll('#dlq-body .dlq-item')].map(d => d.dataset.item),
  resume: document.getElementById('resume-cmd').textContent,
  cost: document.getElementById('cost').textContent,
  rowCosts: [...document.querySelectorAll('#items-body tr')].map(r => r.children[5].textContent),
  noReload: window.__noReload === 1,
})"""


def page(browser: Chromium, session: str) -> dict:
    return json.loads(browser.evaluate(PAGE_STATE, session))


def wait_page(browser: Chromium, session: str, check, what: str, timeout: float = 30.0) -> dict:
    def ready():
        try:
            state = page(browser, session)
        except Exception:  # noqa: BLE001 - the page is still loading
            return None
        return state if check(state) else None

    return support.wait_for(ready, timeout, interval=0.1, what=what)


@pytest.mark.browser
def test_the_page_follows_a_job_through_a_resume_without_a_reload(
        spawn_prodigy, work: Path, marker: str, prodigy_home: Path, fake_claude: Path,
        chromium: Chromium, tmp_path: Path) -> None:
    ledger = held_job(work, marker, claude=True)
    run, job_id = start_job(spawn_prodigy, work, prodigy_home)
    server = spawn_prodigy("progress", job_id, "--web", "0", cwd=work)
    out = Lines(server)
    url = out.wait(lambda line: line.startswith("Serving job"), "the page URL").split(" at ", 1)[1]
    assert url.startswith("http://127.0.0.1:") and url.endswith(f"/job/{job_id}")
    release(work, ledger, 0)
    release(work, ledger, 1)
    mr.wait_for_held(ledger, 8, 4)

    tab = chromium.open(url)
    mid = wait_page(chromium, tab, lambda s: s["finished"] == "8" and s["running"] == "4" and len(s["rows"]) == 16
                    and s["dlqItems"] == ["item_3"], "the page mid-run")
    assert (mid["job"], mid["status"], mid["conn"], mid["total"], mid["dlq"]) == (job_id, "running", "live", "16", "1")
    assert sum(1 for _item, status in mid["rows"] if status == "running") == 4
    chromium.evaluate("window.__noReload = 1", tab)
    shot = chromium.screenshot(tab, tmp_path / "progress-page.png")
    if os.environ.get("PRODIGY_SCREENSHOT_DIR"):  # how docs/progress-page.png is made
        shutil.copy(shot, Path(os.environ["PRODIGY_SCREENSHOT_DIR"]) / "progress-page.png")

    run.send_signal(signal.SIGINT)  # an interrupt: the page shows it, then follows the resume
    assert support.finish(run, timeout=30)[0] == 130
    stopped = wait_page(chromium, tab, lambda s: s["status"] == "interrupted", "the interrupted job")
    session_id = mr.only_session_id(prodigy_home)
    assert stopped["resume"] == f"prodigy resume {session_id}" and stopped["noReload"]
    for wave in range(2, WAVES):
        (work / f"hold_{wave}").unlink()
    resume = spawn_prodigy("resume", session_id, "-y", cwd=work)
    assert support.finish(resume, timeout=60)[0] == 3

    every_item = [[f"item_{i}", "dlq" if i == 3 else "succeeded"] for i in range(COUNT)]
    done = wait_page(chromium, tab, lambda s: s["finished"] == "16" and s["ended"] == "true"
                     and s["status"] == "completed" and s["runs"] == "2" and s["rows"] == every_item,
                     "16/16 and every item on the page")
    assert done["noReload"], "the page was reloaded"
    assert (done["succeeded"], done["dlq"], done["running"], done["total"]) == ("15", "1", "0", "16")
    # Each item's agent call cost the fake CLI's $0.0123; item_3 failed before its agent ran.
    assert done["cost"] == "$0.18 ($0.0123 per completed item)"
    assert done["rowCosts"] == ["" if i == 3 else "$0.0123" for i in range(COUNT)]
    assert done["dlqItems"] == ["item_3"]

    # The agent log of an item, rendered readably on its own page.
    log_link = chromium.evaluate("document.querySelector('[data-item=item_0] td:last-child a').getAttribute('href')", tab)
    assert log_link == f"/job/{job_id}/log?item=item_0"
    log_tab = chromium.open(url.replace(f"/job/{job_id}", log_link))
    text = chromium.wait_for("document.querySelector('#log-entries .entry.text pre') && "
                             "document.querySelector('#log-entries .entry.text pre').textContent", log_tab,
                             what="the agent's text in the log page")
    assert text == "Working on: summarise item 0"
    assert chromium.evaluate("document.getElementById('log-result').textContent", log_tab) == "success"

    server.send_signal(signal.SIGINT)
    code, err = out.finish(server, timeout=10)
    assert code == 0 and "Stopped serving." in "\n".join(out.lines), err


@pytest.mark.browser
def test_the_dashboard_lists_sessions_live(spawn_prodigy, work: Path, marker: str, prodigy_home: Path,
                                           chromium: Chromium) -> None:
    server = spawn_prodigy("dashboard", "--port", "0", cwd=work)
    out = Lines(server)
    url = out.wait(lambda line: line.startswith("Serving the sessions dashboard"), "the URL").split(" at ", 1)[1]
    tab = chromium.open(url)
    chromium.wait_for("document.getElementById('conn').textContent === 'live'", tab, what="the event stream")
    ledger = held_job(work, marker)
    run, job_id = start_job(spawn_prodigy, work, prodigy_home)
    link = chromium.wait_for(f"[...document.querySelectorAll('#sessions-body a')].map(a => a.getAttribute('href'))"
                             f".find(h => h.includes('{job_id}'))", tab, what="the new job on the dashboard")
    assert link == f"/job/{job_id}"
    for wave in range(WAVES):
        release(work, ledger, wave)
    assert support.finish(run, timeout=30)[0] == 3
    chromium.wait_for("[...document.querySelectorAll('#sessions-body .badge')].some(b => b.textContent === "
                      "'completed')", tab, what="the session completed on the dashboard")
    server.send_signal(signal.SIGINT)
    assert out.finish(server, timeout=10)[0] == 0
