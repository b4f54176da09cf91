"""The two scenarios of DESIGN.md as snapshot data: bank cross-sell and checkout upsell
(with the bank's mortgage journey definition, ``mortgage_journey``).

They are plain data (what an admin would load through the API), used by the demo, the
end-to-end tests of the decision engine and the benchmarks.
"""

from .bank import bank_snapshot, mortgage_journey
from .checkout import checkout_snapshot

__all__ = ["bank_snapshot", "checkout_snapshot", "mortgage_journey"]
