"""API keys' lifetimes on both databases: expiry, revocation (which also ends the key's
dashboard sessions), the list, and the last use written in the background, coalesced."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from nextoffer.service.dashboard import sessions
from nextoffer.service.db import Database
from nextoffer.service.errors import NotFound, Unauthorized
from nextoffer.service.http import write_key_uses
from nextoffer.service.keys.service import (
    LastUses,
    authenticate,
    create_key,
    list_keys,
    revoke_key,
)

from ..clock import NOW

DAY = dt.timedelta(days=1)


def test_a_key_works_until_it_expires_then_says_so(db: Database) -> None:
    with db.transaction() as s:
        key = create_key(s, "client", "partner", expires_in=90 * DAY, now=NOW)
        lasting = create_key(s, "client", "for ever", now=NOW)
    with db.read() as s:
        who = authenticate(s, key, NOW + 90 * DAY - dt.timedelta(seconds=1))
        assert (who.role, who.label) == ("client", "partner")
        assert who.expires_at == NOW + 90 * DAY
        with pytest.raises(Unauthorized, match=r"expired at 2026-06-08T19:30:00\+00:00"):
            authenticate(s, key, NOW + 90 * DAY)
        assert authenticate(s, lasting, NOW + 3650 * DAY).expires_at is None


def test_a_revoked_key_is_refused_and_revoking_again_changes_nothing(db: Database) -> None:
    with db.transaction() as s:
        key = create_key(s, "admin", "leaver", now=NOW)
    key_id = key.split("_")[1]
    with db.transaction() as s:
        assert revoke_key(s, key_id, NOW + DAY) == (NOW + DAY, True)
    with db.transaction() as s:
        assert revoke_key(s, key_id, NOW + 2 * DAY) == (NOW + DAY, False)  # the first time kept
    with db.read() as s, pytest.raises(Unauthorized, match=f"revoked \\(key {key_id}\\)"):
        authenticate(s, key, NOW + DAY)


def test_revoking_an_unknown_key_is_not_found_and_writes_nothing(db: Database) -> None:
    with db.transaction() as s:
        create_key(s, "client", now=NOW)
    with db.transaction() as s, pytest.raises(NotFound, match="no API key with id 'nope'"):
        revoke_key(s, "nope", NOW)
    with db.read() as s:
        assert [k.status for k in list_keys(s, NOW)] == ["live"]


def test_a_wrong_secret_for_a_revoked_key_says_only_invalid(db: Database) -> None:
    # only the holder of the whole key learns that it was revoked
    with db.transaction() as s:
        key = create_key(s, "client", now=NOW)
        revoke_key(s, key.split("_")[1], NOW)
    with db.read() as s, pytest.raises(Unauthorized, match=r"^invalid API key$"):
        authenticate(s, key[:-1] + ("A" if key[-1] != "A" else "B"), NOW)


def test_the_list_shows_each_keys_status_and_never_the_key(db: Database) -> None:
    with db.transaction() as s:
        live = create_key(s, "client", "shop", now=NOW)
        short = create_key(s, "author", "trial", expires_in=dt.timedelta(hours=12),
                           now=NOW + dt.timedelta(seconds=1))  # fmt: skip
        gone = create_key(s, "admin", "old admin", now=NOW + dt.timedelta(seconds=2))
        revoke_key(s, gone.split("_")[1], NOW + DAY)
    with db.read() as s:
        found = list_keys(s, NOW + DAY)
    assert [(k.id, k.role, k.label, k.status) for k in found] == [
        (live.split("_")[1], "client", "shop", "live"),
        (short.split("_")[1], "author", "trial", "expired"),
        (gone.split("_")[1], "admin", "old admin", "revoked"),
    ]
    assert found[1].expires_at == NOW + dt.timedelta(hours=12, seconds=1)
    assert found[2].revoked_at == NOW + DAY
    assert all(k.last_used_at is None for k in found)
    assert not any(live in repr(k) or short in repr(k) for k in found)


def test_last_use_is_coalesced_per_key_and_never_moves_back(db: Database) -> None:
    with db.transaction() as s:
        a = create_key(s, "client", now=NOW).split("_")[1]
        b = create_key(s, "client", now=NOW).split("_")[1]
    uses = LastUses()
    for second in (5, 1, 30, 12):  # out of order, as concurrent requests end
        uses.note(a, NOW + dt.timedelta(seconds=second))
    uses.note(b, NOW + dt.timedelta(seconds=2))
    assert uses.take() == {a: NOW + dt.timedelta(seconds=30), b: NOW + dt.timedelta(seconds=2)}
    assert uses.take() == {}  # taken once
    with db.transaction() as s:
        LastUses.write(s, {a: NOW + dt.timedelta(seconds=30), b: NOW + dt.timedelta(seconds=2)})
    with db.transaction() as s:  # another worker's older use does not move it back
        LastUses.write(s, {a: NOW + dt.timedelta(seconds=10)})
    with db.read() as s:
        last = {k.id: k.last_used_at for k in list_keys(s, NOW)}
    assert last == {a: NOW + dt.timedelta(seconds=30), b: NOW + dt.timedelta(seconds=2)}


def test_last_uses_that_cannot_be_written_are_kept_for_the_next_time(
    db: Database, tmp_path: Path
) -> None:
    with db.transaction() as s:
        a = create_key(s, "client", now=NOW).split("_")[1]
    uses = LastUses()
    uses.note(a, NOW + DAY)
    broken = Database(f"sqlite:///{tmp_path / 'not-migrated.db'}")  # no api_keys table
    try:
        asyncio.run(write_key_uses(uses, broken))
    finally:
        broken.dispose()
    asyncio.run(write_key_uses(uses, db))
    with db.read() as s:
        assert list_keys(s, NOW)[0].last_used_at == NOW + DAY


def test_revoking_or_expiring_a_key_ends_its_dashboard_sessions(db: Database) -> None:
    with db.transaction() as s:
        revoked = create_key(s, "approver", now=NOW)
        expiring = create_key(s, "approver", expires_in=DAY, now=NOW)
        r_who = authenticate(s, revoked, NOW)
        e_who = authenticate(s, expiring, NOW)
        r_token = sessions.start(s, r_who, 48.0, NOW)
        e_token = sessions.start(s, e_who, 48.0, NOW)
    with db.read() as s:
        assert sessions.who(s, r_token, NOW + dt.timedelta(hours=1)) is not None
        assert sessions.who(s, e_token, NOW + DAY - dt.timedelta(seconds=1)) is not None
        assert sessions.who(s, e_token, NOW + DAY) is None  # the key expired, the session too
    with db.transaction() as s:
        revoke_key(s, r_who.id, NOW + dt.timedelta(hours=2))
    with db.read() as s:
        assert sessions.who(s, r_token, NOW + dt.timedelta(hours=2)) is None
