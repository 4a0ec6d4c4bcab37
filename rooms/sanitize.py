"""The one place that turns a member's raw text into HTML that is safe to display."""

import html
import re

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


# Characters html5lib rewrites when bleach re-serializes (controls other than tab and newline,
# surrogates, noncharacters). Text with none of them and nothing that looks like a link comes
# out of bleach exactly as escaped, so it skips the parse: most of the send path's CPU
# (tests/rooms/test_sanitize.py checks that both ways agree on any text).
_NONCHARACTERS = "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}-{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_PLAIN = re.compile(f"[^\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef{_NONCHARACTERS}]*\\Z")

# Every link bleach finds has a dot followed by its top-level domain; bleach's own pattern is
# slow to rule a link out, this one is not.
_MAYBE_LINK = re.compile(r"\.\w")


def sanitize(text: str) -> str:
    """Escapes every character HTML gives meaning to (so a typed "&lt;" shows as typed and no tag
    or entity trick survives), then lets bleach turn bare http(s) URLs into safe links."""
    escaped = html.escape(text, quote=True)
    if _PLAIN.match(text) and (
        _MAYBE_LINK.search(escaped) is None or _linker.url_re.search(escaped) is None
    ):
        return escaped
    return _linker.linkify(escaped)
