"""The template registry: PRODIGY_HOME/templates/<name>.yml with <name>.yml.meta.json beside it (the original's
layout), and a repository's own `.prodigy/templates/<name>.yml`, which is looked at first and is read-only
here (it belongs to the repository). Registration writes through the atomic-write helper."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import NotFoundError, UsageError
from prodigy.state.atomic import write_bytes
from prodigy.state.sessions import now_iso

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SUFFIXES = (".yml", ".yaml")


def check_name(name: str) -> str:
    if not NAME_RE.match(name or "") or ".." in name:
        raise UsageError(f"Invalid template name {name!r}: use letters, digits, '.', '_' and '-'.",
                         hint="Example: prodigy template register ci.yml --name standard-ci")
    return name


def local_dirs(search_dirs: tuple[Path, ...]) -> list[Path]:
    return [Path(d) / ".prodigy" / "templates" for d in search_dirs]


def find(name: str, search_dirs: tuple[Path, ...] = ()) -> Path | None:
    """A registry template's file: the repository's .prodigy/templates first, then PRODIGY_HOME/templates."""
    if not NAME_RE.match(name or "") or ".." in name:
        return None
    for folder in [*local_dirs(search_dirs), paths.templates_dir()]:
        for suffix in SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def searched(search_dirs: tuple[Path, ...] = ()) -> list[str]:
    return [str(d) for d in [*local_dirs(search_dirs), paths.templates_dir()]]


@dataclass
class TemplateMeta:
    name: str
    description: str | None = None
    version: str = "1.0.0"
    author: str | None = None
    tags: list[str] = field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    source: str | None = None  # the file it was registered from


@dataclass(frozen=True)
class Template:
    name: str
    path: str
    scope: str  # global (PRODIGY_HOME/templates) | local (the repository's .prodigy/templates)
    meta: TemplateMeta

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "scope": self.scope, **asdict(self.meta)}


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _read_meta(path: Path, name: str) -> TemplateMeta:
    try:
        data = json.loads(_meta_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    known = {k: v for k, v in data.items() if k in TemplateMeta.__dataclass_fields__} if isinstance(data, dict) else {}
    meta = TemplateMeta(**{**known, "name": name})
    meta.tags = [str(t) for t in meta.tags] if isinstance(meta.tags, list) else []
    return meta


def all_templates(search_dirs: tuple[Path, ...] = ()) -> list[Template]:
    """Every template, local ones first; a local template hides a global one of the same name."""
    found: dict[str, Template] = {}
    for scope, folder in [*(("local", d) for d in local_dirs(search_dirs)), ("global", paths.templates_dir())]:
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            if path.suffix in SUFFIXES and path.is_file() and path.stem not in found and NAME_RE.match(path.stem):
                found[path.stem] = Template(path.stem, str(path), scope, _read_meta(path, path.stem))
    return sorted(found.values(), key=lambda t: t.name)


def get(name: str, search_dirs: tuple[Path, ...] = ()) -> Template:
    path = find(check_name(name), search_dirs)
    if path is None:
        raise NotFoundError(f"Template {name!r} is not in the registry.",
                            hint=f"Searched {', '.join(searched(search_dirs))}. List templates with: "
                                 "prodigy template list; add one with: prodigy template register FILE")
    scope = "global" if path.parent == paths.templates_dir() else "local"
    return Template(name, str(path), scope, _read_meta(path, name))


def register(name: str, text: str, meta: TemplateMeta, *, force: bool) -> Template:
    target = paths.templates_dir() / f"{check_name(name)}.yml"
    existing = find(name) if target.exists() else None
    if existing is not None and not force:
        raise UsageError(f"Template {name!r} is already registered ({target}).",
                         hint="Pass --force to replace it, or choose another --name.")
    now = now_iso()
    previous = _read_meta(target, name) if existing is not None else None
    meta.created_at = previous.created_at if previous and previous.created_at else now
    meta.updated_at = now
    write_bytes(target, text.encode("utf-8"))
    write_bytes(_meta_path(target), (json.dumps(asdict(meta), indent=2) + "\n").encode("utf-8"))
    return Template(name, str(target), "global", meta)


def delete(name: str) -> Path:
    target = paths.templates_dir() / f"{check_name(name)}.yml"
    if not target.is_file():
        raise NotFoundError(f"Template {name!r} is not in the registry ({paths.templates_dir()}).",
                            hint="List templates with: prodigy template list")
    target.unlink()
    _meta_path(target).unlink(missing_ok=True)
    return target
