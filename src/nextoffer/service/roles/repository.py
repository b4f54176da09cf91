"""Roles SQL (PostgreSQL): who is connected, the roles there are, and the grants."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

__all__ = [
    "FUNCTIONS",
    "alter_password",
    "append_only_tables",
    "create_login_role",
    "current_user",
    "grant_application",
    "owned_by",
    "role",
    "tables",
]

# the functions that run as the owner for the application role (revisions 0014, 0020)
FUNCTIONS = (
    "nextoffer_ledger_partitions(timestamptz, timestamptz)",
    "nextoffer_settled_seq(text)",
)


def current_user(session: Session) -> str:
    return str(session.execute(sa.text("SELECT current_user")).scalar_one())


def role(session: Session, name: str) -> dict[str, bool] | None:
    """The role ``name``: whether it is a superuser, may log in, and is a member of (or is)
    the connected role; None when there is none."""
    row = session.execute(
        sa.text(
            "SELECT rolsuper, rolcanlogin, pg_has_role(:name, current_user, 'USAGE') AS member "
            "FROM pg_roles WHERE rolname = :name"
        ),
        {"name": name},
    ).first()
    if row is None:
        return None
    return {"superuser": row.rolsuper, "login": row.rolcanlogin, "member": row.member}


def create_login_role(session: Session, name: str, password: str) -> None:
    """A role that may log in with ``password`` and nothing else (quoted by the server)."""
    statement = session.execute(
        sa.text("SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                "NOINHERIT PASSWORD %L', CAST(:name AS text), CAST(:password AS text))"),
        {"name": name, "password": password},
    ).scalar_one()  # fmt: skip
    session.execute(sa.text(str(statement).replace(":", r"\:")))


def alter_password(session: Session, name: str, password: str) -> None:
    statement = session.execute(
        sa.text("SELECT format('ALTER ROLE %I PASSWORD %L', CAST(:name AS text), "
                "CAST(:password AS text))"),
        {"name": name, "password": password},
    ).scalar_one()  # fmt: skip
    session.execute(sa.text(str(statement).replace(":", r"\:")))


def owned_by(session: Session, name: str) -> list[str]:
    """The relations, sequences and functions of this database's schema that ``name`` owns."""
    return list(
        session.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                "WHERE r.rolname = :name AND c.relnamespace = current_schema()::regnamespace "
                "UNION ALL SELECT p.proname FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner "
                "WHERE r.rolname = :name AND p.pronamespace = current_schema()::regnamespace "
                "ORDER BY 1"
            ),
            {"name": name},
        ).scalars()
    )


def tables(session: Session) -> list[str]:
    """Every table of the schema (partitioned ones and their partitions too)."""
    return list(
        session.execute(
            sa.text(
                "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
                "AND relnamespace = current_schema()::regnamespace ORDER BY relname"
            )
        ).scalars()
    )


def append_only_tables(session: Session) -> list[str]:
    """The tables the ledger's trigger keeps append-only (``nextoffer_append_only``: the
    ledger tables, their partitions and key tables, the audit, erasures, rule revisions,
    journey versions and transitions)."""
    return list(
        session.execute(
            sa.text(
                "SELECT DISTINCT c.relname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE p.proname = 'nextoffer_append_only' "
                "AND c.relnamespace = current_schema()::regnamespace ORDER BY c.relname"
            )
        ).scalars()
    )


def _names(names: list[str]) -> str:
    return ", ".join('"' + n.replace('"', '""') + '"' for n in names)


def grant_application(
    session: Session, app: str, owner: str, ledger: list[str], ordinary: list[str]
) -> None:
    """Exactly these privileges for ``app`` on the schema's objects: SELECT and INSERT on
    ``ledger``, SELECT, INSERT, UPDATE and DELETE on ``ordinary``, SELECT on
    ``alembic_version``, the sequences' values, EXECUTE on ``FUNCTIONS``; tables
    ``owner`` creates later (the ledger's monthly partitions) get SELECT and INSERT. No one
    but the owner may create objects in the schema."""
    role, by = _names([app]), _names([owner])
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {_schema(session)} FROM {role}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {_schema(session)} FROM {role}",
        f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {_schema(session)} FROM {role}",
        f"REVOKE CREATE ON SCHEMA {_schema(session)} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {_schema(session)} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_schema(session)} TO {role}",
        f"GRANT EXECUTE ON FUNCTION {', '.join(FUNCTIONS)} TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {by} IN SCHEMA {_schema(session)} "
        f"GRANT SELECT, INSERT ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {by} IN SCHEMA {_schema(session)} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]
    if ledger:
        statements.append(f"GRANT SELECT, INSERT ON TABLE {_names(ledger)} TO {role}")
    if ordinary:
        statements.append(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {_names(ordinary)} TO {role}"
        )
    statements.append(f"GRANT SELECT ON TABLE alembic_version TO {role}")
    for statement in statements:
        session.execute(sa.text(statement))


def _schema(session: Session) -> str:
    return str(session.execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one())
