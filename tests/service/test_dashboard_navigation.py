"""The dashboard's top bar is ``navigation.SECTIONS``, rendered in a loop: every section
answers for each role that sees it, each role sees exactly its sections, the current one is
marked, and an entry added to the registry appears (and one a role may not see does not).
And the dashboard's SQL is in its repository only."""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from nextoffer.service import dashboard
from nextoffer.service.app import create_app
from nextoffer.service.config import Settings
from nextoffer.service.dashboard import navigation
from nextoffer.service.dashboard.navigation import SECTIONS, Section
from nextoffer.service.keys.service import Role, create_key
from nextoffer.service.migrate import upgrade

from ..dashboard.signin import csrf_of, signed_in
from .server import Server

ROLES: tuple[Role, ...] = ("author", "approver", "admin")
_LINK = re.compile(r'<li><a href="(/dashboard[^"]*)"( aria-current="page")?>([^<]*)</a></li>')


def top_bar(page: str) -> list[tuple[str, bool, str]]:
    """The top bar's links: (href, whether marked current, label)."""
    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return [(href, bool(current), label) for href, current, label in _LINK.findall(nav)]


@pytest.mark.parametrize("role", ROLES)
def test_every_section_answers_for_each_role_that_sees_it(server: Server, role: Role) -> None:
    seen = navigation.visible(role)
    assert seen, f"{role} sees no section"
    client, _ = signed_in(server.url, server.keys[role])
    with closing(client):
        for section in seen:
            answer = client.get(f"/dashboard{section.path}")
            assert answer.status_code == 200, (section.label, answer.text[:500])
            links = top_bar(answer.text)
            assert [(href, label) for href, _, label in links] == [
                (f"/dashboard{s.path}", s.label) for s in seen
            ]
            assert [label for _, current, label in links if current] == [section.label]


def test_a_client_key_sees_no_section() -> None:
    assert navigation.visible("client") == []
    assert all(s.allows("admin") for s in SECTIONS)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    """The app in this process (so the registry can be changed), with a key of each role."""
    application = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'nav.db'}", attach_refresh_seconds=0)
    )
    db = application.state.db
    upgrade(db)
    with db.transaction() as session:
        application.state.keys = {role: create_key(session, role) for role in ROLES}
    yield application
    db.dispose()


async def pages_of(app: FastAPI, role: Role, paths: list[str]) -> list[httpx.Response]:
    """Sign in with the key of ``role``, then open each of ``paths``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        form = await client.get("/dashboard/sign-in")
        done = await client.post(
            "/dashboard/sign-in",
            data={"key": app.state.keys[role], "csrf_token": csrf_of(form.text)},
        )
        assert done.status_code == 303, done.text
        return [await client.get(path) for path in paths]


def test_the_top_bar_is_rendered_from_the_registry(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = (
        Section("My decisions", "/decisions?customer=me", ("author", "approver"), ()),
        Section("Approvals", "/proposals?status=approved", ("approver",), ()),
    )
    monkeypatch.setattr(navigation, "SECTIONS", (*SECTIONS, *added))
    expected = {
        "author": [*SECTIONS, added[0]],
        "approver": [*SECTIONS, *added],
        "admin": [*SECTIONS, *added],
    }
    for role, sections in expected.items():
        paths = ["/dashboard/rules", *(f"/dashboard{s.path}" for s in added)]
        rules, *others = asyncio.run(pages_of(app, role, paths))
        assert rules.status_code == 200, rules.text
        links = top_bar(rules.text)
        assert [(href, label) for href, _, label in links] == [
            (f"/dashboard{s.path}", s.label) for s in sections
        ], role
        assert [label for _, current, label in links if current] == ["Rules"]
        assert [page.status_code for page in others] == [200, 200]


def test_the_dashboards_sql_is_in_its_repository_only() -> None:
    """Only ``repository.py`` builds statements or reads the tables; the other modules of
    the dashboard use a session as a value (``sqlalchemy.orm.Session``) at most."""
    root = Path(dashboard.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert root / "pages" / "rules.py" in modules
    for module in modules:
        if module.name == "repository.py" and module.parent == root:
            continue
        tree = ast.parse(module.read_text(), str(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
                assert not any(n.split(".")[0] == "sqlalchemy" for n in names), module
            elif isinstance(node, ast.ImportFrom):
                where = node.module or ""
                imported = {a.name for a in node.names}
                if where.split(".")[0] == "sqlalchemy":
                    assert (where, imported) == ("sqlalchemy.orm", {"Session"}), module
                assert where.split(".")[-1] != "tables", module
                assert "tables" not in imported, module
