"""The cluster executor's parts that need no cluster: what workers get of the environment, the checks they run,
the outcomes of the cluster's own failures and what the coordinator does with them, the git transfer of commits
(real git, temp repositories), and the per-attempt check files. The real-cluster tests are tests/e2e."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from prodigy import paths
from prodigy.execution import outcome as o
from prodigy.execution.agents.policy import AgentGovernor
from prodigy.execution.cluster import envelope, faults, fitness
from prodigy.execution.cluster.protocol import Checks
from prodigy.execution.mapreduce.coordinator import Coordinator
from prodigy.execution.mapreduce.pool import ItemOutcome, ItemTask
from prodigy.execution.reporter import RecordingReporter
from prodigy.execution.signals import StopRequest
from prodigy.git.agents import AgentWorkspaces
from prodigy.git.worktree import MERGE_SUBJECT, create_session_worktree, plan_session_worktree
from prodigy.state.events import EventLog
from prodigy.state.jobs import DLQ, PENDING, RUNNING, SUCCEEDED, JobMeta, JobStore
from prodigy.state.journal import read_journal
from prodigy.workflow.model import AgentPolicy, ErrorPolicy, Handler, Step

SESSION = "session-00000000-0000-4000-8000-0000000000c1"
JOB = f"mapreduce-20260101_120000_{SESSION}"
W1, W2 = "tcp://10.0.0.7:40001", "tcp://10.0.0.8:40002"


# ---------------------------------------------------------------- the environment workers get


def test_workers_get_the_workflows_env_never_the_coordinators_and_only_the_secrets_a_step_names() -> None:
    coordinator = {"HOME": "/home/me", "PATH": "/usr/bin", "AWS_SECRET_ACCESS_KEY": "from-my-shell", "SAME": "x"}
    process_env = {**coordinator, "REGION": "eu", "SAME": "x", "API_TOKEN": "tok-123", "DB_PASSWORD": "pw-456",
                   "PRODIGY_JOB_ID": "job-1", "ARG": "from --args"}
    variables = {"REGION": "eu", "API_TOKEN": "tok-123", "DB_PASSWORD": "pw-456", "item.n": 1,
                 "env": process_env}
    steps = (Step(kind="shell", command='curl -H "$API_TOKEN" https://x/$REGION'),
             Step(kind="shell", command="true", on_failure=Handler(steps=(Step(kind="claude", command="/fix"),))))
    packed = envelope.build(process_env, variables, declared=frozenset({"REGION", "SAME", "API_TOKEN",
                                                                         "DB_PASSWORD", "ARG"}),
                            secrets=frozenset({"API_TOKEN", "DB_PASSWORD"}), steps=steps,
                            coordinator_env=coordinator)
    assert packed.env == {"REGION": "eu", "SAME": "x", "API_TOKEN": "tok-123", "PRODIGY_JOB_ID": "job-1",
                          "ARG": "from --args"}  # declared values, and what prodigy added: never HOME, PATH, AWS_*
    assert packed.sent == ("API_TOKEN",) and packed.held_back == ("DB_PASSWORD",)
    assert "DB_PASSWORD" not in packed.variables and packed.variables["API_TOKEN"] == "tok-123"
    assert packed.variables["env"] == packed.env  # ${env.X} on a worker: its own environment under these
    assert packed.masker("tok-123 pw-456") == "*** pw-456"  # the worker masks what it has
    assert packed.uses_claude  # a claude step inside a handler counts
    assert not envelope.uses_claude((Step(kind="shell", command="claude --help"),))


def test_secrets_over_plain_tcp_to_another_host_are_warned_about() -> None:
    warn = envelope.plain_text_warning
    assert warn("tcp://127.0.0.1:8786", ["tcp://127.0.0.1:4001"], ("API_TOKEN",)) is None  # this machine only
    assert warn("tcp://192.0.2.10:8786", ["tcp://127.0.0.1:4001"], ()) is None  # no secret goes
    assert warn("tls://192.0.2.10:8786", ["tls://192.0.2.11:4001"], ("API_TOKEN",)) is None  # encrypted
    text = warn("tcp://127.0.0.1:8786", ["tcp://192.0.2.11:4001"], ("API_TOKEN",))
    assert text is not None and "API_TOKEN" in text and "192.0.2.11" in text and "tls://" in text


# ---------------------------------------------------------------- worker checks


def test_check_files_catch_a_missing_or_stale_copy_at_the_same_path(tmp_path: Path) -> None:
    logs, common = tmp_path / "home" / "logs", tmp_path / "repo" / ".git"
    common.mkdir(parents=True)
    checks, written = fitness.prepare("tok1", log_dir=logs, common_dir=common, run_dir=None,
                                      tools=(("sh", "the shell"),))
    assert len(written) == 2 and all(p.read_text() == "tok1" for p in written)
    run_dir = tmp_path / "repo" / "sub"
    run_dir.mkdir()
    assert fitness.check(checks, str(run_dir), os.environ.get("PATH")) is None
    written[1].write_text("tok0")  # a copy of the repository from an earlier run
    assert "sees a different copy of the repository's git folder" in fitness.check(checks, str(run_dir), None)
    written[1].write_text("tok1")
    written[0].unlink()
    assert f"cannot see PRODIGY_HOME's agent log folder {logs}" in fitness.check(checks, str(run_dir), None)
    fitness.remove(written)
    assert not any(p.exists() for p in written)


def test_the_run_directory_must_be_a_checkout_of_the_same_repository_and_tools_on_path(tmp_path: Path) -> None:
    common = tmp_path / "repo" / ".git"
    (common / "worktrees" / "item_1").mkdir(parents=True)
    (common / "worktrees" / "item_1" / "commondir").write_text("../..\n")
    item = tmp_path / "wt" / "item_1"
    item.mkdir(parents=True)
    (item / ".git").write_text(f"gitdir: {common / 'worktrees' / 'item_1'}\n")
    (item / "deeper").mkdir()
    assert os.path.realpath(fitness.common_dir_of(item / "deeper")) == os.path.realpath(common)  # a subdir
    assert os.path.realpath(fitness.common_dir_of(item)) == os.path.realpath(common)
    checks = Checks(common_dir=str(common), tools=(("no-such-tool-xyz", "the agent CLI"),))
    other = tmp_path / "other"
    other.mkdir()
    assert "not as a checkout of the repository" in fitness.check(checks, str(other), None)
    assert fitness.check(Checks(), str(tmp_path / "gone"), None) == f"cannot see the item's run directory {tmp_path / 'gone'}"
    assert fitness.check(checks, str(item), os.environ.get("PATH")) == (
        "cannot find no-such-tool-xyz (the agent CLI) on its PATH")


# ---------------------------------------------------------------- the coordinator and cluster faults


class Scripted:
    """An executor whose attempts end as `decide(task)` says (no processes): the coordinator's side only."""

    name = "scripted"

    def __init__(self, decide: Any) -> None:
        self.decide = decide
        self.tasks: list[ItemTask] = []

    def submit(self, task: ItemTask) -> Future[ItemOutcome]:
        self.tasks.append(task)
        future: Future[ItemOutcome] = Future()
        future.set_result(self.decide(task))
        return future

    def shutdown(self) -> None:
        pass


