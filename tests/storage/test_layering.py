"""Layering meta-test: queries live in storage/ repositories; alerting/ and web/ call them.

Parses every module of alerting/ and web/ and fails on a statement built or run there: a call to
``select``/``insert``/``update``/``delete``/``text`` imported from SQLAlchemy (``sa.select`` too), or
a ``.execute(``, ``.scalars(`` or ``.scalar(`` call. ``session.get`` by primary key is allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("alerting", "web")
CONSTRUCTORS = frozenset({"select", "insert", "update", "delete", "text"})
RUNNERS = frozenset({"execute", "scalars", "scalar"})

# (path, what) pairs that may stay, each with why. Keep this short: move the query instead.
ALLOWED: dict[tuple[str, str], str] = {}


def _sqlalchemy_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to SQLAlchemy statement constructors, and aliases of SQLAlchemy modules."""
    constructors: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            constructors |= {a.asname or a.name for a in node.names if a.name in CONSTRUCTORS}
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name.split(".")[0] == "sqlalchemy"}
    return constructors, modules


def violations(source: str) -> list[tuple[int, str]]:
    """(line, what) for every query built or run in ``source``."""
    tree = ast.parse(source)
    constructors, modules = _sqlalchemy_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in constructors:
            found.append((node.lineno, f"{func.id}("))
        elif isinstance(func, ast.Attribute):
            if func.attr in RUNNERS:
                found.append((node.lineno, f".{func.attr}("))
            elif func.attr in CONSTRUCTORS and isinstance(func.value, ast.Name) and func.value.id in modules:
                found.append((node.lineno, f"{func.attr}("))
    return sorted(found)


def _modules() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def test_alerting_and_web_hold_no_queries() -> None:
    assert _modules(), "no modules found: the layer paths are wrong"
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _modules()
        for line, what in violations(path.read_text(encoding="utf-8"))
        if (path.relative_to(ROOT).as_posix(), what) not in ALLOWED
    ]
    assert not problems, "move these queries into a storage/ repository:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from sqlalchemy import select\nrows = session.scalars(select(Row))\n",
            [(2, ".scalars("), (2, "select(")],
        ),
        ("import sqlalchemy as sa\nsession.execute(sa.update(Row))\n", [(2, ".execute("), (2, "update(")]),
        ("from sqlalchemy import text as t\nn = s.scalar(t('SELECT 1'))\n", [(2, ".scalar("), (2, "t(")]),
        ("row = session.get(Row, 1)\nsession.add(row)\n", []),
        # A select() that is not SQLAlchemy's (a UI helper) is not a query.
        ("def select(x):\n    return x\nselect(1)\n", []),
    ],
)
def test_the_check_tells_queries_from_other_calls(source: str, expected: list[tuple[int, str]]) -> None:
    assert violations(source) == expected


def test_every_allowed_entry_names_an_existing_module() -> None:
    # An allow-list entry for a file that was renamed or deleted hides nothing: drop it.
    assert all((ROOT / path).is_file() for path, _ in ALLOWED)
