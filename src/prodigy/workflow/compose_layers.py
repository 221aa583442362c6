"""Composition's layers, lowest first: `imports:` (in order, or under an alias, or only the `selective:` keys),
the `extends:` base and the `template:` (from the registry or a file, with its `with:` values and `override:`),
each read, tagged with its file and resolved recursively (a cycle is a problem at the reference). compose.py
merges them under the file itself and adds parameters and sub-workflows."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

from prodigy.errors import WorkflowFileError
from prodigy.state import templates
from prodigy.workflow.compose_merge import apply_override, merge, only, tag, without
from prodigy.workflow.load_common import COMPOSITION_KEYS, Problem
from prodigy.workflow.yamlsrc import LineDict, LineList, line_of, parse_text

_LAYER_KEYS = {"imports", "extends", "template"}
_WHERE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?: (?P<message>.*)$", re.S)


@dataclass
class Run:
    search_dirs: tuple[Path, ...]
    strict: bool
    problems: list[Problem] = field(default_factory=list)
    scopes: list[dict[str, str]] = field(default_factory=list)  # per composition: the files it read -> sha256

    def read(self, path: Path, sha: str) -> None:
        for scope in self.scopes:
            scope[str(path)] = sha

    def error(self, file: Path | str, line: int | None, key: str, message: str) -> None:
        self.problems.append(Problem(str(file), line, key, message))


def read(target: Path, run: Run, at: tuple[Path, int | None, str]) -> Any:
    """A referenced file, parsed and tagged with its path; None (and a problem at the reference) if it cannot be."""
    from prodigy.workflow.load import read_workflow_text

    try:
        text = read_workflow_text(target)
        data = parse_text(text, target)
    except WorkflowFileError as exc:
        found = _WHERE.match(exc.message)
        if found and Path(found.group("file")) == target:
            run.error(target, int(found.group("line")), "", found.group("message"))
        else:
            run.error(at[0], at[1], at[2], exc.message)
        return None
    run.read(target, hashlib.sha256(text.encode()).hexdigest())
    if isinstance(data, list):  # a bare list of steps is a workflow's commands
        data = LineDict({"commands": data})
    return tag(data, str(target)) if isinstance(data, dict) else None


def _include(target: Path, run: Run, stack: tuple[str, ...], at: tuple[Path, int | None, str],
             with_values: list[tuple[Any, str]]) -> tuple[Any, dict[str, Any]] | None:
    if str(target) in stack:
        chain = " -> ".join(Path(p).name for p in (*stack, str(target)))
        run.error(at[0], at[1], at[2], f"circular dependency: {chain}")
        return None
    data = read(target, run, at)
    if data is None:
        return None
    if not isinstance(data, dict):
        run.error(target, 1, "", "expected a workflow (a mapping or a list of steps)")
        return None
    resolved = resolve(target, data, run, (*stack, str(target)), with_values)
    return None if resolved[0] is None else resolved


def relative(text: Any, folder: Path) -> Path:
    path = Path(str(text)).expanduser()
    return (path if path.is_absolute() else folder / path).absolute()


def resolve(path: Path, data: Any, run: Run, stack: tuple[str, ...], with_values: list[tuple[Any, str]]
             ) -> tuple[Any, dict[str, Any]]:
    """The file's data with its layers applied (recursively), and its import aliases (name -> (path, data))."""
    if not isinstance(data, dict):
        return data, {}
    layers: list[Any] = []
    aliases: dict[str, Any] = {}
    for picked in _imports(path, data, run, stack, aliases, with_values):
        layers.append(picked)
    if "extends" in data:
        value = data["extends"]
        base = value.get("path") if isinstance(value, dict) else value
        if not isinstance(base, str) or not base.strip():
            run.error(path, line_of(data, "extends"), "extends", "expected the path of the base workflow")
        else:
            found = _include(relative(base, path.parent), run, stack, (path, line_of(data, "extends"), "extends"),
                             with_values)
            if found:
                layers.append(found[0])
    if "template" in data:
        found_template = _template(path, data, run, stack, with_values)
        if found_template is not None:
            layers.append(found_template)
    own = without(data, _LAYER_KEYS)
    return reduce(merge, [*layers, own]) if layers else own, aliases


