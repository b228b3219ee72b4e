"""SOAP envelopes written the way Windows writes them, and the WS-Man headers of requests."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "e": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
    "wsmid": "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd",
    "pwsh": "http://schemas.microsoft.com/powershell",
}
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True)
class Element:
    """An element with a prefixed name; `children` are elements or text."""

    tag: str
    children: tuple[Element | str, ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()
    self_closing: bool = False


def el(tag: str, *children: Element | str | None, **attrs: str) -> Element:
    """Build an element; `xmlns_cfg=...` becomes `xmlns:cfg`, `xml_lang` becomes `xml:lang`."""
    pairs = tuple(
        (k.replace("_", ":", 1) if k.startswith("xml") else k, v) for k, v in attrs.items()
    )
    return Element(tag, tuple(c for c in children if c is not None), pairs)


def void(tag: str) -> Element:
    """An element Windows always writes self-closed, such as `<rsp:SendResponse/>`."""
    return Element(tag, self_closing=True)


def with_attrs(element: Element, attrs: Iterable[tuple[str, str]]) -> Element:
    """`element` with extra attributes (Source="GPO" and the like)."""
    return Element(
        element.tag, element.children, element.attrs + tuple(attrs), element.self_closing
    )


def render(element: Element) -> str:
    """Serialise without re-declaring prefixes: the envelope declares them once, as Windows does."""
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in element.attrs)
    if element.self_closing:
        return f"<{element.tag}{attrs}/>"
    inner = "".join(render(c) if isinstance(c, Element) else escape(c) for c in element.children)
    return f"<{element.tag}{attrs}>{inner}</{element.tag}>"


def envelope(
    prefixes: Iterable[str],
    action: str,
    relates_to: str,
    body: Iterable[Element],
) -> bytes:
    """A response envelope: header Action/MessageID/To/RelatesTo and the given body."""
    declarations = " ".join(f"xmlns:{p}={quoteattr(NS[p])}" for p in prefixes)
    header = (
        f"<s:Header><a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>{ANONYMOUS}</a:To><a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
    )
    content = "".join(render(b) for b in body)
    opening = f'<s:Envelope xml:lang="en-US" {declarations}>'
    return f"{opening}{header}<s:Body>{content}</s:Body></s:Envelope>".encode()


class RequestError(ValueError):
    """A request that is not a WS-Man envelope, or whose headers are invalid.

    `header` names the invalid header, if that is the problem; `message_id` is
    the request's MessageID, for the fault's RelatesTo.
    """

    def __init__(self, message: str, *, header: str | None = None, message_id: str = "") -> None:
        super().__init__(message)
        self.header = header
        self.message_id = message_id


@dataclass(frozen=True)
class WSManRequest:
    """The headers of a WS-Man request that the emulation acts on, and its body element."""

    action: str
    resource_uri: str
    message_id: str
    to: str
    operation_timeout: float
    max_envelope_size: int
    selectors: Mapping[str, str] = field(default_factory=dict, hash=False)
    options: Mapping[str, str] = field(default_factory=dict, hash=False)
    body: ET.Element | None = field(default=None, hash=False, compare=False)

    def selector(self, name: str) -> str | None:
        """Selector names are case-insensitive (MS-WSMV 3.1.4.1.2)."""
        return self.selectors.get(name.lower())


def _q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def parse_duration(text: str) -> float | None:
    """Seconds of an xs:duration such as PT20S or PT60.000S; None if it is not one."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        return None
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def parse_xml(data: bytes) -> ET.Element:
    """Parse a request body; expat refuses entity-expansion bombs since 2.4.1."""
    return ET.fromstring(data)  # noqa: S314 - expat >= 2.4.1 limits amplification


def parse_request(root: ET.Element) -> WSManRequest:
    """Read the WS-Man headers of an envelope; raises RequestError on an invalid header."""
    if root.tag != _q("s", "Envelope"):
        raise RequestError(f"root element {root.tag} is not a SOAP 1.2 Envelope")
    header = root.find(_q("s", "Header"))
    body = root.find(_q("s", "Body"))

    def text(prefix: str, local: str) -> str:
        node = header.find(_q(prefix, local)) if header is not None else None
        return (node.text or "").strip() if node is not None else ""

    message_id = text("a", "MessageID")
    timeout_text = text("w", "OperationTimeout")
    timeout = parse_duration(timeout_text) if timeout_text else 60.0
    if timeout is None:
        raise RequestError(
            "The WS-Management service cannot process the request. The XML contains an invalid "
            f"timeout field in the SOAP header: {timeout_text}. ",
            header="OperationTimeout",
            message_id=message_id,
        )
    envelope_text = text("w", "MaxEnvelopeSize") or "153600"
    if not envelope_text.isdigit():
        raise RequestError(
            "The WS-Management service cannot process the request. The maximum envelope size "
            f"in the request is not valid: {envelope_text}. ",
            header="MaxEnvelopeSize",
            message_id=message_id,
        )
    selectors: dict[str, str] = {}
    options: dict[str, str] = {}
    if header is not None:
        for node in header.iterfind(f"{_q('w', 'SelectorSet')}/{_q('w', 'Selector')}"):
            selectors[node.get("Name", "").lower()] = (node.text or "").strip()
        for node in header.iterfind(f"{_q('w', 'OptionSet')}/{_q('w', 'Option')}"):
            options[node.get("Name", "")] = (node.text or "").strip()
    return WSManRequest(
        action=text("a", "Action"),
        resource_uri=text("w", "ResourceURI"),
        message_id=message_id,
        to=text("a", "To"),
        operation_timeout=timeout,
        max_envelope_size=int(envelope_text),
        selectors=selectors,
        options=options,
        body=body[0] if body is not None and len(body) else None,
    )


def is_identify(root: ET.Element) -> bool:
    """An Identify request: a wsmid:Identify body and no Action header."""
    body = root.find(_q("s", "Body"))
    return body is not None and body.find(_q("wsmid", "Identify")) is not None


def identify_response(product_version: str, profiles: Iterable[str]) -> bytes:
    """IdentifyResponse; Windows leaves out the OS version (0.0.0) when not authenticated."""
    names = [el("wsmid:SecurityProfileName", p) for p in profiles]
    response = el(
        "wsmid:IdentifyResponse",
        el("wsmid:ProtocolVersion", NS["w"]),
        el("wsmid:ProductVendor", "Microsoft Corporation"),
        el("wsmid:ProductVersion", product_version),
        el("wsmid:SecurityProfiles", *names) if names else None,
        xmlns_wsmid=NS["wsmid"],
    )
    return (
        f'<s:Envelope xml:lang="en-US" xmlns:s="{NS["s"]}"><s:Header></s:Header>'
        f"<s:Body>{render(response)}</s:Body></s:Envelope>"
    ).encode()
