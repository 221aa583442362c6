"""In-process CLI helpers: the real error handler (run_cli) with output captured."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from prodigy.cli import cli
from prodigy.cli.errors import run_cli


@pytest.fixture
def invoke(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """invoke(*args) -> (exit code, stdout, stderr), exactly as `prodigy` would exit."""
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run_cli(cli, list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run
