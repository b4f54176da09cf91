"""Contact-policy types are registry entries: the spec and the registry agree, and a type
without an entry is refused instead of silently blocking (or passing) every offer."""

from __future__ import annotations

from typing import get_args

import pytest

from nextoffer.core.decision import PolicySpec, SnapshotError, SnapshotSpec, build_snapshot
from nextoffer.core.decision.policies import POLICY_TYPES, ContactPolicy, compile_policies
from nextoffer.core.decision.spec import POLICY_FIELDS, PolicyTypeName
from nextoffer.core.errors import NextofferError
from nextoffer.core.registry import Registry, UnknownEntryError
from nextoffer.scenarios import checkout_snapshot


def test_the_registry_and_the_spec_agree_on_the_policy_types() -> None:
    assert set(POLICY_TYPES) == set(get_args(PolicyTypeName)) == set(POLICY_FIELDS)


def test_a_registry_that_disagrees_with_the_spec_is_refused() -> None:
    registry = Registry("contact-policy type", "type", [("frequency_cap", object())])
    with pytest.raises(AssertionError, match=r"allowed but not registered \['cooldown'\]"):
        registry.agree(["frequency_cap", "cooldown"])
    with pytest.raises(AssertionError, match=r"registered but not allowed \['frequency_cap'\]"):
        registry.agree([])


def test_an_unknown_policy_type_is_refused_not_silently_blocking() -> None:
    with pytest.raises(UnknownEntryError) as caught:
        ContactPolicy(id="p", type="quiet_hours", level="global", members=frozenset(),
                      scope="global")  # fmt: skip
    exc = caught.value
    assert isinstance(exc, NextofferError)
    assert exc.field == "type"
    assert exc.message.startswith("unknown contact-policy type 'quiet_hours' (known: cooldown,")


def test_an_unknown_policy_type_cannot_be_compiled() -> None:
    spec = PolicySpec.model_construct(id="p", type="quiet_hours", priority=50)
    with pytest.raises(UnknownEntryError, match="unknown contact-policy type 'quiet_hours'"):
        compile_policies([spec])


def test_a_snapshot_with_an_unknown_policy_type_names_its_place() -> None:
    base = SnapshotSpec.model_validate(checkout_snapshot())
    odd = PolicySpec.model_construct(
        id="quiet", type="quiet_hours", priority=50, scope=base.policies[0].scope, offers=()
    )
    spec = base.model_copy(update={"policies": (*base.policies, odd)})
    with pytest.raises(SnapshotError) as caught:
        build_snapshot(spec)
    where = f"policies[{len(base.policies)}].type"
    assert [(d.path, d.message.split(" (")[0]) for d in caught.value.diagnostics] == [
        (where, "unknown contact-policy type 'quiet_hours'")
    ]


def test_the_spec_refuses_an_unknown_policy_type() -> None:
    with pytest.raises(ValueError, match="frequency_cap"):
        PolicySpec.model_validate({"id": "p", "type": "quiet_hours"})


def test_mutual_exclusion_is_applied_when_placing_not_compiled() -> None:
    specs = [
        PolicySpec(id="one-of", type="mutual_exclusion", offers=("a", "b")),
        PolicySpec(id="backoff", type="session_backoff", declines=3),
    ]
    assert [p.id for p in compile_policies(specs)] == ["backoff"]
    with pytest.raises(AssertionError, match="applied when placing"):
        ContactPolicy(id="x", type="mutual_exclusion", level="global", members=frozenset(),
                      scope="global")  # fmt: skip


@pytest.mark.parametrize("name", sorted(set(POLICY_TYPES) - {"mutual_exclusion"}))
def test_each_contact_policy_type_compiles_with_its_checks(name: str) -> None:
    fields = {"limit": 1, "period": "day", "hours": 2.0, "declines": 1, "days": 3.0}
    spec = PolicySpec.model_validate({"id": "p", "type": name, **fields})
    (policy,) = compile_policies([spec])
    entry = POLICY_TYPES[name]
    assert policy.per_offer is entry.per_offer
    assert policy.once is entry.once
    assert entry.check is None or policy.check is entry.check
    assert entry.unit
