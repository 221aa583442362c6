"""Composable workflows, resolved before a Workflow exists: `imports:`, `extends:`, `template:`, `parameters:`
with `defaults:`, and `workflows:` (sub-workflows). Everything downstream sees one resolved workflow.

Layers, lowest first: imports (in order), the `extends:` base, the template (with its `override:`), then the
file itself. A later layer's scalar or list replaces the earlier one; mappings merge key by key. Every problem
names the file and line of the part at fault (compose_merge.locate). The resolved form (`Workflow.composition`)
is what a session keeps, so a resume runs what started even when a base file changed since."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

from prodigy.errors import WorkflowFileError
from prodigy.state import templates
from prodigy.workflow import model as m
from prodigy.workflow.compose_merge import (
    apply_override,
    locate,
    merge,
    only,
    plain,
    substitute_whole,
    tag,
    without,
)
from prodigy.workflow.compose_params import ParamInput, definitions, resolve_values
from prodigy.workflow.load_common import Problem
from prodigy.workflow.yamlsrc import LineDict, LineList, line_of, parse_text

COMPOSITION_KEYS = frozenset({"imports", "extends", "template", "parameters", "defaults", "workflows",
                              "sub_workflows"})
_LAYER_KEYS = {"imports", "extends", "template"}
_SUB_KEYS = {"name", "source", "parameters", "with", "inputs", "outputs", "continue_on_error", "working_dir",
             "parallel", "timeout"}
_WHERE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?: (?P<message>.*)$", re.S)


def is_composable(data: Any) -> bool:
    return isinstance(data, dict) and any(key in data for key in COMPOSITION_KEYS)


@dataclass
class _Run:
    search_dirs: tuple[Path, ...]
    strict: bool
    problems: list[Problem] = field(default_factory=list)
    scopes: list[dict[str, str]] = field(default_factory=list)  # per composition: the files it read -> sha256

    def read(self, path: Path, sha: str) -> None:
        for scope in self.scopes:
            scope[str(path)] = sha

    def error(self, file: Path | str, line: int | None, key: str, message: str) -> None:
        self.problems.append(Problem(str(file), line, key, message))


def check(path: Path, data: Any, sha: str, *, params: ParamInput | None = None, search_dirs: tuple[Path, ...] = (),
          strict: bool = False) -> Any:
    """The composed workflow and every problem (load.LoadResult)."""
    from prodigy.workflow.load import LoadResult

    run = _Run(search_dirs=tuple(search_dirs) or (Path.cwd(),), strict=strict)
    if isinstance(data, list):  # a bare list of steps, given --param values
        data = LineDict({"commands": data})
    workflow = _compose(path, tag(data, str(path)), sha, run, given=params, with_values=[], stack=(str(path),))
    return LoadResult(workflow, tuple(run.problems))


def _compose(path: Path, data: Any, sha: str, run: _Run, *, given: ParamInput | None,
             with_values: list[tuple[Any, str]], stack: tuple[str, ...]) -> m.Workflow | None:
    """`with_values`: the caller's parameter values (a sub-workflow entry's parameters:), above any template's."""
    run.scopes.append({str(path): sha})
    try:
        return _compose_scoped(path, data, run, given=given, with_values=with_values, stack=stack)
    finally:
        run.scopes.pop()


def _compose_scoped(path: Path, data: Any, run: _Run, *, given: ParamInput | None,
                    with_values: list[tuple[Any, str]], stack: tuple[str, ...]) -> m.Workflow | None:
    from prodigy.workflow.load import check_data

    collected: list[tuple[Any, str]] = []  # templates' with: values, innermost (lowest) first
    errors_before = sum(p.severity == "error" for p in run.problems)
    resolved, aliases = _resolve(path, data, run, stack, collected)
    if resolved is None or sum(p.severity == "error" for p in run.problems) > errors_before:
        return None  # a layer could not be read: its problem is the one to fix, not what its absence causes
    outer = [*collected, *with_values]
    main = str(path)
    defs = definitions(resolved.get("parameters"), main, run.problems)
    values = resolve_values(defs, given=given, with_values=outer, defaults=resolved.get("defaults"), main=main,
                            problems=run.problems, strict=run.strict)
    subs = _subworkflows(path, resolved, aliases, run, stack)
    body = without(resolved, set(COMPOSITION_KEYS))
    if subs is not None and "commands" not in body and body.get("mode", "standard") == "standard":
        body["commands"] = LineList()  # only sub-workflows
    body = substitute_whole(body, values)
    doc = {"path": main, "resolved": plain(body), "parameters": values,
           "workflows": [_sub_doc(s) for s in subs or ()]}
    result = check_data(body, path, _sha(doc))
    run.problems.extend(locate(p, body) for p in result.problems)
    if result.workflow is None:
        return None
    if subs and result.workflow.is_mapreduce:
        run.error(main, line_of(resolved, "workflows"), "workflows",
                  "sub-workflows run before the steps of a standard workflow; a MapReduce workflow cannot have "
                  "them (make it a sub-workflow of a standard one instead)")
    doc["sources"] = dict(sorted(run.scopes[-1].items()))
    return dataclasses.replace(result.workflow, parameters=tuple(values.items()), subworkflows=tuple(subs or ()),
                               composition=doc)


