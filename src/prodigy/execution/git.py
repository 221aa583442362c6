"""The few git queries the executors need."""

from __future__ import annotations

import subprocess
from pathlib import Path


def head(path: Path) -> str | None:
    """The commit HEAD points at, or None outside a repository (or in one with no commits)."""
    try:
        result = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=path,
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None

