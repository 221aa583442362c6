"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import mr_support as mr
import pytest


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique string every process of a test's job carries; whatever is left of them is killed at the end."""
    value = mr.new_marker()
    yield value
    mr.kill_marker_processes(value)
