"""docs/protocol.md and the protocol module (rooms/frames.py) say the same thing: every close
code, error code and server frame type of the one is in the other, and the product sends nothing
the module does not list. Error codes are the values of the module's `Code` constants, and the
product builds every error from one of them, never from a string of its own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

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


ERROR_BUILDERS = {"SendError": 0, "frames.error": 0, "_error": 0, "_refuse": 2, "Refusal": 1}


def error_code_arguments() -> list[tuple[str, ast.expr]]:
    """The code argument of every error the product builds, with where: SendError(code, ...),
    frames.error(code, ...), the consumer's _error(code, ...), the inbound limits'
    _refuse(kind, client_id, code, ...), Refusal(close_code, code, ...), and the `code` of a
    dict literal with "type": "error"."""
    found: list[tuple[str, ast.expr]] = []
    for path, tree in product_trees():
        for node in ast.walk(tree):
            code: ast.expr | None = None
            if isinstance(node, ast.Call):
                position = ERROR_BUILDERS.get(ast.unparse(node.func).removeprefix("self."))
                if position is not None and len(node.args) > position:
                    code = node.args[position]
            elif isinstance(node, ast.Dict):
                fields = dict(zip(node.keys, node.values, strict=True))
                values = {k.value: v for k, v in fields.items() if isinstance(k, ast.Constant)}
                kind = values.get("type")
                if isinstance(kind, ast.Constant) and kind.value == "error":
                    code = values.get("code")
            if code is not None:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", code))
    return found


def code_constants_used() -> dict[str, set[str]]:
    """Every `Code.NAME` (or `frames.Code.NAME`) the product names, anywhere, by NAME."""
    found: dict[str, set[str]] = {}
    for path, tree in product_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and ast.unparse(node.value) in (
                "Code",
                "frames.Code",
                "rooms.frames.Code",
            ):
                found.setdefault(node.attr, set()).add(str(path.relative_to(ROOT)))
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


def test_the_error_codes_are_the_values_of_the_code_constants():
    assert {code.value for code in frames.Code} == frames.ERROR_CODES
    assert all(type(code) is str for code in frames.ERROR_CODES)
    assert all(name == code.value.upper() for name, code in frames.Code.__members__.items())


def test_every_error_the_product_builds_takes_its_code_from_the_constants():
    written_out = [
        where
        for where, code in error_code_arguments()
        if isinstance(code, ast.Constant) and isinstance(code.value, str)
    ]
    assert written_out == []
    # The scan sees the builders: most errors name their code where they are built.
    named = [code for _, code in error_code_arguments() if isinstance(code, ast.Attribute)]
    assert len(named) >= 30


def test_the_product_names_no_error_code_the_module_does_not_list():
    used = code_constants_used()
    assert {
        name: where for name, where in used.items() if name not in frames.Code.__members__
    } == {}
    # The scan sees the codes: most of the module's are named somewhere.
    assert len(used.keys() & frames.Code.__members__.keys()) >= len(frames.Code) - 2


def test_an_error_frame_carries_its_code_as_the_plain_string():
    frame = frames.error(frames.Code.RATE_LIMITED, "Wait.", retry_after=1.5)
    assert frames.dumps(frame) == (
        '{"type":"error","code":"rate_limited","detail":"Wait.","retry_after":1.5}'
    )
    assert type(frame["code"]) is str
    with pytest.raises(ValueError):
        frames.error("rate_limted", "A misspelt code is not sent.")  # type: ignore[arg-type]


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
