"""git/repo.py::status_entries: the one reader of `git status --porcelain -z` (dirty_paths and git/context.py)."""

from __future__ import annotations

from prodigy.git.repo import status_entries


def test_entries_with_a_rename_carry_its_source() -> None:
    out = " M a.txt\0R  new name.txt\0old name.txt\0?? dir/u.txt\0"
    assert status_entries(out) == [(" M", "a.txt", None), ("R ", "new name.txt", "old name.txt"),
                                   ("??", "dir/u.txt", None)]


def test_empty_and_cut_short_output() -> None:
    assert status_entries("") == []
    assert status_entries("R  new.txt") == [("R ", "new.txt", None)]
