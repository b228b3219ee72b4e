"""The one strict reader of YAML inputs: every problem located, bounded, and reported together.

yamlio parses (safely, with line numbers); this module checks what was parsed. Rules, the scan
configuration, waivers, compliance mappings and the lab definition all report through it, so
each problem reads `path:line: key.path: message`, echoes no over-long value and no secret, and
all problems of an input end the command together as one InputProblems (exit code 2).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jsonschema

from auditor.errors import InputProblems
from auditor.yamlio import LineDict, LineList, YamlProblem, load_file

T = TypeVar("T")

MAX_SHOWN = 100  # characters of a value a message echoes: a hostile value must not flood stderr
MAX_KEY = 200  # characters of a key path (keys are input too)
MAX_MESSAGE = 500  # a last bound, for text written by others (jsonschema, the CEL compiler)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def kind(value: object) -> str:
    """What a value is, in the words of a message: never the value itself."""
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dt.date):
        return "date"
    return type(value).__name__


def shown(value: object) -> str:
    """`value` as a message may echo it: quoted, at most MAX_SHOWN characters of it."""
    if isinstance(value, str):
        return repr(value) if len(value) <= MAX_SHOWN else repr(value[:MAX_SHOWN]) + "..."
    if isinstance(value, Mapping | list):  # never printed whole: it may be huge
        return f"a {kind(value)}"
    return _cut(repr(value), MAX_SHOWN)


def _line(container: object, key: str | int | None = None) -> int | None:
    """The line of `container[key]` (or of the container); None when the data has no lines."""
    if isinstance(container, LineDict):
        key_lines = getattr(container, "key_lines", {})  # a LineDict() made in code has none
        return key_lines.get(key, container.line) if isinstance(key, str) else container.line
    if isinstance(container, LineList):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line
    return None


class Problems:
    """Every problem of one input, each `where:line: key: message`; `check` raises them all.

    `lines=False` leaves the line out, for inputs whose messages were documented without one.
    """

    def __init__(self, where: str, *, lines: bool = True) -> None:
        self.where = where
        self.lines = lines
        self.items: list[str] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, line: int | None, message: str, key: str = "") -> None:
        at = f"{self.where}:{line}" if line is not None and self.lines else self.where
        named = f"{_cut(key, MAX_KEY)}: " if key else ""
        self.items.append(f"{at}: {named}{_cut(message, MAX_MESSAGE)}")

    def about(self, where: str) -> Problems:
        """A collector for another file whose problems join these (a rule pack: one error)."""
        other = Problems(where, lines=self.lines)
        other.items = self.items
        return other

    def check(self, error: Callable[[list[str]], Exception] = InputProblems) -> None:
        """Raise every problem so far as one error; nothing when there is none."""
        if self.items:
            raise error(self.items)

    def root(self, value: Any, key: str = "") -> Node:
        return Node(self, value, key, _line(value))

    def load(self, path: Path) -> Node | None:
        """The parsed file, or None after adding why it cannot be parsed (an OSError is the
        caller's to word: each input names a missing file its own way)."""
        try:
            value = load_file(path)
        except YamlProblem as exc:
            self.add(exc.line, exc.message)
            return None
        line = _line(value)
        return Node(self, value, "", 0 if line is None else line)  # a bare scalar: line unknown


@dataclass(frozen=True)
class Node:
    """One value of an input with the key path and line a problem about it names.

    The checks return the value (or None, or a default) and add a problem when it is wrong, so a
    reader goes on and finds the next one. A key that is absent and a key set to null (`key:`
    with nothing after it) read the same: not given.
    """

    problems: Problems
    value: Any
    key: str = ""
    line: int | None = None
    present: bool = True

    def _child(self, name: object) -> str:
        name = _cut(str(name), MAX_SHOWN)
        return f"{self.key}.{name}" if self.key else name

    def __getitem__(self, name: str) -> Node:
        """The value under `name` of this mapping; absent when there is none (or no mapping)."""
        if isinstance(self.value, Mapping) and name in self.value:
            return Node(self.problems, self.value[name], self._child(name), _line(self.value, name))
        return Node(self.problems, None, self._child(name), self.line, present=False)

    def _item(self, index: int) -> Node:
        value = self.value[index]
        return Node(self.problems, value, f"{self.key}[{index}]", _line(self.value, index))

    def items(self) -> list[Node]:
        """The items of this list (none when it is not one), keyed `key[i]`."""
        if not isinstance(self.value, list):
            return []
        return [self._item(i) for i in range(len(self.value))]

    def entries(self) -> list[tuple[str, Node]]:
        """The keys and values of this mapping (none when it is not one)."""
        if not isinstance(self.value, Mapping):
            return []
        return [(str(name), self[name]) for name in self.value]

    def find(self, path: Iterable[str | int]) -> Node:
        """The node at `path`, or the deepest one there is on the way (for its line)."""
        node = self
        for part in path:
            if isinstance(part, int) and isinstance(node.value, list) and part < len(node.value):
                node = node._item(part)
            elif isinstance(part, str) and isinstance(node.value, Mapping) and part in node.value:
                node = node[part]
            else:
                break
        return node

    def fail(self, message: str) -> None:
        """A problem about this value, named by its key path."""
        self.problems.add(self.line, message, self.key)

    def mapping(self, *, nothing: bool = False) -> Mapping[str, Any] | None:
        """This value as a mapping, or None after saying it is not one.

        `nothing`: absent or null reads as an empty mapping, for optional sections.
        """
        if nothing and self.value is None:
            return {}
        if isinstance(self.value, Mapping):
            return self.value
        self.fail(f"expected a mapping, got {kind(self.value)}")
        return None

    def keys(
        self,
        allowed: Collection[str],
        required: Sequence[str] = (),
        *,
        within: str = "",
        terse: bool = False,
    ) -> None:
        """Unknown and missing keys of this mapping, each a problem.

        The unknown key is named in the message with the allowed ones (`unknown key 'colour'
        (allowed: ...)`, `within` adds ` in WHAT`); `terse` names it in the key path instead
        (`domain.colour: unknown key`, the lab domain's documented form).
        """
        value = self.value
        if not isinstance(value, Mapping):
            return
        for name in value:
            if name in allowed:
                continue
            line = _line(value, name)
            if terse:
                self.problems.add(line, "unknown key", self._child(name))
            else:
                where = f" in {within}" if within else ""
                listed = ", ".join(sorted(allowed))
                message = f"unknown key {shown(name)}{where} (allowed: {listed})"
                self.problems.add(line, message, self.key)
        for name in required:
            if name in value:
                continue
            if terse:
                self.problems.add(self.line, "required key is missing", self._child(name))
            else:
                self.problems.add(self.line, f"missing required key '{name}'", self.key)

    def text(self, *, nonempty: bool = False) -> str | None:
        """A string (not empty or blank, with `nonempty`), or None when not given or wrong."""
        value = self.value
        if value is None:
            return None
        if not isinstance(value, str):
            wanted = "a non-empty string" if nonempty else "a string"
            self.fail(f"expected {wanted}, got {kind(value)}")
            return None
        if "\x00" in value:
            self.fail("NUL characters are not allowed")
            return None
        if nonempty and not value.strip():
            self.fail("must not be empty")
            return None
        return value

    def boolean(self, default: bool) -> bool:
        if not self.present:
            return default
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {kind(self.value)}")
            return default
        return self.value

    def integer(self, low: int, high: int) -> int | None:
        value = self.value
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"expected an integer, got {kind(value)}")
            return None
        if not low <= value <= high:
            self.fail(f"must be between {low} and {high}, got {shown(value)}")
            return None
        return value

    def choice(self, options: Sequence[str]) -> str | None:
        """One of `options` (an enumeration), or None when not given or not one of them."""
        value = self.value
        if value is None:
            return None
        if isinstance(value, str) and value in options:
            return value
        self.fail(f"must be one of {', '.join(options)} (got {shown(value)})")
        return None

    def each(self, convert: Callable[[Node], T | None]) -> tuple[T, ...]:
        """Each item of this list converted; items that convert to None are left out."""
        if self.value is None:
            return ()
        if not isinstance(self.value, list):
            self.fail(f"expected a list, got {kind(self.value)}")
            return ()
        converted = (convert(item) for item in self.items())
        return tuple(item for item in converted if item is not None)

    def strings(self) -> tuple[str, ...]:
        """A list of non-empty strings."""
        return self.each(lambda item: item.text(nonempty=True))


