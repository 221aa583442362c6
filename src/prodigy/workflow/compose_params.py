"""Parameters of composed workflows: `parameters:` definitions (required/optional lists or a definitions map),
values from `--param KEY=VALUE` (parsed as JSON when they parse), `--param-file`, a template's `with:`,
`defaults:` and each definition's `default`, in that order of precedence; type checks and `validation:`
expressions. Problems are collected with the file and line of the definition or value at fault."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prodigy.errors import UsageError
from prodigy.workflow.load_common import Problem
from prodigy.workflow.yamlsrc import LineDict, line_of

TYPES = {"string": "String", "number": "Number", "boolean": "Boolean", "array": "Array", "object": "Object",
         "any": "Any"}
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MATCHES = re.compile(r"^\s*matches\(\s*(['\"].*['\"])\s*\)\s*$", re.S)
_IN = re.compile(r"^\s*in\(\s*(\[.*\])\s*\)\s*$", re.S)


@dataclass(frozen=True)
class ParamInput:
    """What the command line gave: --param values (parsed, and their text) and --param-file values."""

    cli: dict[str, Any] = field(default_factory=dict)
    cli_text: dict[str, str] = field(default_factory=dict)
    file: dict[str, Any] = field(default_factory=dict)
    file_path: str | None = None

    @property
    def given(self) -> dict[str, Any]:
        return {**self.file, **self.cli}


def parse_param(text: str) -> tuple[str, Any, str]:
    """`KEY=VALUE` -> (key, value parsed as JSON when it parses, the text)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key):
        raise UsageError(f"Invalid --param {text!r}: expected KEY=VALUE.",
                         hint="Example: --param environment=staging --param replicas=3 --param 'tags=[\"a\",\"b\"]'")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return key, parsed, value


def read_param_file(path: str) -> dict[str, Any]:
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot read --param-file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"--param-file {path} is not valid {'JSON' if file.suffix == '.json' else 'YAML'}: "
                         f"{str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise UsageError(f"--param-file {path} must hold a mapping of parameter names to values.")
    return dict(data)


def param_input(params: tuple[str, ...], param_file: str | None) -> ParamInput:
    cli: dict[str, Any] = {}
    text: dict[str, str] = {}
    for item in params:
        key, value, raw = parse_param(item)
        cli[key], text[key] = value, raw
    return ParamInput(cli=cli, cli_text=text, file=read_param_file(param_file) if param_file else {},
                      file_path=param_file)


@dataclass(frozen=True)
class Definition:
    name: str
    type: str  # String | Number | Boolean | Array | Object | Any
    required: bool
    has_default: bool
    default: Any
    validation: str | None
    description: str | None
    file: str
    line: int | None


def definitions(data: Any, file: str, problems: list[Problem]) -> list[Definition]:
    """Read `parameters:`: {required: [...], optional: [...], definitions: {name: {...}}}; list entries are names
    or mappings with `name`."""
    if data is None:
        return []
    if not isinstance(data, dict):
        problems.append(Problem(file, line_of(data), "parameters",
                                "expected a mapping with required:, optional: or definitions:"))
        return []
    found: dict[str, Definition] = {}
    for key in data:
        if key not in ("required", "optional", "definitions"):
            problems.append(Problem(_file(data, key, file), line_of(data, key), f"parameters.{key}",
                                    "unknown key; use required:, optional: or definitions:"))
    for group in ("required", "optional"):
        entries = data.get(group) or []
        if not isinstance(entries, list):
            problems.append(Problem(_file(data, group, file), line_of(data, group), f"parameters.{group}",
                                    "expected a list of names or {name, type, default, validation}"))
            continue
        for index, entry in enumerate(entries):
            spec = {"name": entry} if isinstance(entry, str) else entry
            where = f"parameters.{group}[{index}]"
            one = _definition(spec, group == "required", _file(entries, index, file), line_of(entries, index),
                              where, problems)
            if one is not None:
                found[one.name] = one
    named = data.get("definitions") or {}
    if isinstance(named, dict):
        for name, spec in named.items():
            where = f"parameters.definitions.{name}"
            spec = {"name": name, **(spec if isinstance(spec, dict) else {})}
            required = bool(spec.get("required", found[name].required if name in found else False))
            one = _definition(spec, required, _file(named, name, file), line_of(named, name), where, problems)
            if one is not None:
                found[name] = one
    return list(found.values())


def _file(container: Any, key: Any, default: str) -> str:
    sources = getattr(container, "key_sources", None) or {}
    return str(sources.get(key) or getattr(container, "source", None) or default)


