"""The built-in codebase analysis behind `analyze:` steps: files, languages, lines, test/source ratio, TODO and
FIXME counts and recent churn. Files come from `git ls-files` (a walk outside a repository); nothing is parsed,
a file is only read for its line count and markers, so a large repository takes seconds."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from prodigy.git.command import GitError, git

READ_LIMIT = 2 * 1024 * 1024  # bytes of one file read for lines and markers
CHURN_DAYS = 30
LANGUAGES = {
    ".py": "Python", ".rs": "Rust", ".go": "Go", ".js": "JavaScript", ".mjs": "JavaScript", ".jsx": "JavaScript",
    ".ts": "TypeScript", ".tsx": "TypeScript", ".java": "Java", ".kt": "Kotlin", ".rb": "Ruby", ".php": "PHP",
    ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++", ".hpp": "C++", ".cs": "C#", ".swift": "Swift",
    ".scala": "Scala", ".sh": "Shell", ".bash": "Shell", ".md": "Markdown", ".rst": "reStructuredText",
    ".yml": "YAML", ".yaml": "YAML", ".toml": "TOML", ".json": "JSON", ".html": "HTML", ".css": "CSS",
    ".sql": "SQL", ".ex": "Elixir", ".exs": "Elixir", ".hs": "Haskell", ".lua": "Lua", ".dart": "Dart",
}
_DOCS_AND_DATA = {"Markdown", "reStructuredText", "YAML", "TOML", "JSON"}
_TEST_PATH = re.compile(r"(^|/)(tests?|spec|__tests__)/|(^|/)test_[^/]*$|_test\.[^/]+$|\.(test|spec)\.[^/]+$")


def list_files(root: Path) -> tuple[list[str], bool]:
    """(paths relative to root, whether git listed them)."""
    try:
        listed = git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], root)
    except GitError:
        listed = None
    if listed is not None and listed.ok:
        return sorted({p for p in listed.out.split("\0") if p}), True
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("node_modules", "target", "__pycache__")]
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return sorted(found), False


def analyze(root: Path) -> dict[str, Any]:
    started = time.monotonic()
    files, from_git = list_files(root)
    languages: dict[str, dict[str, int]] = {}
    totals = Counter()
    for name in files:
        if name.startswith(".prodigy/"):
            continue
        language = LANGUAGES.get(os.path.splitext(name)[1].lower(), "Other")
        lines, todo, fixme, binary = _scan(root / name)
        if binary:
            continue
        entry = languages.setdefault(language, {"files": 0, "lines": 0})
        entry["files"] += 1
        entry["lines"] += lines
        totals.update(files=1, lines=lines, todo=todo, fixme=fixme)
        if language not in _DOCS_AND_DATA and language != "Other":
            totals["test_files" if _TEST_PATH.search(name) else "source_files"] += 1
    code = {k: v for k, v in languages.items() if k not in _DOCS_AND_DATA and k != "Other"}
    primary = max(code, key=lambda k: code[k]["lines"]) if code else None
    source, tests = totals["source_files"], totals["test_files"]
    return {
        "root": str(root), "generated_at": time.time(), "from_git": from_git,
        "files": totals["files"], "lines": totals["lines"],
        "languages": dict(sorted(languages.items(), key=lambda kv: -kv[1]["lines"])),
        "primary_language": primary, "source_files": source, "test_files": tests,
        "test_ratio": round(tests / source, 3) if source else 0.0,
        "todo": totals["todo"], "fixme": totals["fixme"], "churn": _churn(root) if from_git else {},
        "seconds": round(time.monotonic() - started, 3),
    }


def _scan(path: Path) -> tuple[int, int, int, bool]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(READ_LIMIT)
    except OSError:
        return 0, 0, 0, True
    if b"\0" in data[:8192]:
        return 0, 0, 0, True
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return lines, data.count(b"TODO"), data.count(b"FIXME"), False


def _churn(root: Path) -> dict[str, Any]:
    log = git(["log", f"--since={CHURN_DAYS}.days", "--name-only", "--format=%x00%H"], root)
    if not log.ok:
        return {}
    commits = 0
    touched: Counter[str] = Counter()
    for chunk in log.out.split("\0"):
        lines = [line for line in chunk.splitlines() if line.strip()]
        if not lines:
            continue
        commits += 1
        touched.update(lines[1:])
    return {"days": CHURN_DAYS, "commits": commits,
            "hot_files": [name for name, _count in touched.most_common(10)],
            "files_touched": len(touched)}


def summary_text(data: dict[str, Any], fmt: str = "summary") -> str:
    langs = data.get("languages") or {}
    if fmt == "markdown":
        rows = ["| Language | Files | Lines |", "|---|---|---|"]
        rows += [f"| {name} | {v['files']} | {v['lines']} |" for name, v in langs.items()]
        return "\n".join([f"# Codebase analysis of {data.get('root')}", "", *rows, "",
                          f"- test/source ratio: {data.get('test_ratio')}", f"- TODO: {data.get('todo')}, "
                          f"FIXME: {data.get('fixme')}", f"- commits in {CHURN_DAYS} days: "
                          f"{(data.get('churn') or {}).get('commits', 0)}"])
    top = ", ".join(f"{name} {v['lines']}" for name, v in list(langs.items())[:4])
    churn = data.get("churn") or {}
    return (f"{data.get('files')} files, {data.get('lines')} lines ({top}); {data.get('source_files')} source and "
            f"{data.get('test_files')} test files (ratio {data.get('test_ratio')}); TODO {data.get('todo')}, "
            f"FIXME {data.get('fixme')}; {churn.get('commits', 0)} commits in {CHURN_DAYS} days")
