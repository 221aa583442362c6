"""git/bundle.py and git/carry.py against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.git import bundle, carry
from prodigy.git.command import GitError
from support import git


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path, str]:
    """A repository with a branch two commits past `base`, and a clone that has only `base`."""
    a = tmp_path / "a"
    a.mkdir()
    git(a, "init", "-q", "-b", "main")
    (a / "f").write_text("0\n")
    git(a, "add", "f")
    git(a, "commit", "-qm", "base")
    base = git(a, "rev-parse", "HEAD")
    git(tmp_path, "clone", "-q", str(a), str(tmp_path / "b"))
    git(a, "checkout", "-qb", "work")
    for n in (1, 2):
        (a / "f").write_text(f"{n}\n")
        git(a, "commit", "-qam", f"c{n}")
    return a, tmp_path / "b", base


def test_create_verify_fetch(repos, tmp_path: Path) -> None:
    a, b, base = repos
    made = bundle.create(a, tmp_path / "x.bundle", ["refs/heads/work"], exclude=(base,))
    assert made is not None and made.prerequisites == (base,) and made.size > 0
    assert made.heads == {"refs/heads/work": git(a, "rev-parse", "work")}
    assert bundle.verify(b, made.path).ok
    bundle.fetch(b, made.path, {"refs/heads/work": "refs/heads/work"})
    assert git(b, "rev-parse", "work") == git(a, "rev-parse", "work")
    git(b, "checkout", "-q", "-b", "elsewhere", base)
    (b / "f").write_text("diverged\n")
    git(b, "commit", "-qam", "diverged")
    git(b, "branch", "-f", "work", "elsewhere")
    with pytest.raises(GitError, match="Could not fetch"):  # an existing ref is never rewound or replaced
        bundle.fetch(b, made.path, {"refs/heads/work": "refs/heads/work"})
    assert git(b, "rev-parse", "work") == git(b, "rev-parse", "elsewhere")
    assert bundle.create(a, tmp_path / "y.bundle", ["refs/heads/main"], exclude=(base,)) is None


def test_verify_names_the_missing_commit(repos, tmp_path: Path) -> None:
    a, _b, base = repos
    made = bundle.create(a, tmp_path / "x.bundle", ["refs/heads/work"], exclude=(base,))
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / "g").write_text("g")
    git(other, "add", "g")
    git(other, "commit", "-qm", "other")
    check = bundle.verify(other, made.path)
    assert not check.ok and base in check.missing
    assert not carry.has_commit(other, base) and carry.has_commit(a, base)
    assert carry.root_commits(a) == (base,) and carry.root_commits(other) != (base,)


def test_uncommitted_changes_travel_as_a_commit_and_come_back_uncommitted(repos, tmp_path: Path) -> None:
    a, b, base = repos
    (a / "f").write_text("changed\n")
    (a / "new.txt").write_text("new\n")
    (a / ".gitignore").write_text("*.log\n")
    (a / "ignored.log").write_text("no\n")
    status_before = git(a, "status", "--porcelain")
    snap = carry.snapshot_uncommitted(a, "wip")
    assert snap.commit and snap.files == 3
    assert git(a, "status", "--porcelain") == status_before and git(a, "rev-parse", "HEAD") != snap.commit
    carry.set_ref(a, "refs/prodigy/t", snap.commit)
    made = bundle.create(a, tmp_path / "w.bundle", ["refs/heads/work", "refs/prodigy/t"], exclude=(base,))
    carry.delete_ref(a, "refs/prodigy/t")
    bundle.fetch(b, made.path, {"refs/heads/work": "refs/heads/work", "refs/prodigy/t": "refs/prodigy/t"})
    carry.checkout_branch(b, tmp_path / "wt", "work")
    assert carry.restore_uncommitted(tmp_path / "wt", snap.commit) == 3
    wt = tmp_path / "wt"
    assert (wt / "f").read_text() == "changed\n" and (wt / "new.txt").read_text() == "new\n"
    assert not (wt / "ignored.log").exists()
    assert sorted(git(wt, "status", "--porcelain").splitlines()) == ["?? .gitignore", "?? new.txt", "M f"]
    assert carry.snapshot_uncommitted(b, "nothing").commit is None


def test_find_branch_local_remote_tracking_and_fetched(repos, tmp_path: Path) -> None:
    a, b, _base = repos
    assert carry.find_branch(b, "work", fetch=False) is None
    found = carry.find_branch(b, "work")
    assert found is not None and found.source == "fetched from origin" and found.commit == git(a, "rev-parse", "work")
    assert carry.find_branch(b, "work").source == "local branch"
    assert carry.find_branch(b, "nowhere") is None
