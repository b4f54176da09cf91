"""Rules SQL: rules, their immutable revisions, proposals, the install's settings and the audit
log; and the ledger's decision requests a backtest replays."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..tables import audit, decisions, install_settings, proposals, rule_revisions, rules
from .schemas import AuditRow, LiveRule, ProposalRow, RevisionRow, RuleRow

__all__ = ["all_rules", "audit_of", "decision_requests", "fingerprint_holder", "free_fingerprint",
           "insert_proposal", "insert_revision", "insert_rule", "install_setting",
           "latest_revision", "list_proposals", "live_revision", "live_rules",
           "live_rules_with_text", "proposal", "proposal_ids_of", "record", "revision",
           "revisions", "rule", "set_install_setting", "set_live_revision", "set_proposal_stats",
           "set_proposal_status", "set_rule_stats", "supersede_proposal", "unapproved_with"]  # fmt: skip


def live_rules(session: Session) -> list[LiveRule]:
    """The live revision of every active rule, as snapshot data, by rule id."""
    rows = session.execute(
        sa.select(rule_revisions)
        .join(
            rules,
            sa.and_(
                rules.c.id == rule_revisions.c.rule_id,
                rules.c.live_revision == rule_revisions.c.revision,
            ),
        )
        .order_by(rule_revisions.c.rule_id)
    )
    return [{"id": r.rule_id, "revision": r.revision, "trigger": r.trigger, "offers": r.offers,
             "priority": r.priority, "description": r.description} for r in rows]  # fmt: skip


def record(
    session: Session, action: str, actor: str, subject: str, details: dict[str, Any]
) -> None:
    """Write one action to the append-only audit log."""
    session.execute(
        sa.insert(audit).values(action=action, actor=actor, subject=subject, details=details)
    )


def install_setting(session: Session, name: str) -> object:
    """An install setting's value, as JSON (None when never set)."""
    return session.execute(
        sa.select(install_settings.c.value).where(install_settings.c.name == name)
    ).scalar()


def set_install_setting(
    session: Session, name: str, value: object, actor: str, at: dt.datetime
) -> None:
    """Set an install setting (created at its first setting)."""
    updated = session.execute(
        sa.update(install_settings).where(install_settings.c.name == name)
        .values(value=value, updated_by=actor, updated_at=at)
    )  # fmt: skip
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(sa.insert(install_settings).values(
            name=name, value=value, updated_by=actor, updated_at=at))  # fmt: skip


def free_fingerprint(session: Session, fp: str) -> None:
    """Take ``fp`` from the approved or superseded proposal holding it (each gets its own id
    as fingerprint instead)."""
    session.execute(
        sa.update(proposals)
        .where(proposals.c.fingerprint == fp, proposals.c.status.in_(["approved", "superseded"]))
        .values(fingerprint=proposals.c.id)
    )


def fingerprint_holder(session: Session, fp: str) -> tuple[str, str] | None:
    """The id and status of the proposal holding ``fp``, or None."""
    row = session.execute(
        sa.select(proposals.c.id, proposals.c.status).where(proposals.c.fingerprint == fp)
    ).first()
    return None if row is None else (row.id, row.status)


def unapproved_with(session: Session, fp: str) -> ProposalRow | None:
    """The proposal of fingerprint ``fp`` that is not approved, or None."""
    row = session.execute(
        sa.select(proposals).where(proposals.c.fingerprint == fp, proposals.c.status != "approved")
    ).first()
    return None if row is None else ProposalRow(**row._mapping)


def insert_proposal(session: Session, row: ProposalRow) -> None:
    """Store a new proposal."""
    session.execute(sa.insert(proposals).values(**row._asdict()))


def proposal(session: Session, proposal_id: str) -> ProposalRow | None:
    """The proposal's row, or None."""
    row = session.execute(sa.select(proposals).where(proposals.c.id == proposal_id)).first()
    return None if row is None else ProposalRow(**row._mapping)


def list_proposals(session: Session, status: str | None) -> list[ProposalRow]:
    """Every proposal (of ``status``, when given), oldest first."""
    query = sa.select(proposals).order_by(proposals.c.created_at, proposals.c.id)
    if status:
        query = query.where(proposals.c.status == status)
    return [ProposalRow(**row._mapping) for row in session.execute(query)]


def proposal_ids_of(session: Session, rule_id: str) -> list[str]:
    """The ids of every proposal for ``rule_id``."""
    rows = session.execute(sa.select(proposals.c.id).where(proposals.c.rule_id == rule_id))
    return [p.id for p in rows]


def set_proposal_stats(
    session: Session, proposal_id: str, stats: dict[str, Any], at: dt.datetime
) -> None:
    """Replace an open proposal's statistics (re-mining)."""
    session.execute(sa.update(proposals).where(proposals.c.id == proposal_id)
                    .values(stats=stats, updated_at=at))  # fmt: skip


