"""The one place that turns a member's raw text into HTML that is safe to display."""

import html

from bleach.linkifier import Linker

_ALLOWED_PROTOCOLS = {"http", "https"}


def _safe_link(attrs: dict, new: bool = False) -> dict | None:
    href = attrs.get((None, "href"), "")
    if href.split(":", 1)[0].lower() not in _ALLOWED_PROTOCOLS:
        return None  # leaves the text, drops the link
    attrs[(None, "rel")] = "nofollow noopener noreferrer"
    attrs[(None, "target")] = "_blank"
    return attrs


_linker = Linker(callbacks=[_safe_link], skip_tags={"pre", "code"}, parse_email=False)


def sanitize(text: str) -> str:
    """Escapes every character HTML gives meaning to (so a typed "&lt;" shows as typed and no tag
    or entity trick survives), then lets bleach turn bare http(s) URLs into safe links."""
    return _linker.linkify(html.escape(text, quote=True))
