"""What every benchmark shares: measuring a subprocess, finding and killing stray processes, temp folders,
pairing prodigy with its peer over repetitions, and the rows a benchmark reports."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

PARALLEL = shutil.which("parallel") or "/usr/bin/parallel"
XARGS = shutil.which("xargs") or "/usr/bin/xargs"
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None  # GNU time: exact peak RSS
TAG_VAR = "PRODIGY_BENCH_TAG"  # every process a benchmark starts carries it, so strays can be found
_SAMPLE_EVERY = 0.01


class BenchError(Exception):
    """A benchmark could not produce its figures (a command failed, a timeout, an unexpected state)."""


def prodigy_argv() -> list[str]:
    """The installed console script (what a user runs), else `python -m prodigy`."""
    script = Path(sys.executable).with_name("prodigy")
    if script.exists():
        return [str(script)]
    found = shutil.which("prodigy")
    return [found] if found else [sys.executable, "-m", "prodigy"]


# ------------------------------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class Measured:
    started_at: float  # time.time() just before the process was spawned
    wall: float  # seconds
    cpu: float  # user+sys of the whole process tree (wait4)
    self_cpu: float | None  # user+sys of the top process alone (sampled every 10 ms)
    maxrss_mb: float | None  # peak RSS of the largest process of the tree
    returncode: int
    timed_out: bool


class _Sampler(threading.Thread):
    """Samples the measured process: its own CPU time and its VmHWM (peak RSS), every 10 ms.

    With `wrapped`, `pid` is /usr/bin/time and the measured process is its child.
    """

    def __init__(self, pid: int, *, wrapped: bool) -> None:
        super().__init__(daemon=True)
        self._pid, self._wrapped = pid, wrapped
        self._halt = threading.Event()
        self.cpu: float | None = None
        self.hwm_kb: int | None = None

    def run(self) -> None:
        try:
            proc = psutil.Process(self._pid)
            while self._wrapped and not self._halt.is_set():
                children = proc.children()
                if children:
                    proc = children[0]
                    break
                self._halt.wait(0.001)
            while not self._halt.is_set():
                times = proc.cpu_times()
                self.cpu = times.user + times.system
                self.hwm_kb = _vm_hwm(proc.pid) or self.hwm_kb
                self._halt.wait(_SAMPLE_EVERY)
        except psutil.Error:
            return

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=1)


def _vm_hwm(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _open(target: Path | None, mode: str) -> Any:
    return open(target, mode) if target is not None else subprocess.DEVNULL


def measure(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float,
            stdin: Path | None = None, stdout: Path | None = None) -> Measured:
    """Run to completion (killing the group at `timeout`): wall time, tree CPU (wait4) and peak RSS.

    Peak RSS comes from /usr/bin/time when it exists. Not from our own wait4: a child's ru_maxrss starts
    at the RSS of the process it was forked from (this one, which can be large), which would put a floor
    under every figure. Without /usr/bin/time it is the measured process's VmHWM, sampled.
    """
    rss_file = Path(tempfile.mkstemp(prefix="bench-rss-")[1]) if TIME else None
    wrapped = [TIME, "-f", "%M", "-o", str(rss_file), *argv] if TIME else argv
    stdin_handle, out_handle = _open(stdin, "rb"), _open(stdout, "ab")
    try:
        started_at, began = time.time(), time.monotonic()
        proc = subprocess.Popen(wrapped, cwd=cwd, env=env, stdin=stdin_handle, stdout=out_handle,
                                stderr=subprocess.STDOUT if stdout else subprocess.DEVNULL,
                                start_new_session=True)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _killpg(proc.pid)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        sampler = _Sampler(proc.pid, wrapped=bool(TIME))
        sampler.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            sampler.stop()
        wall = time.monotonic() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        for handle in (stdin_handle, out_handle):
            if handle is not subprocess.DEVNULL:
                handle.close()
    peak_kb = _read_time_output(rss_file) if rss_file else sampler.hwm_kb
    return Measured(started_at=started_at, wall=wall, cpu=usage.ru_utime + usage.ru_stime,
                    self_cpu=sampler.cpu, maxrss_mb=peak_kb / 1024 if peak_kb else None,
                    returncode=proc.returncode, timed_out=expired.is_set())


def _read_time_output(path: Path) -> int | None:
    """The %M figure: the last line (GNU time writes "Command exited with non-zero status N" first)."""
    try:
        lines = path.read_text().split()
        return int(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None
    finally:
        path.unlink(missing_ok=True)


def check(measured: Measured, what: str, ok_codes: tuple[int, ...] = (0,), log: Path | None = None) -> Measured:
    if measured.timed_out:
        raise BenchError(f"{what} timed out after {measured.wall:.0f}s{_log_tail(log)}")
    if measured.returncode not in ok_codes:
        raise BenchError(f"{what} exited {measured.returncode}{_log_tail(log)}")
    return measured


def _log_tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    lines = log.read_text(errors="replace").strip().splitlines()[-3:]
    return (": " + " | ".join(lines))[:400] if lines else ""


def spawn(argv: list[str], *, cwd: Path, env: dict[str, str], stdin: Path | None = None,
          stdout: Path | None = None) -> subprocess.Popen[bytes]:
    """Start in the background (for runs that get killed); the caller waits or kills it."""
    stdin_handle, out_handle = _open(stdin, "rb"), _open(stdout, "ab")
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin_handle, stdout=out_handle,
                                stderr=subprocess.STDOUT if stdout else subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        for handle in (stdin_handle, out_handle):
            if handle is not subprocess.DEVNULL:
                handle.close()


def hard_kill(proc: subprocess.Popen[bytes]) -> float:
    """SIGKILL the coordinator alone (not its group: that is what a crash does); returns when it is dead."""
    killed_at = time.time()
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)
    return killed_at


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.05,
               proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what}: the process exited ({proc.returncode}) before it happened")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# ------------------------------------------------------------------------------------------ strays


def tagged(tag: str, *, created_before: float | None = None, exclude: tuple[int, ...] = ()) -> list[psutil.Process]:
    """Live (non-zombie) processes started by this benchmark run, found by the tag in their environment; not
    those in `exclude` or started by them. (`created_before` alone cannot tell a new process's children
    from older ones: psutil's create_time is the boot time, in whole seconds, plus the process's start, so it
    can read up to a second early.)"""
    found = []
    for proc in psutil.process_iter(["pid", "ppid", "create_time", "status"]):
        try:
            if proc.pid in exclude or proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if exclude and any(parent.pid in exclude for parent in proc.parents()):
                continue
            if created_before is not None and proc.info["create_time"] >= created_before:
                continue
            if proc.environ().get(TAG_VAR) == tag:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def kill_tagged(tag: str) -> int:
    procs = tagged(tag)
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=3)
    return len(procs)


# ------------------------------------------------------------------------------------------ context


@dataclass
class Context:
    quick: bool
    reps: int
    root: Path  # this run's temp folder, removed at the end
    tag: str
    log: Callable[[str], None]
    cache: Any = None  # builds.Cache, shared by the benchmarks of one run
    scratch: Path | None = None  # the current benchmark's folder, removed when it ends

    def folder(self, name: str, *, keep: bool = False) -> Path:
        """A new temp folder: in the benchmark's scratch space, or (keep) until the whole run ends."""
        parent = self.root / "kept" if keep or self.scratch is None else self.scratch
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """Environment for every command: isolated PRODIGY_HOME and HOME, no colour, the stray tag."""
        env = dict(os.environ)
        # As a user's Python does: compiled modules are cached. (With PYTHONDONTWRITEBYTECODE, set in some
        # sandboxes and CI images, every prodigy start compiles its ~300 modules again: +0.15-0.2 s a process.)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update({"PRODIGY_HOME": str(home), "HOME": str(self.root / "home"), "NO_COLOR": "1",
                    TAG_VAR: self.tag, "PARALLEL_HOME": str(self.root / "home" / ".parallel")})
        env.update(extra)
        (self.root / "home").mkdir(exist_ok=True)
        return env


