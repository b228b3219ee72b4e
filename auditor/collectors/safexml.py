"""XML from a host, parsed by an expat parser that refuses any DTD, so no entity ever expands."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat


class XmlRefused(ValueError):
    """Not well-formed, or declares a DTD; the message completes "the document ..."."""


def _refuse_dtd(*_: object) -> None:
    raise XmlRefused("declares a DTD; not parsed")


def parse_without_dtd(data: bytes | str) -> ET.Element:
    """The document's element tree; tags and attribute names in Clark notation ({uri}local).

    The parser, not a byte search, sees the DTD, in whatever encoding the document declares
    (UTF-16 included): without one no entity can be declared, so none is ever expanded. Text
    already decoded (str) is read as such, whatever encoding its declaration names.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator=" ")  # "uri local": no URI holds a space

    def clark(name: str) -> str:
        uri, _, local = name.rpartition(" ")
        return f"{{{uri}}}{local}" if uri else local

    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.StartElementHandler = lambda name, attributes: builder.start(
        clark(name), {clark(key): value for key, value in attributes.items()}
    )
    parser.EndElementHandler = lambda name: builder.end(clark(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise XmlRefused(f"is not well-formed XML: {exc}") from exc
    return builder.close()
