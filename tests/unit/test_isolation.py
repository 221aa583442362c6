"""The autouse fixture keeps every test away from the real ~/.prodigy."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy import paths
from support import REAL_PRODIGY


def test_prodigy_home_is_a_tmp_folder(prodigy_home: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert paths.home() == prodigy_home
    assert paths.home().is_relative_to(tmp_path_factory.getbasetemp())
    assert not paths.home().is_relative_to(REAL_PRODIGY)


def test_without_prodigy_home_the_default_is_still_under_tmp(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.delenv("PRODIGY_HOME")
    assert paths.home() == Path.home() / ".prodigy"
    assert paths.home().is_relative_to(tmp_path_factory.getbasetemp())
