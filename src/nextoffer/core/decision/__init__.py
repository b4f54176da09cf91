"""The decision engine: which offers to show where, for one request, and why.

    snapshot = build_snapshot(data)          # validate and compile once
    decision = decide(snapshot, request, state)

The path is candidates → qualify → policies → score → gates → rank → place → holdout (see
DESIGN.md, "The decision path"); ``decision.trace`` counts every stage and explains every drop.
A channel whose strategy explores (``exploration.py``) chooses at random in place, seeded
by ``decide(..., seed=)``, and ``decision.exploration`` records every choice's probability.
"""

from .arms import (
    LIVE,
    ArmSpec,
    StrategyExperimentSpec,
    StrategySpec,
    arm_of,
    assignment_key,
    with_strategy,
)
from .engine import assignment, decide
from .result import (
    STAGES,
    Decision,
    DecisionError,
    Drop,
    Exploration,
    FiredRule,
    JourneyStep,
    PlacementResult,
    Shown,
    SlotChoice,
    StageTrace,
    Trace,
)
from .snapshot import (
    Channel,
    DisabledRule,
    Offer,
    Rule,
    Snapshot,
    SnapshotError,
    build_snapshot,
)
from .spec import (
    AttachEstimate,
    ChannelSpec,
    Contact,
    CustomerState,
    ExplorationSpec,
    Guardrails,
    HoldoutSpec,
    MatchSpec,
    OfferSpec,
    PlacementSpec,
    PolicySpec,
    ProductSpec,
    RuleRevisionSpec,
    Scope,
    ScoringSpec,
    Seen,
    SnapshotSpec,
    UpliftEstimate,
    Weights,
)

__all__ = [
    "LIVE",
    "STAGES",
    "ArmSpec",
    "AttachEstimate",
    "Channel",
    "ChannelSpec",
    "Contact",
    "CustomerState",
    "Decision",
    "DecisionError",
    "DisabledRule",
    "Drop",
    "Exploration",
    "ExplorationSpec",
    "FiredRule",
    "Guardrails",
    "HoldoutSpec",
    "JourneyStep",
    "MatchSpec",
    "Offer",
    "OfferSpec",
    "PlacementResult",
    "PlacementSpec",
    "PolicySpec",
    "ProductSpec",
    "Rule",
    "RuleRevisionSpec",
    "Scope",
    "ScoringSpec",
    "Seen",
    "Shown",
    "SlotChoice",
    "Snapshot",
    "SnapshotError",
    "SnapshotSpec",
    "StageTrace",
    "StrategyExperimentSpec",
    "StrategySpec",
    "Trace",
    "UpliftEstimate",
    "Weights",
    "arm_of",
    "assignment",
    "assignment_key",
    "build_snapshot",
    "decide",
    "with_strategy",
]
