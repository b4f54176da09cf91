"""The root of every error the core raises: input it cannot use, naming the field at fault.

    NextofferError                  -- any input the core refuses (a ValueError)
     +-- RuleError                  -- a condition that cannot be used (core.rules.errors)
     |    +-- RuleSyntaxError       -- the text does not parse, or the JSON is not a condition
     |    +-- RuleTypeError         -- unknown name, wrong type, operator that does not fit
     |    +-- RuleLimitError        -- too deep, too large, too long, or too much work
     +-- ContextError               -- a request value does not fit the customer schema
     |                                 (core.rules.context)
     +-- SnapshotError              -- snapshot data that cannot be built (core.decision.snapshot)
     +-- DecisionError              -- a request that cannot be decided (core.decision.result)
     +-- UnknownEntryError          -- a name no registry entry answers to: a contact-policy
     |                                 type, a scoring strategy, a journey step type or an
     |                                 off-policy estimator (core.registry)
     +-- FeatureError               -- feature data that cannot be encoded (core.learning.features)
     +-- UpliftError                -- training data an uplift learner cannot use
     |                                 (core.learning.uplift)
     +-- MiningError                -- a mining threshold or input that is unusable
     |                                 (core.learning.mining)
     +-- OpeError                   -- logged decisions or an estimator setting that
     |                                 off-policy evaluation cannot use
     |                                 (core.learning.ope)
     +-- JourneyError               -- a journey definition that cannot be compiled, or an
                                       input or record a journey cannot take
                                       (core.journeys.errors)

Every one carries ``field`` (the input at fault, as a path such as ``offers[3].eligibility``
or ``at``; empty when no single field is) and ``message`` (what is wrong with it, without the
field), so that the shell maps them once, without parsing the text. ``str(exc)`` is
``"field: message"`` (or the message alone, without a field); errors that gather several
problems (``RuleError``, ``SnapshotError``, ``JourneyError``) say all of them there, and carry
the first one's field and message.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["NextofferError", "field_path"]


def field_path(loc: tuple[int | str, ...], tags: Collection[str] = ()) -> str:
    """A field's path (``offers[3].eligibility``, ``steps[2].next``) from a Pydantic error
    location: the names of union members (``str``, ``dict``) dropped, and ``tags`` (a
    discriminated union's tag values, as in ``steps[2].offer.next``) after an index."""
    out = ""
    after_index = False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            after_index = True
            continue
        if (
            part.isidentifier()
            and part not in ("str", "dict")
            and not (after_index and part in tags)
        ):
            out += f".{part}" if out else part
        after_index = False
    return out or "$"


class NextofferError(ValueError):
    """Input the core refuses. ``field`` names it (may be empty), ``message`` says why."""

    def __init__(self, field: str, message: str, *, text: str | None = None) -> None:
        self.field = field
        self.message = message
        if text is None:
            text = f"{field}: {message}" if field else message
        super().__init__(text)
