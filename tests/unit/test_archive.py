"""state/archive.py: what the writer produces, and everything the reader refuses."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from prodigy.errors import StateError, UsageError
from prodigy.state.archive import MANIFEST, ArchiveWriter, read_archive, safe_name


def _write(tmp_path: Path, name: str = "a.tar.gz") -> Path:
    growing = tmp_path / "journal.jsonl"
    growing.write_bytes(b'{"t":1}\n{"t":2}\n{"t":')
    with ArchiveWriter(tmp_path / name) as writer:
        writer.add_bytes("session.json", b'{"id": "x"}\n')
        writer.add_file("job/journal.jsonl", growing, size=16)
        writer.finish({"session_id": "x"})
    return tmp_path / name


def test_round_trip_with_a_prefix_of_a_growing_file(tmp_path: Path) -> None:
    archive = _write(tmp_path)
    into = tmp_path / "out"
    into.mkdir()
    manifest = read_archive(archive, into)
    assert manifest["session_id"] == "x" and manifest["schema_version"] == 1
    assert [f["name"] for f in manifest["files"]] == ["session.json", "job/journal.jsonl"]
    assert (into / "job" / "journal.jsonl").read_bytes() == b'{"t":1}\n{"t":2}\n'
    assert not list(tmp_path.glob(".a.tar.gz.*"))  # no temp file left


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError), ArchiveWriter(tmp_path / "b.tar.gz") as writer:
        writer.add_bytes("../escape", b"x")
    assert list(tmp_path.iterdir()) == []


def _rewrite(archive: Path, dest: Path, change) -> Path:
    with tarfile.open(archive) as src, tarfile.open(dest, "w:gz") as out:
        for member in src:
            data = src.extractfile(member).read()
            for m, d in change(member, data):
                m.size = len(d)
                out.addfile(m, io.BytesIO(d))
    return dest


@pytest.mark.parametrize("case, words", [
    ("drop_manifest", "has no manifest.json"),
    ("drop_member", "session.json is listed in its manifest but missing"),
    ("change_member", "session.json does not match its checksum"),
    ("extra_member", "its manifest does not list"),
    ("bad_name", "not a plain file with a safe name"),
    ("newer", "written by a newer prodigy"),
    ("not_json", "is not valid JSON"),
])
def test_the_reader_refuses(tmp_path: Path, case: str, words: str) -> None:
    archive = _write(tmp_path)

    def change(member: tarfile.TarInfo, data: bytes):
        if member.name == MANIFEST:
            if case == "drop_manifest":
                return []
            if case == "newer":
                return [(member, json.dumps({**json.loads(data), "schema_version": 99}).encode())]
            if case == "not_json":
                return [(member, b"{nope")]
        if member.name == "session.json":
            if case == "drop_member":
                return []
            if case == "change_member":
                return [(member, b'{"id": "y"}\n')]
            if case in ("extra_member", "bad_name"):
                extra = tarfile.TarInfo("extra.txt" if case == "extra_member" else "../../etc/x")
                return [(member, data), (extra, b"x")]
        return [(member, data)]

    bad = _rewrite(archive, tmp_path / "bad.tar.gz", change)
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(StateError) as caught:
        read_archive(bad, into)
    assert words in str(caught.value)
    assert not (tmp_path / "etc").exists()


def test_not_an_archive_and_missing(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(StateError, match="not a complete gzip'd tar"):
        read_archive(tmp_path / "plain.txt", tmp_path)
    with pytest.raises(UsageError, match="Archive not found"):
        read_archive(tmp_path / "none.tar.gz", tmp_path)


def test_safe_names() -> None:
    assert safe_name("logs/item_3-20261201_101010-ab12cd34.jsonl") and safe_name("job/journal.jsonl")
    for bad in ("/etc/passwd", "../x", "a/../b", ".hidden", "a//b", "a b", ""):
        assert not safe_name(bad), bad
