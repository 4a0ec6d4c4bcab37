"""Layers that only point down: rooms is the floor, moderation sits on it, server wires them.

Read from the source with `ast`, so that a function-local import counts as much as one at the
top of a module: an import cycle between rooms and moderation cannot come back unnoticed."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("rooms", "moderation", "server")

# The only places rooms calls up into moderation, each a direct, explicit call that must never
# depend on someone having registered a hook: assessing a message for crisis language, the
# group's held categories, raising the alert, and the private support card; and the same for a
# member's edit of their own message and their request for a private check-in, which the audit
# log records. Everything else moderation does in rooms goes through rooms/hooks.py.
ALLOWED_UP = {
    ("rooms.actions", "moderation.crisis"),
    ("rooms.actions", "moderation.policy"),
    ("rooms.actions", "moderation.services"),
    ("rooms.member_messages", "moderation.crisis"),
    ("rooms.member_messages", "moderation.models"),
    ("rooms.member_messages", "moderation.policy"),
    ("rooms.member_messages", "moderation.services"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every product module this one imports, wherever in the file: `from a.b import c` counts
    as a.b.c when that is a module, else as a.b."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for wanted in targets:
            target = wanted
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = product_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def app(module: str) -> str:
    return module.partition(".")[0]


def app_module(module: str) -> str:
    """moderation.crisis.engine -> moderation.crisis: the allowed list names the top modules."""
    return ".".join(module.split(".")[:2])


def test_rooms_imports_moderation_only_for_the_explicit_crisis_and_alert_calls():
    graph = import_graph()
    up = {
        (module, app_module(target))
        for module, targets in graph.items()
        if app(module) == "rooms"
        for target in targets
        if app(target) == "moderation"
    }
    assert up - ALLOWED_UP == set(), (
        "rooms must not import moderation: add a hook in rooms/hooks.py"
    )
    assert ALLOWED_UP - up == set(), "an allowed exception is gone: remove it from ALLOWED_UP"


def test_no_import_cycle_runs_between_rooms_and_moderation():
    graph = import_graph()

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in graph.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    cycles = sorted(
        (module, target)
        for module, targets in graph.items()
        if app(module) == "moderation"
        for target in targets
        if app(target) == "rooms" and module in reaches(target)
    )
    assert cycles == []


def test_the_product_never_imports_the_tests():
    graph = import_graph()
    for module in graph:
        path = product_modules()[module]
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "tests" or n.startswith("tests.") for n in names), module