def ok(task: ItemTask, worker: str = W1) -> ItemOutcome:
    return ItemOutcome(index=task.index, attempt=task.attempt, status=o.SUCCEEDED, exit_code=0, duration=0.1,
                       error=None, output="", stderr="", log_path=None, worker=worker)


def harness(work: Path, count: int, policy: ErrorPolicy | None = None,
            max_parallel: int = 1) -> tuple[Coordinator, JobStore]:
    meta = JobMeta(job_id=JOB, session_id=SESSION, workflow_path=str(work / "wf.yml"), workflow_sha256="x",
                   run_dir=str(work), repo="work", created_at="2026-01-01T00:00:00Z")
    store = JobStore.create(meta, "name: t\n")
    store.append({"t": "setup_done", "captures": {}})
    store.freeze_items([{"n": i} for i in range(count)])
    events = EventLog(paths.events_file("work", JOB), session_id=SESSION, job_id=JOB, correlation_id="c1")
    coordinator = Coordinator(store=store, items=store.load_items(), steps=(Step(kind="shell", command="true"),),
                              variables={}, policy=policy or ErrorPolicy(), max_parallel=max_parallel, timeout=None,
                              reporter=RecordingReporter(), events=events, stop=StopRequest(),
                              governor=AgentGovernor(AgentPolicy()))
    return coordinator, store


