"""A real Dask cluster for the end-to-end tests: `dask scheduler` and `dask worker` processes on 127.0.0.1, each
worker with its own cwd and HOME, optionally in a private mount namespace (`unshare --mount`) with empty tmpfs
mounts over folders it must not see, to stand in for another machine. Imported as `cluster_support`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mr_support as mr
import pytest

import support

DASK = Path(sys.executable).parent / "dask"
WORKER_AT = re.compile(r"Start worker at:\s+(tcp://\S+)")


def dask_cli_missing() -> str | None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return "needs the dask extra (pip install '.[test,dask]'; scripts/install-test-deps.sh installs it)"
    if not (DASK.is_file() and os.access(DASK, os.X_OK)):
        return f"needs the `dask` command beside {sys.executable}"
    return None


def namespaces_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root, for workers in private mount namespaces (unshare --mount + tmpfs)"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "needs unshare and mount (util-linux), for workers in private mount namespaces"
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", "mount -t tmpfs tmpfs /mnt 2>&1 || exit 3"],
                           capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        return f"cannot make a private mount namespace here: {probe.stdout.strip() or probe.stderr.strip()}"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    home: Path
    address: str = ""


class RealCluster:
    """One scheduler and its workers; every process is in a group of its own, killed at the end."""

    def __init__(self, root: Path, *, allowed_failures: int | None = None,
                 scheduler_env: dict[str, str] | None = None) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.allowed_failures = allowed_failures
        self.scheduler_env = scheduler_env or {}
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.workers: list[Worker] = []
        self._all: list[subprocess.Popen[bytes]] = []

    def start(self, workers: int = 2, **worker_options: object) -> RealCluster:
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        env = _base_env(self.root / "scheduler-home")
        if self.allowed_failures is not None:
            env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(self.allowed_failures)
        env.update(self.scheduler_env)
        log = self.root / f"scheduler-{port}.log"
        self.scheduler = self._spawn([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                      "--no-dashboard"], log, env, cwd=self.root)
        support.wait_for(lambda: "Scheduler at:" in _read(log), 60, what=f"the Dask scheduler to start ({log})")
        started = [self.add_worker(wait=False, **worker_options) for _ in range(workers)]  # type: ignore[arg-type]
        for worker in started:  # they start side by side
            self.wait_registered(worker)
        return self

    def add_worker(self, *, hide: tuple[Path, ...] = (), make: tuple[Path, ...] = (),
                   env: dict[str, str] | None = None, wait: bool = True) -> Worker:
        """A worker; `hide`: folders it sees empty (tmpfs in its own mount namespace); `make`: folders then made
        there (a stale local copy at the same path)."""
        name = f"w{len(self.workers) + 1}"
        folder = self.root / name
        home, cwd = folder / "home", folder / "cwd"
        home.mkdir(parents=True, exist_ok=True)
        cwd.mkdir(parents=True, exist_ok=True)
        argv = [str(DASK), "worker", self.address, "--nthreads", "1", "--no-dashboard", "--name", name,
                "--local-directory", str(folder / "scratch")]
        if hide:
            mounts = " && ".join([*(f"mount -t tmpfs tmpfs {shlex.quote(str(p))}" for p in hide),
                                  *(f"mkdir -p {shlex.quote(str(p))}" for p in make)])
            argv = ["unshare", "--mount", "sh", "-c", f"{mounts} && exec {shlex.join(argv)}"]
        worker_env = {**_base_env(home), **(env or {})}
        log = folder / "worker.log"
        worker = Worker(name, self._spawn(argv, log, worker_env, cwd=cwd), log, home)
        self.workers.append(worker)
        if wait:
            self.wait_registered(worker)
        return worker

    def wait_registered(self, worker: Worker, timeout: float = 60) -> str:
        def registered() -> str | None:
            text = _read(worker.log)
            found = WORKER_AT.search(text)
            return found.group(1) if found and "Registered to:" in text else None

        worker.address = str(support.wait_for(registered, timeout, what=f"Dask worker {worker.name} to register"))
        return worker.address

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        _kill_group(self.scheduler)

    def stop(self) -> None:
        for proc in reversed(self._all):
            _kill_group(proc)

    def _spawn(self, argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        handle = open(log, "wb")  # noqa: SIM115 - the process writes it until it ends
        proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
        handle.close()
        self._all.append(proc)
        return proc


def _base_env(home: Path) -> dict[str, str]:
    """The environment of a scheduler or worker: this one's, with a HOME of its own and no PRODIGY_HOME (a worker
    has its own, or none: never the coordinator's)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
    env.pop("PRODIGY_HOME", None)
    return env


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture
def real_cluster(tmp_path: Path):  # noqa: ANN201 - a fixture factory
    """real_cluster(workers=2, allowed_failures=None, hide=()) -> a started RealCluster, stopped at teardown."""
    made: list[RealCluster] = []

    def start(workers: int = 2, *, allowed_failures: int | None = None, scheduler_env: dict[str, str] | None = None,
              **options: object) -> RealCluster:
        cluster = RealCluster(tmp_path / f"cluster{len(made) + 1}", allowed_failures=allowed_failures,
                              scheduler_env=scheduler_env)
        made.append(cluster)
        return cluster.start(workers, **options)

    yield start
    for cluster in made:
        cluster.stop()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a fixture
    """One scheduler and two workers for the tests of a module that leave the cluster usable (a killed worker's
    nanny starts it again): saves starting a cluster per test."""
    cluster = RealCluster(tmp_path_factory.mktemp("shared-cluster"))
    try:
        yield cluster.start(2)
    finally:
        cluster.stop()



# Workers do not get the coordinator's environment: the hold switches reach them through the workflow's env.
HOLD_ENV = "env:\n  LIMIT: ${env.LIMIT}\n  HOLD: ${env.HOLD}\n"


def dask_args(cluster: RealCluster, *more: str) -> tuple[str, ...]:
    """The options that send a run to `cluster`."""
    return ("--executor", "dask", "--scheduler", cluster.address, *more)


def done_records(job_id: str) -> list[dict]:
    return [r for r in mr.journal(job_id) if r.get("t") == "done"]
