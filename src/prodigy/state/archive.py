"""The session archive format (`prodigy sessions export` / `import`): one gzip'd tar file.

    <member>...        the session's files, each under a fixed name (see state/carry.py)
    manifest.json      written last: format, schema_version, what the session is, and every member's size and
                       sha256; a member that is not listed, missing, or differs is damage

The writer streams members into a temp file beside the destination and renames it into place when complete, so
an interrupted export never leaves a half archive under the final name. The reader extracts into a folder the
caller owns (nothing else is touched) and checks everything before returning: only regular files with plain
relative names, each exactly once, each matching the manifest."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prodigy.errors import StateError, UsageError
from prodigy.state.atomic import fsync_dir

FORMAT = "prodigy-session-archive"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
CHUNK = 1 << 20
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@=-]*(/[A-Za-z0-9][A-Za-z0-9._+@=-]*)*$")
MAX_MANIFEST = 64 << 20


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    size: int
    files: int


def safe_name(name: str) -> bool:
    """A member name we write and accept: relative, no '..', no hidden or odd characters."""
    return bool(_NAME.match(name)) and ".." not in name.split("/") and len(name) <= 400


class _Hashing:
    """Reads at most `limit` bytes of a file and hashes what it hands out (tarfile only calls read)."""

    def __init__(self, handle: IO[bytes], limit: int) -> None:
        self.handle, self.left, self.sha = handle, limit, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        self.sha.update(data)
        return data


class ArchiveWriter:
    def __init__(self, dest: Path) -> None:
        self.dest = dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        self._tmp = Path(tmp)
        self._raw = os.fdopen(fd, "wb")
        self._tar = tarfile.open(fileobj=self._raw, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT)
        self.files: list[dict[str, Any]] = []

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        if not safe_name(name) or name == MANIFEST or any(f["name"] == name for f in self.files):
            raise ValueError(f"bad or duplicate archive member name {name!r}")
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o600, 0
        return info

    def add_bytes(self, name: str, data: bytes) -> None:
        self._tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        self.files.append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def add_file(self, name: str, path: Path, size: int | None = None) -> None:
        """The file's first `size` bytes (all of it by default): a consistent prefix of a file still growing."""
        with open(path, "rb") as handle:
            length = os.fstat(handle.fileno()).st_size if size is None else size
            reader = _Hashing(handle, length)
            self._tar.addfile(self._info(name, length), reader)  # type: ignore[arg-type]
            if reader.left:
                raise StateError(f"{path} shrank while it was being archived.")
        self.files.append({"name": name, "size": length, "sha256": reader.sha.hexdigest()})

    def finish(self, manifest: dict[str, Any]) -> ArchiveInfo:
        body = {"format": FORMAT, "schema_version": SCHEMA_VERSION, **manifest, "files": self.files}
        data = (json.dumps(body, ensure_ascii=False, indent=1, default=str) + "\n").encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(data), 0o600, 0
        self._tar.addfile(info, io.BytesIO(data))
        self._tar.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self._tmp, self.dest)
        fsync_dir(self.dest.parent)
        return ArchiveInfo(self.dest, self.dest.stat().st_size, len(self.files))

    def abort(self) -> None:
        for closing in (self._tar.close, self._raw.close):
            try:
                closing()
            except Exception:  # noqa: BLE001 - already failing; the temp file goes either way
                pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, kind: object, *_rest: object) -> None:
        if kind is not None:
            self.abort()


# ---------------------------------------------------------------- reading


def read_archive(path: Path, into: Path) -> dict[str, Any]:
    """Extract and check an archive into the folder `into` (the caller's, empty). Returns the manifest.
    Raises UsageError (not a file) or StateError naming what is wrong (damaged, newer format)."""
    if not path.is_file():
        raise UsageError(f"Archive not found: {path}", hint="Give the file `prodigy sessions export` wrote.")
    seen: dict[str, tuple[int, str]] = {}
    manifest: dict[str, Any] | None = None
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                manifest = _take(tar, member, into, seen, path) or manifest
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, tarfile.TarError) and exc.errno is not None:
            raise StateError(f"Cannot read the archive {path}: {exc.strerror}") from exc
        raise _damaged(path, f"it is not a complete gzip'd tar file ({exc})") from exc
    if manifest is None:
        raise _damaged(path, f"it has no {MANIFEST} (not a prodigy session archive, or cut short)")
    _check_manifest(path, manifest, seen)
    return manifest


def _take(tar: tarfile.TarFile, member: tarfile.TarInfo, into: Path, seen: dict[str, tuple[int, str]],
          path: Path) -> dict[str, Any] | None:
    name = member.name
    if not member.isreg() or not safe_name(name):
        raise _damaged(path, f"it holds {name!r}, which is not a plain file with a safe name")
    if name in seen:
        raise _damaged(path, f"it holds {name!r} twice")
    source = tar.extractfile(member)
    assert source is not None
    if name == MANIFEST:
        if member.size > MAX_MANIFEST:
            raise _damaged(path, f"its {MANIFEST} is {member.size} bytes")
        data = source.read()
        seen[name] = (len(data), "")
        try:
            manifest = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _damaged(path, f"its {MANIFEST} is not valid JSON ({exc})") from exc
        if not isinstance(manifest, dict):
            raise _damaged(path, f"its {MANIFEST} is not a JSON object")
        return manifest
    target = into / name
    target.parent.mkdir(parents=True, exist_ok=True)
    sha, size = hashlib.sha256(), 0
    with open(target, "xb") as out:
        while chunk := source.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
            out.write(chunk)
    seen[name] = (size, sha.hexdigest())
    return None


def _check_manifest(path: Path, manifest: dict[str, Any], seen: dict[str, tuple[int, str]]) -> None:
    if manifest.get("format") != FORMAT:
        raise _damaged(path, f"its {MANIFEST} is not a prodigy session archive's (format {manifest.get('format')!r})")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise _damaged(path, f"its {MANIFEST} has an invalid schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise StateError(f"The archive {path} was written by a newer prodigy (archive schema {version}, this one "
                         f"reads up to {SCHEMA_VERSION}).", hint="Upgrade prodigy on this machine to import it.")
    listed = manifest.get("files")
    if not isinstance(listed, list) or not all(isinstance(f, dict) for f in listed):
        raise _damaged(path, f"its {MANIFEST} has no valid file list")
    names = {str(f.get("name")) for f in listed}
    for entry in listed:
        name = str(entry.get("name"))
        got = seen.get(name)
        if got is None:
            raise _damaged(path, f"{name} is listed in its manifest but missing")
        if got != (entry.get("size"), entry.get("sha256")):
            raise _damaged(path, f"{name} does not match its checksum in the manifest")
    extra = sorted(set(seen) - names - {MANIFEST})
    if extra:
        raise _damaged(path, f"it holds {extra[0]}, which its manifest does not list")


def _damaged(path: Path, why: str) -> StateError:
    return StateError(f"The archive {path} is damaged: {why}. Nothing was imported.",
                      hint="Export the session again on the machine it ran on (prodigy sessions export ID -o FILE), "
                      "or use an intact copy of the archive.")
