"""Fixtures for every test: an isolated PRODIGY_HOME and HOME, the fake claude, e2e helpers.

No test can touch the real ~/.prodigy: HOME and PRODIGY_HOME point into the test's tmp folder, and
the real folder is checked before and after every test (a change fails the test that made it).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import support
from prodigy import paths

REAL_PRODIGY = support.REAL_PRODIGY


def _snapshot(folder: Path) -> tuple | None:
    """Cheap fingerprint of the real ~/.prodigy: the folder and its direct children's mtimes."""
    try:
        top = folder.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    children = []
    for child in sorted(folder.iterdir()):
        try:
            children.append((child.name, child.stat().st_mtime_ns))
        except FileNotFoundError:
            continue
    return (top, tuple(children))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """PRODIGY_HOME and HOME in a tmp folder for every test; fail a test that touched the real one."""
    base = tmp_path_factory.mktemp("home")
    prodigy_home = base / "prodigy-home"
    monkeypatch.setenv("HOME", str(base))
    monkeypatch.setenv("PRODIGY_HOME", str(prodigy_home))
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(key, "Prodigy Tests")
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(key, "tests@example.invalid")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("PRODIGY_CLAUDE_BIN", raising=False)
    monkeypatch.delenv("PRODIGY_DEBUG", raising=False)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    for key in [k for k in os.environ if k.startswith("FAKE_CLAUDE_")]:
        monkeypatch.delenv(key)
    assert paths.home().is_relative_to(base), f"PRODIGY_HOME escapes the test folder: {paths.home()}"
    assert Path.home() == base
    before = _snapshot(REAL_PRODIGY)
    yield prodigy_home
    assert paths.home().is_relative_to(base), "a test pointed PRODIGY_HOME outside its tmp folder"
    if _snapshot(REAL_PRODIGY) != before:
        pytest.fail(f"this test touched the real {REAL_PRODIGY}")


@pytest.fixture
def prodigy_home(isolated_home: Path) -> Path:
    return isolated_home


@pytest.fixture
def fake_claude(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Put tests/fake_claude first on PATH and point PRODIGY_CLAUDE_BIN at it; returns its ledger file."""
    assert os.access(support.FAKE_CLAUDE, os.X_OK), f"{support.FAKE_CLAUDE} must be executable"
    ledger = tmp_path / "claude-ledger.jsonl"
    monkeypatch.setenv("PATH", f"{support.FAKE_CLAUDE_DIR}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
    monkeypatch.setenv("PRODIGY_CLAUDE_BIN", str(support.FAKE_CLAUDE))
    monkeypatch.setenv("FAKE_CLAUDE_LEDGER", str(ledger))
    monkeypatch.setenv("IS_SANDBOX", "1")  # as root (CI containers) the CLI, fake or real, needs it
    return ledger


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A run directory for workflows (separate from PRODIGY_HOME)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def git_repo(work: Path) -> Path:
    """`work` as a git repository with one commit."""
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=work, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (work / "README.md").write_text("test repo\n")
    git("add", "README.md")
    git("commit", "-q", "-m", "initial")
    return work


@pytest.fixture
def prodigy() -> Callable[..., tuple[int, str, str]]:
    """prodigy(*args, cwd=..., env=None, timeout=60) -> (exit code, stdout, stderr) of the installed CLI."""
    return support.run_prodigy


@pytest.fixture
def spawn_prodigy() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start the installed CLI without waiting; every process started is killed at teardown."""
    started: list[subprocess.Popen[str]] = []

    def spawn(*args: str, cwd: Path | str, env: dict[str, str] | None = None,
              prefix: list[str] | None = None) -> subprocess.Popen[str]:
        proc = support.spawn_prodigy(*args, cwd=cwd, env=env, prefix=prefix)
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture
def write_workflow(work: Path) -> Callable[..., Path]:
    """write_workflow(text, name="workflow.yml", folder=work) -> path; the text is dedented."""
    def write(text: str, name: str = "workflow.yml", folder: Path | None = None) -> Path:
        return support.write_workflow(folder or work, text, name)

    return write
