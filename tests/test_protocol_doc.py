"""docs/protocol.md and the protocol module (rooms/frames.py) say the same thing: every close
code, error code and server frame type of the one is in the other, and the product sends nothing
the module does not list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from rooms import frames

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "protocol.md").read_text()
PRODUCT = ("rooms", "moderation", "server")


def section(heading: str) -> str:
    """The text under a heading, up to the next heading of the same or a higher level."""
    level = heading.split(" ", maxsplit=1)[0]
    start = DOC.index(f"\n{heading}\n") + len(heading) + 2
    ends = [
        m.start()
        for m in re.finditer(r"^(#+) ", DOC[start:], re.MULTILINE)
        if len(m.group(1)) <= len(level)
    ]
    return DOC[start : start + ends[0]] if ends else DOC[start:]


def table_rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ][1:]


def backticked(cell: str) -> set[str]:
    return set(re.findall(r"`([a-z_.]+)`", cell))


def refusal_table() -> list[list[str]]:
    return table_rows(section("## Connecting"))


def test_every_close_code_is_documented_and_every_documented_one_is_in_the_module():
    documented = {int(row[0]) for row in refusal_table()}
    assert documented == frames.CLOSE_CODES


def test_every_error_code_is_documented_and_every_documented_one_is_in_the_module():
    on_open_sockets = {next(iter(backticked(row[0]))) for row in table_rows(section("### error"))}
    # "`room_closed`; `detail` says when it opens": the codes come before any semicolon.
    refusing = {code for row in refusal_table() for code in backticked(row[2].split(";")[0])}
    assert on_open_sockets | refusing == frames.ERROR_CODES
    assert "unavailable" in on_open_sockets


def test_every_server_frame_type_is_documented_and_every_documented_one_is_in_the_module():
    overview = section("## Frames from the server").split("\n### ")[0]
    listed = {next(iter(backticked(row[0]))) for row in table_rows(overview)}
    assert listed == frames.SERVER_FRAMES
    # And each is described beyond the list: a heading, an example or a mention in the text.
    rest = DOC.replace(overview, "")
    undescribed = {
        kind
        for kind in listed
        if f'"type": "{kind}"' not in rest
        and f"### {kind}\n" not in rest
        and f"`{kind}" not in rest
    }
    assert undescribed == set()


# ---------------------------------------------------------------- the product against the module


def product_trees() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(), str(path)))
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and path.name != "settings.py"
    ]


def error_codes_sent() -> dict[str, set[str]]:
    """The code of every error the product builds: SendError(code, ...), frames.error(code, ...),
    the consumer's _error(code, ...), Refusal(close_code, code, ...), {"type": "error", "code"}."""
    found: dict[str, set[str]] = {}
    for path, tree in product_trees():
        for node in ast.walk(tree):
            code: ast.expr | None = None
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                position = {"SendError": 0, "frames.error": 0, "_error": 0, "Refusal": 1}.get(name)
                if position is not None and len(node.args) > position:
                    code = node.args[position]
            elif isinstance(node, ast.Dict):
                fields = dict(zip(node.keys, node.values, strict=True))
                values = {k.value: v for k, v in fields.items() if isinstance(k, ast.Constant)}
                kind = values.get("type")
                if isinstance(kind, ast.Constant) and kind.value == "error":
                    code = values.get("code")
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                found.setdefault(code.value, set()).add(str(path.relative_to(ROOT)))
    return found


def frame_types_sent() -> dict[str, set[str]]:
    """The `type` of every dict literal with one, and of frames written as JSON text."""
    found: dict[str, set[str]] = {}
    for path, tree in product_trees():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "type"
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        found.setdefault(value.value, set()).add(where)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                for kind in re.findall(r'"type":\s?"([a-z_.]+)"', node.value):
                    found.setdefault(kind, set()).add(where)
    return found


def test_the_product_sends_no_error_code_the_module_does_not_list():
    sent = error_codes_sent()
    assert {code: where for code, where in sent.items() if code not in frames.ERROR_CODES} == {}
    # The scan sees the codes: most of the module's are built literally somewhere.
    assert len(frames.ERROR_CODES & sent.keys()) >= len(frames.ERROR_CODES) - 2


def test_the_product_sends_no_frame_type_the_module_does_not_list():
    sent = frame_types_sent()
    known = frames.SERVER_FRAMES | frames.LAYER_EVENTS
    assert {kind: where for kind, where in sent.items() if kind not in known} == {}


def test_no_close_code_is_written_as_a_bare_number():
    bare = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in product_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword)
        and node.arg == "code"
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, int)
    ]
    assert bare == []
