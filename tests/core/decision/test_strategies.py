"""Scoring strategies are registry entries: the spec and the registry agree, and a strategy
without an entry is refused instead of falling through to another."""

from __future__ import annotations

from typing import get_args

import pytest

from nextoffer.core.decision import (
    Channel,
    ChannelSpec,
    ScoringSpec,
    SnapshotError,
    SnapshotSpec,
    build_snapshot,
)
from nextoffer.core.decision.scoring import STRATEGIES
from nextoffer.core.decision.spec import StrategyName
from nextoffer.core.errors import NextofferError
from nextoffer.core.registry import UnknownEntryError
from nextoffer.scenarios import checkout_snapshot


def test_the_registry_and_the_spec_agree_on_the_strategies() -> None:
    assert set(STRATEGIES) == set(get_args(StrategyName))


def test_every_strategy_has_a_unit_and_an_explanation() -> None:
    for name in STRATEGIES:
        entry = STRATEGIES[name]
        assert entry.name == name
        assert entry.unit in ("money", "share")
        assert entry.explanation


def test_an_unknown_strategy_is_refused() -> None:
    scoring = ScoringSpec.model_construct(strategy="thompson")
    with pytest.raises(UnknownEntryError) as caught:
        Channel("web", "partial", (), scoring, 0.0)
    exc = caught.value
    assert isinstance(exc, NextofferError)
    assert exc.field == "strategy"
    assert exc.message == (
        "unknown strategy 'thompson' (known: expected_value, incremental_value, prie)"
    )


def test_a_snapshot_with_an_unknown_strategy_names_its_place() -> None:
    base = SnapshotSpec.model_validate(checkout_snapshot())
    first = base.channels[0]
    odd = ChannelSpec.model_construct(
        id=first.id,
        placements=first.placements,
        coupling=first.coupling,
        scoring=ScoringSpec.model_construct(strategy="thompson", min_score=None),
    )
    spec = base.model_copy(update={"channels": (odd, *base.channels[1:])})
    with pytest.raises(SnapshotError) as caught:
        build_snapshot(spec)
    assert [(d.path, d.message) for d in caught.value.diagnostics] == [
        (
            "channels[0].scoring.strategy",
            "unknown strategy 'thompson' (known: expected_value, incremental_value, prie)",
        )
    ]


def test_the_spec_refuses_an_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="expected_value"):
        ScoringSpec.model_validate({"strategy": "thompson"})


def test_a_compiled_channel_holds_its_strategy() -> None:
    snapshot = build_snapshot(checkout_snapshot())
    for channel in snapshot.channels.values():
        assert channel.strategy is STRATEGIES[channel.scoring.strategy]