def _imports(path: Path, data: Any, run: Run, stack: tuple[str, ...], aliases: dict[str, Any],
             with_values: list[tuple[Any, str]]) -> list[Any]:
    entries = data.get("imports")
    if entries is None:
        return []
    if not isinstance(entries, list):
        run.error(path, line_of(data, "imports"), "imports", "expected a list of {path, alias, selective}")
        return []
    picked: list[Any] = []
    for index, entry in enumerate(entries):
        where, line = f"imports[{index}]", line_of(entries, index)
        spec = {"path": entry} if isinstance(entry, str) else entry
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
            run.error(path, line, where, "an import needs a path: (the workflow file to import)")
            continue
        for key in set(spec) - {"path", "alias", "selective"}:
            run.error(path, line_of(spec, key) or line, f"{where}.{key}", "unknown key; use path, alias, selective")
        found = _include(relative(spec["path"], path.parent), run, stack, (path, line, where), with_values)
        if found is None:
            continue
        sub = found[0]
        alias, selective = spec.get("alias"), spec.get("selective")
        if alias is not None:
            if selective is not None:
                run.error(path, line_of(spec, "selective") or line, f"{where}.selective",
                          "selective: goes without alias: (an alias imports the whole file under its name)")
            aliases[str(alias)] = (relative(spec["path"], path.parent), sub)
            continue
        if selective is not None:
            sub = _selective(path, sub, selective, run, where, line_of(spec, "selective") or line)
        picked.append(sub)
    return picked


def _selective(path: Path, sub: Any, names: Any, run: Run, where: str, line: int | None) -> Any:
    """Only the listed top-level keys (env, setup, profiles ...) or named sub-workflows of an import."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        run.error(path, line, f"{where}.selective", "expected a list of key or sub-workflow names")
        return LineDict()
    subs = sub.get("workflows") if isinstance(sub.get("workflows"), list) else []
    sub_names = {w.get("name") for w in subs if isinstance(w, dict)}
    missing = [n for n in names if n not in sub and n not in sub_names]
    if missing:
        have = sorted({*map(str, sub), *map(str, sub_names)} - COMPOSITION_KEYS)
        run.error(path, line, f"{where}.selective", f"not in the imported file: {', '.join(missing)} "
                  f"(it has: {', '.join(have)})")
    chosen = only(sub, {n for n in names if n in sub})
    wanted = [w for w in subs if isinstance(w, dict) and w.get("name") in names]
    if wanted:
        kept = LineList(wanted)
        kept.source = getattr(subs, "source", None)
        chosen = merge(chosen, LineDict({"workflows": kept}))
    return chosen


def _template(path: Path, data: Any, run: Run, stack: tuple[str, ...], with_values: list[tuple[Any, str]]) -> Any:
    spec = data["template"]
    line = line_of(data, "template")
    if not isinstance(spec, dict) or "source" not in spec:
        run.error(path, line, "template", "expected {source: NAME | {file: PATH}, with: {...}, override: {...}}")
        return None
    for key in set(spec) - {"name", "source", "with", "override"}:
        run.error(path, line_of(spec, key) or line, f"template.{key}", "unknown key; use name, source, with, override")
    source, at = spec["source"], (path, line_of(spec, "source") or line, "template.source")
    target: Path | None = None
    if isinstance(source, dict) and isinstance(source.get("file"), str):
        target = relative(source["file"], path.parent)
    elif isinstance(source, (str, dict)):
        name = source.get("registry") if isinstance(source, dict) else source
        if not isinstance(name, str) or not name:
            run.error(*at, "expected a registry name, {registry: NAME} or {file: PATH}")
            return None
        if name.startswith(("http://", "https://")):
            run.error(*at, "templates from URLs are not supported: download it and use {file: PATH}, or "
                           "prodigy template register it")
            return None
        target = templates.find(name, run.search_dirs)
        if target is None:
            run.error(*at, f"template {name!r} is not in the registry (searched "
                           f"{', '.join(templates.searched(run.search_dirs))}); add it with: prodigy template "
                           f"register FILE --name {name}, or use source: {{file: PATH}}")
            return None
    else:
        run.error(*at, "expected a registry name, {registry: NAME} or {file: PATH}")
        return None
    values = spec.get("with")
    if values is not None and not isinstance(values, dict):
        run.error(path, line_of(spec, "with"), "template.with", "expected a mapping of parameter values")
        values = None
    found = _include(target, run, stack, at, with_values)
    if found is None:
        return None
    if values:
        with_values.append((values, str(path)))  # after the template's own templates: above their values
    resolved = found[0]
    override = spec.get("override")
    if override is not None:
        if not isinstance(override, dict):
            run.error(path, line_of(spec, "override"), "template.override", "expected a mapping of values to replace")
        else:
            resolved = apply_override(resolved, override)
    return resolved
