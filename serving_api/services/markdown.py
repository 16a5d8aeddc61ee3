"""Markdown → safe HTML for stems, options and rationales (authors write markdown)."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

# Raw HTML inside markdown is not passed through; the sanitizer is the second fence.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "img",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "sub",
    "sup",
}  # fmt: skip
_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}}


@lru_cache(maxsize=20_000)
def render(text: str) -> str:
    """HTML for `text` with only formatting tags; links and images only over http(s)."""
    return nh3.clean(
        _md.render(text or ""),
        tags=_TAGS,
        attributes=_ATTRS,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
    )
