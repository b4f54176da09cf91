"""A ledger row's canonical bytes and its link in the chain."""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

from nextoffer.core.chain import GENESIS, canonical, digest, link


def test_the_canonical_bytes_sort_keys_drop_nulls_and_seq_and_write_times_in_utc() -> None:
    row = {
        "seq": 41, "id": "d-1", "customer_id": None, "shown": ["visa", "ünicode"],
        "decision": {"b": 1, "a": [0.1, 1e-05, True]}, "value": 2.5,
        "occurred_at": dt.datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=ZoneInfo("Europe/Paris")),
    }  # fmt: skip
    assert (
        canonical(row)
        == (
            '{"decision":{"a":[0.1,1e-05,true],"b":1},"id":"d-1","occurred_at":'
            '"2026-03-01T11:00:00.000005Z","shown":["visa","ünicode"],"value":2.5}'
        ).encode()
    )


def test_a_time_without_a_zone_is_utc_and_a_later_null_column_changes_nothing() -> None:
    naive = {"at": dt.datetime(2026, 1, 1, 9, 30)}
    aware = {"at": dt.datetime(2026, 1, 1, 9, 30, tzinfo=dt.UTC), "rule_id": None}
    assert canonical(naive) == canonical(aware)


def test_a_link_is_sha256_of_the_previous_hash_the_seq_and_the_digest() -> None:
    d = digest(b"{}")
    assert d == hashlib.sha256(b"{}").digest()
    expected = hashlib.sha256(bytes(32) + (7).to_bytes(8, "big") + d).digest()
    assert link(GENESIS, 7, d) == expected
    assert link(GENESIS, 8, d) != expected  # the place is part of the link
    assert link(expected, 7, d) != expected