# ------------------------------------------------------------------------------------------ figures


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class Row:
    metric: str
    unit: str
    prodigy: float | None
    parallel: float | None = None
    other: float | None = None  # a second peer (xargs) where measured
    other_name: str = ""
    target: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.prodigy is None or not self.parallel:
            return None
        return self.prodigy / self.parallel

    @classmethod
    def of(cls, metric: str, unit: str, samples: dict[str, list[float | None]], *, target: str = "",
           other: str = "") -> Row:
        samples = {tool: [v for v in values if v is not None] for tool, values in samples.items()}
        return cls(metric=metric, unit=unit, prodigy=median(samples.get("prodigy", [])),
                   parallel=median(samples.get("parallel", [])),
                   other=median(samples.get(other, [])) if other else None, other_name=other, target=target,
                   samples={k: [round(v, 6) for v in vs] for k, vs in samples.items()})

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "unit": self.unit, "prodigy": self.prodigy, "parallel": self.parallel,
                "ratio": self.ratio, "other": self.other, "other_name": self.other_name or None,
                "target": self.target, "samples": self.samples}


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


Runner = Callable[[int], dict[str, float | None]]


def alternate(reps: int, runners: dict[str, Runner]) -> dict[str, dict[str, list[float | None]]]:
    """Run each tool once per repetition, rotating who goes first; metric -> tool -> samples."""
    names = list(runners)
    by_metric: dict[str, dict[str, list[float | None]]] = {}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            for metric, value in runners[name](rep).items():
                by_metric.setdefault(metric, {}).setdefault(name, []).append(value)
    return by_metric


def copy_tree(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True)
    return target


def tree_size(folder: Path) -> tuple[int, int]:
    """(bytes, files) of everything under folder."""
    total = files = 0
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
                files += 1
            except FileNotFoundError:
                continue
    return total, files
