"""XML in and out. Output is built as text (fast, exact element order); input is parsed with
ElementTree (no external entities; the bundled expat refuses entity-expansion bombs)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Iterable, Optional

from .. import errors

_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})

Node = tuple  # (tag, value) where value is str/int/bool/None or an iterable of Nodes
Children = Iterable[Node]


def escape(text: str) -> str:
    return text.translate(_ESC)


def _render(out: list, tag: str, value) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, (str, int)):
        out.append(f"<{tag}>{escape(str(value))}</{tag}>")
        return
    out.append(f"<{tag}>")
    for child in value:
        _render(out, child[0], child[1])
    out.append(f"</{tag}>")


def document(root: str, children: Children) -> bytes:
    """<?xml ...?><root>children</root> as UTF-8 bytes. A child whose value is None is left out."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _render(out, root, list(children))
    return "".join(out).encode("utf-8")


def parse(body: bytes, root: str) -> ET.Element:
    """Parse a request body whose root element must be `root`; anything else is MalformedXML."""
    if not body.strip():
        raise errors.MalformedXML()
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise errors.MalformedXML()  # no request XML needs a DTD; refusing them stops entity tricks
    try:
        elem = ET.fromstring(body)
    except (ET.ParseError, ValueError, UnicodeDecodeError):
        raise errors.MalformedXML()
    if _local(elem.tag) != root:
        raise errors.MalformedXML()
    return elem


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def children(elem: ET.Element, tag: str) -> list[ET.Element]:
    return [c for c in elem if _local(c.tag) == tag]


def child_text(elem: ET.Element, tag: str, default: Optional[str] = None) -> Optional[str]:
    for c in elem:
        if _local(c.tag) == tag:
            return c.text or ""
    return default

