"""The names off-policy evaluation answers to, as a request or a file spells them.

Each estimator name has its class in the registry of ``estimators.py`` (``ESTIMATORS``);
importing that module checks that both agree.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["EstimatorName", "IntervalMethod"]

EstimatorName = Literal["ips", "snips", "dm", "dr", "switch_dr", "dros"]

# ``bootstrap``: percentile interval over resampled decisions; ``normal``: estimate ± z × its
# standard error (the delta method's).
IntervalMethod = Literal["bootstrap", "normal"]
