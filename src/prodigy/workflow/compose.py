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
from pathlib import Path
from typing import Any

from prodigy.state import templates
from prodigy.workflow import compose_layers as layers
from prodigy.workflow import model as m
from prodigy.workflow.compose_merge import (
    locate,
    plain,
    substitute_whole,
    tag,
    without,
)
from prodigy.workflow.compose_params import ParamInput, definitions, resolve_values
from prodigy.workflow.load_common import COMPOSITION_KEYS
from prodigy.workflow.yamlsrc import LineDict, LineList, line_of

_SUB_KEYS = {"name", "source", "parameters", "with", "inputs", "outputs", "continue_on_error", "working_dir",
             "parallel", "timeout"}


def check(path: Path, data: Any, sha: str, *, params: ParamInput | None = None, search_dirs: tuple[Path, ...] = (),
          strict: bool = False) -> Any:
    """The composed workflow and every problem (load.LoadResult)."""
    from prodigy.workflow.load import LoadResult

    run = layers.Run(search_dirs=tuple(search_dirs) or (Path.cwd(),), strict=strict)
    if isinstance(data, list):  # a bare list of steps, given --param values
        data = LineDict({"commands": data})
    workflow = _compose(path, tag(data, str(path)), sha, run, given=params, with_values=[], stack=(str(path),))
    return LoadResult(workflow, tuple(run.problems))


def _compose(path: Path, data: Any, sha: str, run: layers.Run, *, given: ParamInput | None,
             with_values: list[tuple[Any, str]], stack: tuple[str, ...]) -> m.Workflow | None:
    """`with_values`: the caller's parameter values (a sub-workflow entry's parameters:), above any template's."""
    run.scopes.append({str(path): sha})
    try:
        return _compose_scoped(path, data, run, given=given, with_values=with_values, stack=stack)
    finally:
        run.scopes.pop()


def _compose_scoped(path: Path, data: Any, run: layers.Run, *, given: ParamInput | None,
                    with_values: list[tuple[Any, str]], stack: tuple[str, ...]) -> m.Workflow | None:
    from prodigy.workflow.load import check_data

    collected: list[tuple[Any, str]] = []  # templates' with: values, innermost (lowest) first
    errors_before = sum(p.severity == "error" for p in run.problems)
    resolved, aliases = layers.resolve(path, data, run, stack, collected)
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


# ---------------------------------------------------------------- sub-workflows


def _subworkflows(path: Path, resolved: Any, aliases: dict[str, Any], run: layers.Run,
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


def _subworkflow(path: Path, entry: Any, aliases: dict[str, Any], run: layers.Run, stack: tuple[str, ...], where: str,
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
        target = layers.relative(source, path.parent)
        if not target.is_file():
            target = templates.find(source, run.search_dirs) or target
        if str(target) in stack:
            run.error(*at, f"circular dependency: {' -> '.join(Path(p).name for p in (*stack, str(target)))}")
            return None
        data = layers.read(target, run, at)
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
