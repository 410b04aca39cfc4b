"""Read a report page back into structure (stdlib ``html.parser``) so tests assert on it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_SVG_TEXT = re.compile(r"<text\b[^>]*>([^<]*)</text>")


def svg_texts(svg: str) -> list[str]:
    """Every text label in a matplotlib SVG (drawn as text, not paths)."""
    return _SVG_TEXT.findall(svg)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    #: How many ``<svg>`` elements are nested inside (filled in for figures).
    svgs: int = 0

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Page(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open_figures: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag == "figure":
            self._open_figures.append(element)
        elif tag == "svg" and self._open_figures:
            self._open_figures[-1].svgs += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure" and self._open_figures:
            self._open_figures.pop()

    def with_attr(self, name: str, value: str | None = None) -> list[Element]:
        """Elements having attribute ``name`` (equal to ``value`` when given)."""
        return [
            e
            for e in self.elements
            if name in e.attrs and (value is None or e.attrs[name] == value)
        ]

    @property
    def ids(self) -> list[str]:
        return [e.attrs["id"] for e in self.elements if "id" in e.attrs]


def parse(html: str) -> Page:
    """Parse a rendered report."""
    page = Page()
    page.feed(html)
    page.close()
    return page