def dones(store: JobStore, index: int) -> list[dict[str, Any]]:
    return [r for r in read_journal(store.journal_path).records if r.get("t") == "done" and r["i"] == index]


def test_a_dead_worker_costs_the_item_nothing_and_the_dlq_history_names_it(work: Path) -> None:
    coordinator, store = harness(work, 2, ErrorPolicy(retry_attempts=1))

    def decide(task: ItemTask) -> ItemOutcome:
        if task.index == 0 and task.attempt == 1:
            return faults.worker_died(task, 0.0, W1, ended=True, ran=True, again=True)
        return ok(task, W2)

    run = coordinator.execute(Scripted(decide), [0, 1])
    assert (run.succeeded, run.failed, run.to_dlq, run.requeued) == (2, 0, 0, 1)
    first, second = dones(store, 0)
    assert (first["s"], first["k"], first["r"], first["w"]) == ("interrupted", "cluster", "worker_died", W1)
    assert f"worker {W1} died while it ran item_0" in first["err"] and "no retry spent" in first["err"]
    assert second.get("a") == 2 and "s" not in second  # one retry budget, still whole: the second attempt ran
    item = store.state.items[0]
    assert item.status == SUCCEEDED and len(item.failures) == 1  # the history keeps the death, not as a failure


def test_an_item_that_loses_a_second_worker_counts_as_failing(work: Path) -> None:
    coordinator, store = harness(work, 1, ErrorPolicy(retry_attempts=1))

    def decide(task: ItemTask) -> ItemOutcome:
        return faults.worker_died(task, 0.0, W1 if task.attempt == 1 else W2, ended=True, ran=True,
                                  again=task.attempt == 1)

    run = coordinator.execute(Scripted(decide), [0])
    assert run.to_dlq == 1 and store.state.status_of(0) == DLQ
    last = dones(store, 0)[-1]
    assert last["final"] == "dlq" and last["w"] == W2 and "the second worker lost with this item" in last["err"]


def test_an_unfit_worker_spends_no_retry(work: Path) -> None:
    coordinator, store = harness(work, 1, ErrorPolicy(retry_attempts=1))
    seen: list[int] = []

    def decide(task: ItemTask) -> ItemOutcome:
        seen.append(task.attempt)
        if task.attempt < 3:
            return faults.unfit(task, 0.0, W1, f"cannot see the item's run directory {work}")
        return ok(task, W2)

    run = coordinator.execute(Scripted(decide), [0])
    assert seen == [1, 2, 3] and run.succeeded == 1 and run.to_dlq == 0
    assert [r.get("r") for r in dones(store, 0)] == ["worker_unfit", "worker_unfit", None]
    assert "not run: worker" in dones(store, 0)[0]["err"]