def _sha(doc: dict[str, Any]) -> str:
    text = json.dumps({k: doc.get(k) or ({} if k != "workflows" else []) for k in ("resolved", "parameters",
                                                                               "workflows")},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _sub_doc(sub: m.SubWorkflow) -> dict[str, Any]:
    return {"name": sub.name, "continue_on_error": sub.continue_on_error, "working_dir": sub.working_dir,
            "inputs": dict(sub.inputs), "outputs": list(sub.outputs), "kept": sub.workflow.composition}


# ---------------------------------------------------------------- layers


def _read(target: Path, run: _Run, at: tuple[Path, int | None, str]) -> Any:
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


def _include(target: Path, run: _Run, stack: tuple[str, ...], at: tuple[Path, int | None, str],
             with_values: list[tuple[Any, str]]) -> tuple[Any, dict[str, Any]] | None:
    if str(target) in stack:
        chain = " -> ".join(Path(p).name for p in (*stack, str(target)))
        run.error(at[0], at[1], at[2], f"circular dependency: {chain}")
        return None
    data = _read(target, run, at)
    if data is None:
        return None
    if not isinstance(data, dict):
        run.error(target, 1, "", "expected a workflow (a mapping or a list of steps)")
        return None
    resolved = _resolve(target, data, run, (*stack, str(target)), with_values)
    return None if resolved[0] is None else resolved


def _relative(text: Any, folder: Path) -> Path:
    path = Path(str(text)).expanduser()
    return (path if path.is_absolute() else folder / path).absolute()


def _resolve(path: Path, data: Any, run: _Run, stack: tuple[str, ...], with_values: list[tuple[Any, str]]
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
            found = _include(_relative(base, path.parent), run, stack, (path, line_of(data, "extends"), "extends"),
                             with_values)
            if found:
                layers.append(found[0])
    if "template" in data:
        found_template = _template(path, data, run, stack, with_values)
        if found_template is not None:
            layers.append(found_template)
    own = without(data, _LAYER_KEYS)
    return reduce(merge, [*layers, own]) if layers else own, aliases


def _imports(path: Path, data: Any, run: _Run, stack: tuple[str, ...], aliases: dict[str, Any],
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
        found = _include(_relative(spec["path"], path.parent), run, stack, (path, line, where), with_values)
        if found is None:
            continue
        sub = found[0]
        alias, selective = spec.get("alias"), spec.get("selective")
        if alias is not None:
            if selective is not None:
                run.error(path, line_of(spec, "selective") or line, f"{where}.selective",
                          "selective: goes without alias: (an alias imports the whole file under its name)")
            aliases[str(alias)] = (_relative(spec["path"], path.parent), sub)
            continue
        if selective is not None:
            sub = _selective(path, sub, selective, run, where, line_of(spec, "selective") or line)
        picked.append(sub)
    return picked


def _selective(path: Path, sub: Any, names: Any, run: _Run, where: str, line: int | None) -> Any:
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


def _template(path: Path, data: Any, run: _Run, stack: tuple[str, ...], with_values: list[tuple[Any, str]]) -> Any:
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
        target = _relative(source["file"], path.parent)
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


# ---------------------------------------------------------------- sub-workflows


def _subworkflows(path: Path, resolved: Any, aliases: dict[str, Any], run: _Run,
                  stack: tuple[str, ...]) -> list[m.SubWorkflow] | None:
    key = "workflows" if "workflows" in resolved else "sub_workflows" if "sub_workflows" in resolved else None
    if key is None:
        return None
    entries = resolved[key]
    file = (getattr(resolved, "key_sources", {}) or {}).get(key) or str(path)
    if not isinstance(entries, list):
        run.error(file, line_of(resolved, key), key, "expected a list of {name, source, ...}")
        return []
    found: list[m.SubWorkflow] = []
    for index, entry in enumerate(entries):
        where, line = f"{key}[{index}]", line_of(entries, index)
        entry_file = getattr(entry, "source", None) or file
        sub = _subworkflow(Path(entry_file), entry, aliases, run, stack, where, line, {s.name for s in found})
        if sub is not None:
            found.append(sub)
    return found


def _subworkflow(path: Path, entry: Any, aliases: dict[str, Any], run: _Run, stack: tuple[str, ...], where: str,
                 line: int | None, taken: set[str]) -> m.SubWorkflow | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry.get("source"):
        run.error(path, line, where, "a sub-workflow needs name: and source: (a file, an import alias or a "
                                     "registry template)")
        return None
    name = entry["name"]
    for key in set(entry) - _SUB_KEYS:
        run.error(path, line_of(entry, key) or line, f"{where}.{key}",
                  f"unknown key; valid keys: {', '.join(sorted(_SUB_KEYS - {'parallel', 'timeout'}))}")
    if entry.get("parallel"):
        run.error(path, line_of(entry, "parallel") or line, f"{where}.parallel",
                  "sub-workflows run one after another (each its own resumable session); remove parallel:")
    if "timeout" in entry:
        run.error(path, line_of(entry, "timeout") or line, f"{where}.timeout",
                  "a sub-workflow timeout is not supported; give its steps timeouts")
    if name in taken:
        run.error(path, line_of(entry, "name") or line, f"{where}.name", f"a second sub-workflow named {name!r}")
    source = str(entry["source"])
    at = (path, line_of(entry, "source") or line, f"{where}.source")
    if source in aliases:
        target, data = aliases[source]
        data = copy.deepcopy(data)  # each use substitutes its own parameter values
        sha = run.scopes[-1].get(str(target), "")
    else:
        target = _relative(source, path.parent)
        if not target.is_file():
            target = templates.find(source, run.search_dirs) or target
        if str(target) in stack:
            run.error(*at, f"circular dependency: {' -> '.join(Path(p).name for p in (*stack, str(target)))}")
            return None
        data = _read(target, run, at)
        if data is None:
            return None
        sha = run.scopes[-1].get(str(target), "")
    values = entry.get("parameters", entry.get("with"))
    if values is not None and not isinstance(values, dict):
        run.error(path, line_of(entry, "parameters") or line, f"{where}.parameters", "expected a mapping")
        values = None
    child = _compose(target, data, sha, run, given=None, with_values=[(values, str(path))] if values else [],
                     stack=(*stack, str(target)))
    if child is None:
        return None
    inputs = entry.get("inputs") or {}
    outputs = entry.get("outputs") or []
    if not isinstance(inputs, dict) or not isinstance(outputs, list):
        run.error(path, line, where, "inputs: is a mapping of names to values, outputs: a list of variable names")
        inputs, outputs = {}, []
    working_dir = entry.get("working_dir")
    return m.SubWorkflow(name=name, workflow=child, continue_on_error=bool(entry.get("continue_on_error", False)),
                         working_dir=str(working_dir) if working_dir else None,
                         inputs=tuple((str(k), str(v)) for k, v in inputs.items()),
                         outputs=tuple(str(o) for o in outputs))


# ---------------------------------------------------------------- the kept form


def from_kept(doc: dict[str, Any]) -> m.Workflow:
    """The workflow a session kept (Workflow.composition), without reading any source file."""
    from prodigy.errors import StateError
    from prodigy.workflow.load import check_data

    if not isinstance(doc.get("path"), str) or not isinstance(doc.get("resolved"), (dict, list)):
        raise StateError("The composed workflow kept for this session is incomplete (no path or resolved form).",
                         hint="Resume it from the current files: prodigy resume <id> --workflow PATH")
    path = Path(doc["path"])
    result = check_data(doc["resolved"], path, _sha(doc))
    if result.workflow is None or result.errors:
        first = result.errors[0] if result.errors else "no workflow"
        raise StateError(f"The composed workflow kept for this session is not valid any more ({first}).",
                         hint="Resume it from the current files: prodigy resume <id> --workflow PATH")
    subs = tuple(m.SubWorkflow(name=s["name"], workflow=from_kept(s["kept"]),
                               continue_on_error=bool(s.get("continue_on_error")), working_dir=s.get("working_dir"),
                               inputs=tuple((s.get("inputs") or {}).items()), outputs=tuple(s.get("outputs") or ()))
                 for s in doc.get("workflows") or ())
    return dataclasses.replace(result.workflow, parameters=tuple((doc.get("parameters") or {}).items()),
                               subworkflows=subs, composition=doc)


def changed_sources(doc: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """Files the composition was made of that changed since: (path, old sha, new sha or None if gone)."""
    changed = []
    for path, sha in (doc.get("sources") or {}).items():
        try:
            now = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            now = None
        if now != sha:
            changed.append((path, sha, now))
    for sub in doc.get("workflows") or ():
        changed += [c for c in changed_sources(sub["kept"]) if c[0] not in {x[0] for x in changed}]
    return changed