# --- JSON schemas, for inputs whose shape is a schema (the scan configuration) ------------------

_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


def _schema_message(error: jsonschema.ValidationError) -> str:
    """The reader's words for the common validators; jsonschema's own for the rest."""
    name, limit, instance = error.validator, error.validator_value, error.instance
    if name == "type" and isinstance(limit, str):
        return f"expected {_TYPES.get(limit, limit)}, got {kind(instance)}"
    if name == "enum":
        return f"must be one of {', '.join(map(str, limit))} (got {shown(instance)})"
    if name == "minimum":
        return f"must be at least {limit}"
    if name == "maximum":
        return f"must be at most {limit}"
    if name == "exclusiveMinimum":
        return f"must be more than {limit}"
    if name == "minLength":
        return "must not be empty" if limit == 1 else f"shorter than {limit} characters"
    if name == "maxLength":  # never echo the over-long value itself
        return f"longer than {limit} characters"
    if name == "pattern":
        return f"does not match {limit}"
    return str(error.message)  # may echo the value: bounded by MAX_MESSAGE


def _sort_key(path: Iterable[str | int]) -> list[tuple[int, int, str]]:
    return [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in path]


def check_schema(
    root: Node, schema: Mapping[str, Any], *, secrets: Mapping[str, str] | None = None
) -> None:
    """Every way `root` breaks a JSON schema, as problems keyed `a.b.0` at their lines.

    `secrets` maps the key paths whose values no message may repeat (credentials.password) to
    the one message said of any problem there.
    """
    secrets = secrets or {}
    validator = jsonschema.Draft202012Validator(schema)
    missing_seen: set[tuple[str, str]] = set()
    errors = sorted(validator.iter_errors(root.value), key=lambda e: _sort_key(e.absolute_path))
    for error in errors:
        path = list(error.absolute_path)
        node = root.find(path)
        dotted = ".".join(str(p) for p in path)
        instance = error.instance
        if error.validator == "additionalProperties" and isinstance(instance, Mapping):
            known = error.schema.get("properties", {})
            for name in instance:
                if name not in known:
                    listed = ", ".join(sorted(known))
                    message = f"unknown key {shown(name)} (allowed: {listed})"
                    root.problems.add(node[str(name)].line, message, dotted)
        elif error.validator == "required" and isinstance(instance, Mapping):
            for name in error.validator_value:
                if name not in instance and (dotted, name) not in missing_seen:
                    missing_seen.add((dotted, name))
                    root.problems.add(node.line, f"missing required key '{name}'", dotted)
        elif dotted in secrets:
            root.problems.add(node.line, secrets[dotted], dotted)
        else:
            root.problems.add(node.line, _schema_message(error), dotted)
