"""The sanitizer's shortcut for text without links gives exactly what bleach gives."""

import html

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.sanitize import _linker, sanitize

# Words that make links, and characters html5lib treats specially, mixed into arbitrary text.
pieces = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "example.com",
            "http://x.org/a?b=1",
            "www.haven.org",
            "a.b",
            "3.5",
            "end.",
            ". ",
            "\r",
            "\x00",
            "\x0c",
            "\ufffe",
            "\U0001ffff",
            "&amp;",
            "<b>",
            "'",
            '"',
            "mail@example.org",
        ]
    ),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(pieces, max_size=8).map("".join))
def test_any_text_is_sanitized_exactly_as_bleach_alone_would(text):
    assert sanitize(text) == _linker.linkify(html.escape(text, quote=True))


def test_plain_text_is_only_escaped_and_a_link_is_still_made():
    assert sanitize("Don't <b>panic</b> & breathe.") == (
        "Don&#x27;t &lt;b&gt;panic&lt;/b&gt; &amp; breathe."
    )
    assert sanitize("see example.com").startswith('see <a href="http://example.com"')
