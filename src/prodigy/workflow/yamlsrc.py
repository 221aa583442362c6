"""Parse YAML or JSON workflow text into plain data that remembers the line of every key and list item."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from prodigy.errors import WorkflowFileError
from prodigy.workflow.yaml_bounds import MAX_DOCUMENT_BYTES, BoundedComposer, YAMLBoundError


class LineDict(dict):
    """A dict that knows its own line and the line of each key (1-based)."""

    line: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}
        self.duplicates: list[tuple[Any, int]] = []


class LineList(list):
    line: int | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines: list[int] = []


class _Loader(BoundedComposer, yaml.SafeLoader):  # nesting depth and alias expansion are bounded
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            result.duplicates.append((key, key_node.start_mark.line + 1))
        try:
            result[key] = loader.construct_object(value_node, deep=True)
        except TypeError:  # an unhashable key (a list as a key)
            raise yaml.constructor.ConstructorError(
                None, None, "found an unhashable key", key_node.start_mark) from None
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse_text(text: str, path: Path) -> Any:
    if len(text) > MAX_DOCUMENT_BYTES:
        raise WorkflowFileError(f"{path}: the file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB, more "
                                "than any workflow needs; is it the right file?")
    if path.suffix.lower() == ".json":
        return _parse_json(text, path)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        from prodigy.workflow.yaml_hints import explain

        found = explain(exc, text)
        where = f"{path}:{found.line}:{found.column}" if found.line else str(path)
        raise WorkflowFileError(f"{where}: invalid YAML: {found.problem}", hint=found.hint) from None
    except yaml.YAMLError as exc:
        raise WorkflowFileError(f"{path}: invalid YAML: {exc}") from None


def _parse_json(text: str, path: Path) -> Any:
    try:
        located = yaml.load(text, Loader=_Loader)  # noqa: S506 - bounded first: json.loads recurses unbounded
    except yaml.MarkedYAMLError as exc:
        if isinstance(exc, YAMLBoundError) and exc.problem_mark is not None:
            mark = exc.problem_mark
            raise WorkflowFileError(f"{path}:{mark.line + 1}:{mark.column + 1}: {exc.problem}") from None
        located = None
    except yaml.YAMLError:
        located = None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowFileError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise WorkflowFileError(f"{path}: the document is nested too deeply") from None
    # JSON is (nearly) YAML: the YAML parse supplies the line of every key and item, and duplicate keys;
    # the values stay json's (YAML 1.1 would read `1e5` as a string).
    return _with_lines(data, located)


def _with_lines(value: Any, located: Any) -> Any:
    if isinstance(value, dict):
        result = LineDict()
        where = located if isinstance(located, LineDict) else None
        if where is not None:
            result.line = where.line
            result.duplicates = list(where.duplicates)
        for key, item in value.items():
            result[key] = _with_lines(item, where.get(key) if where is not None else None)
            if where is not None and key in where.key_lines:
                result.key_lines[key] = where.key_lines[key]
        return result
    if isinstance(value, list):
        same = isinstance(located, LineList) and len(located) == len(value)
        result_list = LineList(_with_lines(v, located[i] if same else None) for i, v in enumerate(value))
        if same:
            result_list.line = located.line
            result_list.item_lines = list(located.item_lines)
        return result_list
    return value


def line_of(container: Any, key: Any = None) -> int | None:
    if isinstance(container, LineDict):
        return container.key_lines.get(key, container.line) if key is not None else container.line
    if isinstance(container, LineList):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line
    return None