def test_a_lost_cluster_stops_dispatching_resumably_and_leaves_its_attempts_in_flight(work: Path) -> None:
    coordinator, store = harness(work, 4, max_parallel=2)

    def decide(task: ItemTask) -> ItemOutcome:
        if task.index == 0:
            return ok(task)
        coordinator.record_process(task, _start(task), worker=W1)  # its command had started
        return faults.lost(task, 0.0, W1, "lost the Dask scheduler at tcp://s:8786 (no connection for 30s)",
                           "Start it again, then: prodigy resume-job J --executor dask --scheduler tcp://s:8786")

    executor = Scripted(decide)
    run = coordinator.execute(executor, [0, 1, 2, 3])
    assert run.agent_stop is not None and (run.agent_stop.kind, run.agent_stop.reason) == ("cluster", "scheduler_lost")
    assert "prodigy resume-job J" in run.agent_stop.hint
    assert [t.index for t in executor.tasks] == [0, 1]  # nothing dispatched after the loss
    assert dones(store, 1) == []  # no end recorded: in flight, as after a crash (a resume ends its command)
    assert store.state.status_of(1) == RUNNING and store.state.items[1].proc[3] == W1
    assert store.state.status_of(2) == PENDING and run.to_dlq == 0


def _start(task: ItemTask) -> Any:
    from prodigy.execution.process import StartInfo

    return StartInfo(pid=999_999, pgid=999_999, start_time=1.0)


# ---------------------------------------------------------------- git transfer


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def shipped(git_repo: Path) -> Iterator[tuple[Any, Any]]:
    """A session worktree of `git_repo` and the RepoShipper that sends its commits to workers."""
    from prodigy.git import transfer

    wt, _ = plan_session_worktree(git_repo, SESSION)
    assert wt is not None
    create_session_worktree(wt)
    shipper = transfer.RepoShipper(AgentWorkspaces(wt, JOB))
    try:
        yield wt, shipper
    finally:
        shipper.close()


def test_commits_travel_as_bundles_to_a_cache_and_back_into_the_session_branch(shipped: tuple[Any, Any],
                                                                                tmp_path: Path) -> None:
    from prodigy.git import transfer

    wt, shipper = shipped
    base, data = shipper.base()
    assert shipper.head() == (base, None)  # nothing merged yet: no delta
    cache = tmp_path / "worker-cache"
    fetched: list[int] = []

    def fetch() -> bytes:
        fetched.append(1)
        return data

    co = transfer.checkout(cache, shipper.repo_key, base=base, base_bundle=fetch, head=base, delta=None,
                           name="a1", branch=f"{wt.branch}-item_0", subdir="")
    (co.path / "made.txt").write_text("by item 0\n")
    git(co.path, "add", "made.txt")
    git(co.path, "commit", "-q", "-m", "item 0")
    (co.path / "left.txt").write_text("not committed\n")
    bundle, ref, tip, uncommitted = transfer.give_back(co, cap=10_000_000)
    assert bundle and ref == "HEAD" and uncommitted == ("left.txt",)
    transfer.discard(co, shipper.repo_key)
    assert not co.path.exists()

    from prodigy.execution.cluster.protocol import Returned

    task = ItemTask(index=0, attempt=1, item={}, total=1, steps=(), variables={}, timeout=None)
    outcome = shipper.take(0, ok(task), Returned(bundle=bundle, ref=ref, tip=tip, uncommitted=uncommitted))
    assert outcome.status == o.SUCCEEDED
    log = git(wt.path, "log", "--format=%s", wt.branch).splitlines()
    assert log[0] == MERGE_SUBJECT.format(index=0, job_id=JOB) and "item 0" in log
    assert (wt.path / "made.txt").read_text() == "by item 0\n"
    assert not git(wt.path, "branch", "--list", f"{wt.branch}-item_0")  # the item's branch is gone again

    head, delta = shipper.head()  # the next item starts after that merge: only the new commits travel
    assert head != base and delta is not None and len(delta) < len(data) + 4096
    co2 = transfer.checkout(cache, shipper.repo_key, base=base, base_bundle=fetch, head=head, delta=delta,
                            name="a2", branch=f"{wt.branch}-item_1", subdir="")
    assert (co2.path / "made.txt").exists() and fetched == [1]  # the base came once: the cache had it
    assert transfer.give_back(co2, cap=10_000_000)[0] is None  # no commits: nothing to send back
    transfer.discard(co2, shipper.repo_key)


