"""The real Claude Code CLI against a loopback Messages API stand-in (tests/contract/messages_api.py).

The CLI comes from the claude-agent-sdk package, which bundles it (`pip install claude-agent-sdk`; the
`contract` extra, installed by scripts/install-test-deps.sh). Without it every test here is skipped, saying
so. No test here needs the network: ANTHROPIC_BASE_URL points at 127.0.0.1, and HOME is the test's own."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from messages_api import MessagesApi, Reply, Request


def bundled_claude() -> Path | None:
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        binary = Path(folder) / "_bundled" / "claude"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return None


REAL_CLAUDE = bundled_claude()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="the real Claude Code CLI is not installed: pip install claude-agent-sdk "
                                   "(or bash scripts/install-test-deps.sh), which bundles it")
    for item in items:
        if "contract" in item.keywords and REAL_CLAUDE is None:
            item.add_marker(skip)


class Api:
    """A stand-in whose behaviour a test changes as it goes (its `script` attribute)."""

    def __init__(self) -> None:
        self.script = lambda request, number: Reply()
        self.server = MessagesApi(lambda request, number: self.script(request, number))

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def api() -> Iterator[Api]:
    stand_in = Api()
    with stand_in.server:
        yield stand_in


@pytest.fixture
def real_claude(api: Api, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real CLI as prodigy's agent, pointed at the stand-in, with its own retries lowered for speed."""
    assert REAL_CLAUDE is not None
    for key, value in {
        "PRODIGY_CLAUDE_BIN": str(REAL_CLAUDE), "ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": "sk-test-good",
        "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "CLAUDE_CODE_MAX_RETRIES": "1", "IS_SANDBOX": "1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("ANTHROPIC_") and k not in ("ANTHROPIC_BASE_URL",
                                                                                    "ANTHROPIC_API_KEY")]:
        monkeypatch.delenv(key)
    return REAL_CLAUDE
