"""The shape of ``src/nextoffer`` stays as the design draws it (issue 18).

Arrows point one way: ``cli`` → ``service`` → ``jobs`` → ``core``. The core imports nothing
from the shell and no database, web or command-line library; ``jobs`` imports nothing from
``service`` or ``cli``; there are no import loops between modules (an import inside a
function or under ``TYPE_CHECKING`` counts: it is a loop all the same); and ``__all__`` is
what each module really exports (httpx's ``tests/test_exported_members.py`` is the model).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "nextoffer"
SHELL_LIBRARIES = ("sqlalchemy", "alembic", "psycopg", "fastapi", "starlette", "uvicorn",
                   "httpx", "typer", "rich", "jinja2")  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports, wherever the import statement sits."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:  # ``from pkg import module`` imports that module
                sub = f"{target}.{alias.name}"
                yield sub if sub in MODULES else target


def _graph() -> dict[str, set[str]]:
    return {
        name: {t for t in _imports(name, path) if t in MODULES and t != name}
        for name, path in MODULES.items()
    }


class _NoRouter:
    routes: tuple[object, ...] = ()


_NO = _NoRouter()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("core", ("nextoffer.service", "nextoffer.jobs", "nextoffer.cli", "nextoffer.scenarios",
                  *SHELL_LIBRARIES)),
        ("jobs", ("nextoffer.service", "nextoffer.cli")),
        ("service", ("nextoffer.cli",)),
    ],
)  # fmt: skip
def test_arrows_point_one_way(layer: str, forbidden: tuple[str, ...]) -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if _layer(name) == layer
        for target in _imports(name, path)
        if any(target == f or target.startswith(f + ".") for f in forbidden)
    )
    assert wrong == []


def test_no_import_loops_between_modules() -> None:
    graph = _graph()
    # a package's __init__ that re-exports its own modules is not a loop with them
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert loops == []


@pytest.mark.parametrize("name", [n for n, p in MODULES.items() if "__all__" in p.read_text()])
def test_all_is_what_the_module_exports(name: str) -> None:
    module = importlib.import_module(name)
    declared = set(module.__all__)
    missing = sorted(n for n in declared if not hasattr(module, n))
    assert missing == [], f"{name}.__all__ names what it does not have"
    # an endpoint module exports its router; the routes' functions are the router's
    routes = {id(getattr(r, "endpoint", None)) for r in getattr(module, "router", _NO).routes}
    defined = sorted(
        n for n, obj in vars(module).items()
        if not n.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == name and n not in declared and id(obj) not in routes
    )  # fmt: skip
    assert defined == [], f"{name} defines public names that __all__ leaves out"