def test_an_item_whose_commits_conflict_fails_and_the_session_branch_is_unchanged(shipped: tuple[Any, Any],
                                                                                   tmp_path: Path) -> None:
    from prodigy.execution.cluster.protocol import Returned
    from prodigy.git import transfer

    wt, shipper = shipped
    base, data = shipper.base()
    co = transfer.checkout(tmp_path / "c", shipper.repo_key, base=base, base_bundle=lambda: data, head=base,
                           delta=None, name="a1", branch=f"{wt.branch}-item_0", subdir="")
    (co.path / "README.md").write_text("the item's version\n")
    git(co.path, "commit", "-q", "-am", "item edits README")
    returned = Returned(*transfer.give_back(co, cap=10_000_000))
    (wt.path / "README.md").write_text("the session's version\n")
    git(wt.path, "commit", "-q", "-am", "session edits README")
    before = git(wt.path, "rev-parse", "HEAD")
    task = ItemTask(index=0, attempt=1, item={}, total=1, steps=(), variables={}, timeout=None)
    outcome = shipper.take(0, ok(task), returned)
    assert outcome.status == o.FAILED and "merge conflict" in outcome.error and "README.md" in outcome.error
    assert git(wt.path, "rev-parse", "HEAD") == before


def test_a_worker_cache_path_follows_its_own_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PRODIGY_WORKER_CACHE", str(tmp_path / "c"))
    assert paths.worker_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("PRODIGY_WORKER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.worker_cache_dir() == tmp_path / "xdg" / "prodigy-worker"
    assert not paths.worker_cache_dir().is_relative_to(paths.home())


def test_outcome_messages_say_what_happened_and_that_no_retry_was_spent() -> None:
    task = ItemTask(index=3, attempt=2, item={}, total=5, steps=(), variables={}, timeout=None)
    fenced = faults.worker_died(task, 0.0, W1, ended=None, ran=True, again=True)
    assert "fenced" in fenced.error and fenced.failure_kind.kind == o.CLUSTER and not fenced.failure_kind.stop
    never = faults.worker_died(task, 0.0, W1, ended=False, ran=False, again=True)
    assert never.error.startswith("not run:") and never.failure_kind.reason == faults.WORKER_LEFT
    lost = faults.lost(task, 0.0, W1, "gone", "resume")
    assert lost.failure_kind.stop and lost.failure_kind.unsettled and lost.failure_kind.run_level


def test_the_governor_neither_pauses_nor_ends_an_api_outage_for_cluster_faults() -> None:
    governor = AgentGovernor(AgentPolicy(retry_pause=10.0), clock=lambda: 100.0, rng=lambda: 0.5)
    assert governor.observe(o.FailureKind(o.TRANSIENT, "rate_limit"), "429") is not None  # a pause
    outage = governor.outage_started
    assert governor.observe(o.FailureKind(o.CLUSTER, faults.WORKER_DIED), "worker died") is None
    assert governor.outage_started == outage and governor.stop is None  # the API said nothing either way
    stop = governor.observe(o.FailureKind(o.CLUSTER, faults.SCHEDULER_LOST, hint="resume", stop=True), "lost")
    assert stop is not None and (stop.kind, stop.reason, stop.message, stop.hint) == (
        "cluster", "scheduler_lost", "lost", "resume")


def test_the_agent_cli_checked_on_a_worker_is_its_own_when_it_names_one(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    cli = tmp_path / "my-claude"
    cli.write_text("#!/bin/sh\n")
    cli.chmod(0o755)
    checks = Checks(agent_cli="/coordinator/only/claude")
    monkeypatch.delenv("PRODIGY_CLAUDE_BIN", raising=False)
    assert fitness.check(checks, None, None) == ("cannot find /coordinator/only/claude (the agent CLI of the "
                                                 "workflow's claude: steps) on its PATH")
    monkeypatch.setenv("PRODIGY_CLAUDE_BIN", str(cli))
    assert fitness.check(checks, None, None) is None