def _definition(spec: Any, required: bool, file: str, line: int | None, where: str,
                problems: list[Problem]) -> Definition | None:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not _KEY.match(spec["name"]):
        problems.append(Problem(file, line, where, "a parameter needs a name (letters, digits, _ or -)"))
        return None
    allowed = {"name", "type", "default", "validation", "description", "required"}
    for key in spec:
        if key not in allowed:
            problems.append(Problem(file, line_of(spec, key) or line, f"{where}.{key}",
                                    f"unknown key; valid keys: {', '.join(sorted(allowed))}"))
    kind = TYPES.get(str(spec.get("type", "Any")).lower())
    if kind is None:
        problems.append(Problem(file, line_of(spec, "type") or line, f"{where}.type",
                                f"unknown type {spec.get('type')!r}; use {', '.join(TYPES.values())}"))
        kind = "Any"
    validation = spec.get("validation")
    if validation is not None:
        validation = str(validation)
        try:
            _predicate(validation)
        except Exception as exc:  # noqa: BLE001 - any parse error of the expression is the user's to see
            problems.append(Problem(file, line_of(spec, "validation") or line, f"{where}.validation", str(exc)))
            validation = None
    return Definition(name=spec["name"], type=kind, required=required, has_default="default" in spec,
                      default=spec.get("default"), validation=validation,
                      description=str(spec["description"]) if spec.get("description") is not None else None,
                      file=file, line=line)


def _predicate(text: str) -> Any:
    from prodigy.workflow import expr

    text = _MATCHES.sub(r"matches(value, \1)", text)
    text = _IN.sub(r"value in \1", text)
    return expr.compile_predicate(text, kind="validation")


def type_ok(kind: str, value: Any) -> bool:
    return {
        "String": isinstance(value, str),
        "Number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "Boolean": isinstance(value, bool),
        "Array": isinstance(value, list),
        "Object": isinstance(value, dict),
    }.get(kind, True)


@dataclass(frozen=True)
class Source:
    """Where a value came from, for messages: --param, --param-file, with:, defaults:, default."""

    label: str
    file: str
    line: int | None


def resolve_values(defs: list[Definition], *, given: ParamInput | None, with_values: list[tuple[LineDict, str]],
                   defaults: Any, main: str, problems: list[Problem], strict: bool) -> dict[str, Any]:
    """The parameter values, highest precedence first: --param, --param-file, template with:, defaults:,
    definition default. Without definitions every given value is a variable. `strict` (a run): a required
    parameter without a value is an error; otherwise (validate) a warning."""
    values: dict[str, tuple[Any, Source]] = {}
    by_name = {d.name: d for d in defs}
    layers: list[tuple[dict[str, Any], Any]] = []
    if isinstance(defaults, dict):
        layers.append((dict(defaults), lambda k, c=defaults: Source("defaults:", _file(c, k, main), line_of(c, k))))
    for data, file in with_values:
        layers.append((dict(data), lambda k, c=data, f=file: Source("with:", _file(c, k, f), line_of(c, k))))
    if given is not None:
        where = given.file_path or "--param-file"
        layers.append((given.file, lambda k, w=where: Source("--param-file", w, None)))
        layers.append((given.cli, lambda k: Source("--param", "--param", None)))
    for data, source_of in layers:
        for key, value in data.items():
            values[str(key)] = (value, source_of(key))
    for definition in defs:
        if definition.name not in values and definition.has_default:
            values[definition.name] = (definition.default, Source("default", definition.file, definition.line))
    result: dict[str, Any] = {}
    for name, (value, source) in values.items():
        definition = by_name.get(name)
        if definition is None:
            if defs and source.label != "defaults:":
                known = ", ".join(sorted(by_name))
                problems.append(Problem(source.file, source.line, name, f"unknown parameter (from {source.label}); "
                                        f"the workflow declares: {known}"))
                continue
            result[name] = value
            continue
        if source.label == "--param" and definition.type == "String" and given is not None:
            value = given.cli_text.get(name, value)  # --param version=1.0 is the string "1.0" for a String
        if not type_ok(definition.type, value):
            problems.append(Problem(source.file, source.line, name,
                                    f"expected {definition.type}, got {_kind(value)} {_show(value)} (from "
                                    f"{source.label}; the parameter is declared at {definition.file}:"
                                    f"{definition.line})"))
            continue
        if definition.validation and not _predicate(definition.validation)({"value": value, name: value}):
            problems.append(Problem(source.file, source.line, name,
                                    f"{_show(value)} (from {source.label}) fails the validation "
                                    f"{definition.validation!r} declared at {definition.file}:{definition.line}"))
            continue
        result[name] = value
    for definition in defs:
        if definition.required and definition.name not in values:
            message = f"required parameter has no value; pass --param {definition.name}=..."
            problems.append(Problem(definition.file, definition.line, definition.name, message,
                                    "error" if strict else "warning"))
    return result


def _kind(value: Any) -> str:
    for kind in ("Boolean", "Number", "String", "Array", "Object"):
        if type_ok(kind, value):
            return kind
    return "null" if value is None else type(value).__name__


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
