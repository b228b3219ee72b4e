"""A minimal element tree from html.parser, enough to look reports up by id and attribute."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

# SVG children written as <rect/> arrive through handle_startendtag, so only HTML's list here.
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, match: Callable[[Element], bool]) -> list[Element]:
        return [e for e in self.iter() if match(e)]

    def select(self, tag: str | None = None, **attrs: str | None) -> list[Element]:
        """Elements with this tag (any when None) whose attributes equal `attrs` (`_` for `-`);
        a value of None only asks that the attribute is present."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}

        def match(e: Element) -> bool:
            if tag is not None and e.tag != tag:
                return False
            return all(k in e.attrs and (v is None or e.attrs[k] == v) for k, v in wanted.items())

        return self.find_all(match)

    def by_id(self, element_id: str) -> Element:
        (found,) = self.select(id=element_id)
        return found

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def hidden(self) -> bool:
        """Hidden itself or inside a hidden element."""
        node: Element | None = self
        while node is not None:
            if "hidden" in node.attrs:
                return True
            node = node.parent
        return False


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), self.current)
        self.current.children.append(element)
        if tag not in _VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is None:
            raise AssertionError(f"stray </{tag}>")
        if node is not self.current:
            raise AssertionError(f"</{tag}> closes <{self.current.tag}> too: not well nested")
        self.current = node.parent or self.root

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Element:
    """The document tree; raises when elements are not properly nested and closed."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, f"<{builder.current.tag}> never closed"
    return builder.root
