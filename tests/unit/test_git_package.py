"""The git package's boundaries: nothing else in prodigy starts git, and the package imports nothing from the
executors (so the runners can call it without an import circle)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import prodigy

SRC = Path(prodigy.__file__).parent
GIT_PACKAGE = SRC / "git"


def test_only_the_git_package_runs_git() -> None:
    starts_git = re.compile(r"""[\[(]\s*["']git["']""")  # ["git", ...] or ("git", ...)
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if GIT_PACKAGE not in p.parents and starts_git.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
    spawners = [p.name for p in GIT_PACKAGE.glob("*.py") if "subprocess" in p.read_text(encoding="utf-8")]
    assert spawners == ["command.py"]


def test_the_package_imports_nothing_from_the_executors() -> None:
    code = ("import sys, prodigy.git, prodigy.git.agents, prodigy.git.admin, prodigy.git.merge\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('prodigy.'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    outside = {m for m in loaded if not m.startswith(("prodigy.git", "prodigy.state", "prodigy.paths",
                                                      "prodigy.errors", "prodigy.ids"))}
    assert outside <= {"prodigy.execution", "prodigy.execution.outcome"}
