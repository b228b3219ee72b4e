"""Safe YAML loading that remembers line numbers and rejects duplicate keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class LineDict(dict[str, Any]):
    """A mapping from YAML that knows the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    """A sequence from YAML that knows its own line and each item's (1-based)."""

    line: int = 0
    item_lines: list[int]


class YamlProblem(Exception):
    """A YAML document that cannot be read; `line` is 1-based, 0 when unknown."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


# Nodes that aliases may add beyond those written out: ample for anchors reused in a rule
# pack, a configuration or a waivers file, far below what a nested alias bomb expands to.
MAX_ALIASED_NODES = 100_000


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[yaml.Node, int] = {}  # a completed node -> its size, aliases expanded
        self._written = 0  # nodes composed, each alias counted as the nodes it stands for
        self._aliased = 0  # of those, the nodes that aliases stand for

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Count nodes as consumers will see them, so that an alias bomb fails while composing."""
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            event = self.peek_event()  # type: ignore[no-untyped-call]
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's error to report
                line = event.start_mark.line + 1
                if target not in self._sizes:
                    raise YamlProblem(line, f"alias *{event.anchor} is used inside its own anchor")
                self._written += self._sizes[target]
                self._aliased += self._sizes[target]
                if self._aliased > MAX_ALIASED_NODES:
                    raise YamlProblem(
                        line,
                        f"aliases expand to more than {MAX_ALIASED_NODES} values;"
                        " write the values out or reuse fewer anchors",
                    )
            return super().compose_node(parent, index)
        before = self._written
        node = super().compose_node(parent, index)
        if node is None:
            return None
        self._written += 1
        self._sizes[node] = self._written - before
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                raise YamlProblem(
                    key_node.start_mark.line + 1,
                    f"duplicate key {key!r} (first at line {result.key_lines[key]})",
                )
            result.key_lines[key] = key_node.start_mark.line + 1
            result[key] = self.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        result = LineList(self.construct_object(child, deep=True) for child in node.value)  # type: ignore[no-untyped-call]
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    lambda loader, node: loader.construct_mapping(node),  # type: ignore[attr-defined,arg-type]
)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    lambda loader, node: loader.construct_sequence(node),  # type: ignore[attr-defined,arg-type]
)


# PyYAML's constructors raise these, without a line, for values such as `2025-02-30`.
_CONSTRUCTOR_ERRORS = (ValueError, TypeError, AttributeError, OverflowError)


def _line_of_bad_value(text: str) -> int:
    """The first line holding a scalar PyYAML cannot construct, or where its scanner stopped."""
    loader = yaml.SafeLoader(text)
    try:
        nodes, seen, lines = [loader.get_single_node()], set(), []
        while nodes:
            node = nodes.pop()
            if node is None or id(node) in seen:  # aliases can make the graph cyclic
                continue
            seen.add(id(node))
            if isinstance(node, yaml.ScalarNode):
                try:
                    loader.construct_object(node, deep=True)
                except _CONSTRUCTOR_ERRORS:
                    lines.append(node.start_mark.line + 1)
            elif isinstance(node, yaml.SequenceNode):
                nodes.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                nodes.extend(part for pair in node.value for part in pair)
        return min(lines, default=0)
    except (yaml.YAMLError, *_CONSTRUCTOR_ERRORS):
        # The scanner itself failed, say on an escape naming no character.
        return int(loader.line) + 1
    finally:
        loader.dispose()


def load_text(text: str) -> Any:
    """Parse one YAML document safely (no tags beyond the standard ones)."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlProblem(line, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(0, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlProblem(0, "invalid YAML: nested too deeply") from None
    except _CONSTRUCTOR_ERRORS as exc:
        raise YamlProblem(_line_of_bad_value(text), f"invalid YAML value: {exc}") from None


def load_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise YamlProblem(0, "not UTF-8 text") from None
    return load_text(text)


def line_of(container: Any, key: str | int | None = None) -> int:
    """Best line number for `container[key]` (or the container itself); 0 when unknown."""
    if isinstance(container, LineDict):
        if isinstance(key, str) and key in container.key_lines:
            return container.key_lines[key]
        return container.line
    if isinstance(container, LineList):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line
    return 0
