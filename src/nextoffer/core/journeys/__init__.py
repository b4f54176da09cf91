"""Journeys: a versioned graph of steps that a customer moves through over days.

The model, from what is written to what runs::

    definition (JSON/YAML)  --JourneySpec.model_validate-->  JourneySpec        spec.py
    JourneySpec + version + catalog  --compile_journey-->   Journey            compile.py
    (Journey, Enrollment | None, input at t)  --advance-->  (Enrollment', actions)
                                                                                machine.py
    Transition records  --replay / apply-->  Enrollment                          state.py

- A **definition** names who enters (``entry``: a condition, the arrivals that check it,
  an outbound segment), the **steps** from ``start`` (offer, wait, branch, exit; one
  ``StepType`` entry each in ``STEP_TYPES``), the **exit conditions**, **re-entry**, the
  **maximum duration**, **caps** and the **holdout share**. Durations are text: ``"7d"``,
  ``"12h"``, ``"1d12h"`` (``duration.py``).
- ``compile_journey`` checks it as a whole (the step graph, conditions with the rule
  language, the catalog) and raises one ``JourneyError`` naming every field at fault; the
  result, a ``Journey``, is one version, immutable, with its conditions compiled.
- An ``Enrollment`` is one customer in one journey version. ``advance`` is the pure step
  function: its inputs are ``Enter`` (the customer qualifies; ``holdout`` says they are a
  control customer), ``Event`` (about the customer), ``Tick`` (the clock), and
  ``DecisionResult`` (an offer step's decision); its actions are the ``Transition`` records
  to append to the ledger, ``Decide`` (make an offer step's decision) and ``Exit``. The new
  enrollment's ``due_at`` says when it next needs a tick.
- ``replay`` (``apply`` one at a time) rebuilds an enrollment from its transitions alone,
  exactly as ``advance`` left it; ``admit`` says whether a customer may (re-)enter, given
  their last enrollment and the journey's counts.

Branch and exit conditions read the customer's context and the journey's own names::

    journey.days               float         days since entry
    journey.step_days          float         days at the current step
    journey.events             list[string]  types of the customer's events since entry
    journey.visited            list[string]  ids of the steps entered since entry
    journey.steps.<id>.events  list[string]  per offer step: types of the events about
                                             its offers since entry

For example, a branch ``"click" in journey.steps.lead.events or "accept" in
journey.steps.lead.events`` sends those who clicked or accepted the lead on, and an exit
condition ``"convert" in journey.steps.lead.events`` ends the journey as ``converted``.

A round, as the shell runs it::

    journey = compile_journey(data, version=3, customer_schema=schema, offers=..., channels=...)
    if journey.qualifies(context) and admit(journey, last, at, counts).allowed:
        progress = advance(journey, last, Enter(customer, at, journey.in_holdout(customer)),
                           context=context)
    for action in progress.actions: ...   # append Transitions, make Decides, note Exits
    progress = advance(journey, progress.enrollment, DecisionResult("lead", at, shown=(...)))
"""

from .actions import Action, Decide, Exit
from .admission import Admission, JourneyCounts, admit, day_start
from .compile import Journey, compile_journey
from .duration import Duration, format_duration, parse_duration
from .errors import JourneyError
from .inputs import DecisionResult, Enter, Event, Input, Tick
from .machine import Progress, advance
from .names import journey_context, journey_names
from .spec import (
    BranchSpec,
    BranchStep,
    Caps,
    EntrySpec,
    ExitCondition,
    ExitStep,
    JourneySpec,
    OfferStep,
    OnBlocked,
    Reentry,
    StepSpec,
    StepTypeName,
    WaitStep,
    WaitUntil,
)
from .state import Enrollment, Phase, Status, Transition, TransitionKind, apply, replay
from .steps import STEP_TYPES, Leave, Offering, Onward, Reaction, Rest, StepContext, StepType

__all__ = [
    "STEP_TYPES",
    "Action",
    "Admission",
    "BranchSpec",
    "BranchStep",
    "Caps",
    "Decide",
    "DecisionResult",
    "Duration",
    "Enrollment",
    "Enter",
    "EntrySpec",
    "Event",
    "Exit",
    "ExitCondition",
    "ExitStep",
    "Input",
    "Journey",
    "JourneyCounts",
    "JourneyError",
    "JourneySpec",
    "Leave",
    "OfferStep",
    "Offering",
    "OnBlocked",
    "Onward",
    "Phase",
    "Progress",
    "Reaction",
    "Reentry",
    "Rest",
    "Status",
    "StepContext",
    "StepSpec",
    "StepType",
    "StepTypeName",
    "Tick",
    "Transition",
    "TransitionKind",
    "WaitStep",
    "WaitUntil",
    "admit",
    "advance",
    "apply",
    "compile_journey",
    "day_start",
    "format_duration",
    "journey_context",
    "journey_names",
    "parse_duration",
    "replay",
]
