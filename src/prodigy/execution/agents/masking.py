"""The agent log: the CLI's stream-json written to disk one line at a time, with secrets masked *before* the
bytes reach the file, so no plain secret is ever on disk, not even after a kill (the unwritten part of a line
is only in memory). A secret is looked for as the CLI may print it inside JSON: raw, with `"` and `\\`
escaped, with non-ASCII as \\uXXXX (either case), and escaped twice (JSON inside a JSON string)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from prodigy.state import storage

MASK = b"***"


def secret_forms(secrets: Iterable[str]) -> tuple[bytes, ...]:
    """Every byte sequence a secret can appear as in the CLI's JSON output, longest first."""
    forms: set[bytes] = set()
    for secret in secrets:
        if not secret:
            continue
        once_utf8 = json.dumps(secret, ensure_ascii=False)[1:-1]
        once_ascii = json.dumps(secret)[1:-1]
        for text in (secret, once_utf8, once_ascii, _upper_hex(once_ascii),
                     json.dumps(once_utf8, ensure_ascii=False)[1:-1], json.dumps(once_ascii)[1:-1]):
            forms.add(text.encode("utf-8", "surrogatepass"))
    return tuple(sorted(forms, key=len, reverse=True))


def _upper_hex(escaped: str) -> str:
    out, i = [], 0
    while i < len(escaped):
        if escaped.startswith("\\u", i) and i + 6 <= len(escaped):
            out.append("\\u" + escaped[i + 2:i + 6].upper())
            i += 6
        elif escaped.startswith("\\\\", i):
            out.append("\\\\")
            i += 2
        else:
            out.append(escaped[i])
            i += 1
    return "".join(out)


def mask_bytes(data: bytes, forms: tuple[bytes, ...]) -> bytes:
    for form in forms:
        if form in data:
            data = data.replace(form, MASK)
    return data


def safe_cut(data: bytes, forms: tuple[bytes, ...]) -> int:
    """How much of `data` can be masked and written now when more bytes may follow: everything except a tail
    that could be the start of a secret, and never in the middle of one."""
    if not forms:
        return len(data)
    longest = len(forms[0])
    cut = max(len(data) - (longest - 1), 0)
    moved = True
    while moved:  # an occurrence that starts before the cut and crosses it moves the cut past its end
        moved = False
        for form in forms:
            start = data.find(form, max(cut - len(form) + 1, 0))
            while start != -1 and start < cut:
                if start + len(form) > cut:
                    cut, moved = start + len(form), True
                start = data.find(form, start + 1)
    return cut


class AgentLog:
    """An append-only log file, mode 0600 in a 0700 folder, that masks what it is given."""

    def __init__(self, path: Path, forms: tuple[bytes, ...]) -> None:
        self.path = path
        self.forms = forms
        storage.private_dir(path.parent)  # 0700 up to PRODIGY_HOME, never through a link leading out
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "ab", buffering=0)
        self.bytes_written = 0

    def write(self, data: bytes) -> None:
        """Write bytes that are complete with respect to masking (a whole line, or a safe_cut prefix)."""
        if self._file is None or not data:
            return
        masked = mask_bytes(data, self.forms)
        try:
            self._file.write(masked)
            self.bytes_written += len(masked)
        except OSError:
            self.close()  # a full disk loses the log, never the run

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
