"""Bounds on YAML that prodigy reads: a workflow file, or write_file content rendered with item data.

Without them a hostile or broken document costs unbounded time and memory: thousands of nesting levels
overflow the parser's recursion (a crash), and a few lines of aliases (a "billion laughs") expand to more
nodes than memory holds once the data is walked, dumped or interpolated. Each bound is checked while the
document is composed, and its error names the line where the limit was crossed.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024  # a real workflow is a few KB
MAX_DEPTH = 64  # nesting levels of mappings and lists
MAX_NODES = 200_000  # nodes of the document with every alias expanded


class YAMLBoundError(yaml.composer.ComposerError):
    """A document over one of the bounds; a MarkedYAMLError, so it is reported with its line."""


class BoundedComposer(yaml.composer.Composer):
    """A Composer that refuses documents nested too deeply or expanding (through aliases) to too many nodes."""

    def compose_document(self) -> Any:
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> its size with aliases expanded
        self._done: set[int] = set()  # collections composed to their end (an alias to any other is a cycle)
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.CollectionNode) and id(node) not in self._done:
                raise YAMLBoundError(None, None, f"the alias *{event.anchor} refers to a node that contains it "
                                     "(a recursive alias)", event.start_mark)
            self._count(node, event, self._sizes.get(id(node), 1))
            return node
        collection = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        if collection:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise YAMLBoundError(None, None, f"the document is nested more than {MAX_DEPTH} levels deep",
                                     event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= collection
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes.get(id(child), 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
        self._count(node, event, size)
        if collection:
            self._done.add(id(node))
        return node

    def _count(self, node: Any, event: Any, size: int) -> None:
        if size > MAX_NODES:
            raise YAMLBoundError(None, None, f"aliases expand the document to more than {MAX_NODES:,} values",
                                 event.start_mark)
        if size > 1:
            self._sizes[id(node)] = size


class BoundedSafeLoader(BoundedComposer, yaml.SafeLoader):
    pass


def safe_load(text: str) -> Any:
    """yaml.safe_load within the bounds (raises a yaml.YAMLError past them)."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise yaml.YAMLError(f"the document is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
    return yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 - derives from SafeLoader
