"""What the coordinator and a worker send each other: the task's argument and result, and the start messages.

One attempt is one Dask task, `worker.run_attempt(AttemptSpec) -> RemoteResult`. Each command of it starts
only once the coordinator has journaled it: the worker publishes a start report on the job's REPORTS topic
(a fire-and-forget message through the scheduler) and waits for the answer on its own REPLIES topic, which
the coordinator publishes once the `proc`/`start` record is written. One message each way per command. A small
result is pushed on the REPORTS topic just before the task ends: the coordinator takes it from there, without
waiting for Dask to report the task done or fetching it from the worker."""

from __future__ import annotations

from dataclasses import dataclass

from prodigy.execution.context import StepContext
from prodigy.execution.mapreduce.pool import ItemOutcome, ItemTask

ACK_TIMEOUT = 60.0  # a worker waits this long for the coordinator to journal a command's start
REPLY_POLL = 1.0  # it also looks for the answer in the topic's log, soon and then up to every this often
PUSH_LIMIT = 16 * 1024  # a result up to this size (pickled) is pushed with the completion, not fetched (the
# scheduler keeps a topic's last 1000 messages: at most 16 MB)
RETURN_LOG_CAP = 2 * 1024 * 1024  # bytes of each agent log sent back (the tail), git transfer
RETURN_LOGS_TOTAL = 8 * 1024 * 1024
RETURN_BUNDLE_CAP = 256 * 1024 * 1024  # an item's commits, as a git bundle


def reports_topic(token: str) -> str:
    return f"prodigy-{token}-starts"


def replies_topic(token: str, worker: str) -> str:
    return f"prodigy-{token}-to-{worker}"


@dataclass(frozen=True)
class Checks:
    """What a worker verifies before an attempt runs (fitness.py): files the coordinator wrote (path, content,
    what the folder is), that the item's run directory is a checkout of `common_dir`, and tools on PATH."""

    files: tuple[tuple[str, str, str], ...] = ()
    common_dir: str | None = None
    run_dir: bool = True  # the attempt's run directory must be there (shared filesystem)
    tools: tuple[tuple[str, str], ...] = ()  # (executable, why the workflow needs it)
    agent_cli: str | None = None  # claude: steps: the agent CLI prodigy runs here (a worker's PRODIGY_CLAUDE_BIN wins)


def agent_cli(checks: Checks, environ: dict[str, str]) -> str | None:
    """The agent CLI a worker runs: its own PRODIGY_CLAUDE_BIN, else the coordinator's choice."""
    return environ.get("PRODIGY_CLAUDE_BIN") or checks.agent_cli


@dataclass(frozen=True)
class Shipment:
    """--repo-transfer git: how the worker makes the item's own checkout. The base bundle is data the coordinator
    scattered to the cluster and published under this name, fetched only when the worker's cache lacks `base`; `delta` carries
    the commits from base to `head`."""

    repo_key: str
    base: str
    base_bundle: str
    head: str
    delta: bytes | None
    subdir: str
    branch_prefix: str  # the item's branch on the worker is <branch_prefix>-item_<i>, as a local agent worktree's
    identity: tuple[tuple[str, str], ...] = ()  # GIT_AUTHOR_*/GIT_COMMITTER_* of the coordinator's repository


@dataclass(frozen=True)
class AttemptSpec:
    task: ItemTask
    key: str
    job_id: str
    token: str
    ctx: StepContext  # run_dir, env and masker as the worker should use them; no callbacks
    checks: Checks
    shipment: Shipment | None = None


@dataclass(frozen=True)
class Returned:
    """The item's work from its own checkout: its new commits as a bundle (None: none), with the ref to fetch."""

    bundle: bytes | None
    ref: str | None
    tip: str | None
    uncommitted: tuple[str, ...] = ()


@dataclass(frozen=True)
class RemoteResult:
    worker: str
    outcome: ItemOutcome | None  # None: not run (unfit)
    unfit: str | None = None  # why this worker cannot run the attempt; nothing of it ran
    returned: Returned | None = None
    logs: tuple[tuple[str, bytes], ...] = ()  # agent logs (file name, content), git transfer