def set_proposal_status(session: Session, proposal_id: str, status: str, at: dt.datetime) -> None:
    """Close a proposal: ``approved`` or ``rejected``."""
    session.execute(
        sa.update(proposals)
        .where(proposals.c.id == proposal_id)
        .values(status=status, updated_at=at)
    )


def supersede_proposal(session: Session, proposal_id: str, at: dt.datetime) -> None:
    """Mark a proposal superseded, freeing its fingerprint for the proposal replacing it."""
    session.execute(
        sa.update(proposals)
        .where(proposals.c.id == proposal_id)
        .values(status="superseded", fingerprint=proposals.c.id, updated_at=at)
    )


def rule(session: Session, rule_id: str) -> RuleRow | None:
    """The rule's row (``live_revision``, ``stats``), or None."""
    row = session.execute(sa.select(rules).where(rules.c.id == rule_id)).first()
    return None if row is None else RuleRow(**row._mapping)


def all_rules(session: Session) -> list[RuleRow]:
    """Every rule's row, by id."""
    return [
        RuleRow(**row._mapping) for row in session.execute(sa.select(rules).order_by(rules.c.id))
    ]


def insert_rule(session: Session, rule_id: str, at: dt.datetime) -> None:
    """Store a new rule, with no live revision yet."""
    session.execute(sa.insert(rules).values(id=rule_id, live_revision=None, created_at=at))


def set_live_revision(session: Session, rule_id: str, revision: int | None) -> None:
    """Make ``revision`` of the rule live (None: deactivate it)."""
    session.execute(sa.update(rules).where(rules.c.id == rule_id).values(live_revision=revision))


def set_rule_stats(session: Session, rule_id: str, stats: dict[str, Any]) -> None:
    """Replace the rule's mining statistics."""
    session.execute(sa.update(rules).where(rules.c.id == rule_id).values(stats=stats))


def live_revision(session: Session, rule_id: str) -> RevisionRow | None:
    """The live revision of ``rule_id`` (None when the rule is new or deactivated)."""
    row = session.execute(
        sa.select(rule_revisions)
        .join(rules, sa.and_(rules.c.id == rule_revisions.c.rule_id,
                             rules.c.live_revision == rule_revisions.c.revision))
        .where(rules.c.id == rule_id)
    ).first()  # fmt: skip
    return None if row is None else RevisionRow(**row._mapping)


def live_rules_with_text(session: Session, text: str) -> list[str]:
    """The ids of the rules whose live revision's trigger reads ``text``."""
    rows = session.execute(
        sa.select(rules.c.id)
        .join(
            rule_revisions,
            sa.and_(
                rule_revisions.c.rule_id == rules.c.id,
                rule_revisions.c.revision == rules.c.live_revision,
            ),
        )
        .where(rule_revisions.c.text == text)
    ).all()
    return [rule_id for (rule_id,) in rows]


def latest_revision(session: Session, rule_id: str) -> int:
    """The rule's newest revision number (0: none yet)."""
    top = session.execute(sa.select(sa.func.max(rule_revisions.c.revision)).where(
        rule_revisions.c.rule_id == rule_id)).scalar()  # fmt: skip
    return int(top or 0)


def revision(session: Session, rule_id: str, number: int) -> RevisionRow | None:
    """Revision ``number`` of the rule, or None."""
    row = session.execute(sa.select(rule_revisions).where(
        rule_revisions.c.rule_id == rule_id, rule_revisions.c.revision == number)).first()  # fmt: skip
    return None if row is None else RevisionRow(**row._mapping)


def revisions(session: Session, rule_id: str) -> list[RevisionRow]:
    """Every revision of the rule, oldest first."""
    rows = session.execute(sa.select(rule_revisions).where(rule_revisions.c.rule_id == rule_id)
                           .order_by(rule_revisions.c.revision))  # fmt: skip
    return [RevisionRow(**row._mapping) for row in rows]


def insert_revision(session: Session, row: RevisionRow) -> None:
    """Store a new (immutable) revision."""
    session.execute(sa.insert(rule_revisions).values(**row._asdict()))


def audit_of(session: Session, subjects: list[str]) -> list[AuditRow]:
    """Every audit record about any of ``subjects``, oldest first."""
    rows = session.execute(sa.select(audit).where(audit.c.subject.in_(subjects))
                           .order_by(audit.c.seq))  # fmt: skip
    return [AuditRow(**row._mapping) for row in rows]


def decision_requests(
    session: Session, since: dt.datetime, limit: int
) -> list[tuple[dict[str, Any], dt.datetime]]:
    """The ``request`` and ``occurred_at`` of the newest ``limit`` decisions since ``since``,
    newest first."""
    rows = session.execute(
        sa.select(decisions.c.request, decisions.c.occurred_at)
        .where(decisions.c.occurred_at >= since)
        .order_by(decisions.c.seq.desc())
        .limit(limit)
    )
    return [(request, occurred_at) for request, occurred_at in rows]
