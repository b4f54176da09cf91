"""Slowing down repeated failed authentication from one client address.

Each address has a bucket of ``burst`` failed attempts that refills by one every
``refill_seconds``. A request that presents a key the service refuses (unknown, revoked,
expired) takes one; while an address's bucket is empty, every request from it that needs a
key is refused at once (429, ``Retry-After``: the seconds until it holds an attempt again),
the key unchecked, so guessing goes no faster than the refill. Other addresses are not
affected. A request with no key at all takes nothing.

The buckets live in each worker's memory: with N workers an address may fail N x ``burst``
times before every worker refuses it, and then about N per ``refill_seconds`` (connections
are spread over the workers by the kernel). At most ``max_addresses`` are remembered; past
that, the full buckets are forgotten first, then the oldest, down to nine tenths.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["AuthThrottle"]


class AuthThrottle:
    def __init__(
        self,
        burst: int,
        refill_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 100_000,
    ) -> None:
        if burst < 1 or refill_seconds <= 0:
            raise ValueError("an address needs at least one attempt, refilled after some time")
        self.burst, self.refill, self.clock = burst, refill_seconds, clock
        self.max_addresses = max_addresses
        # per address: the attempts it had left, and when
        self._left: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()  # the event loop and the dashboard's threads share it

    def _now_left(self, address: str, now: float) -> float:
        found = self._left.get(address)
        if found is None:
            return float(self.burst)
        left, at = found
        return min(float(self.burst), left + (now - at) / self.refill)

    def retry_after(self, address: str) -> int:
        """Whole seconds until ``address`` may try a key again (0: it may now)."""
        with self._lock:
            left = self._now_left(address, self.clock())
        if left >= 1:
            return 0
        return max(1, math.ceil((1 - left) * self.refill))

    def failed(self, address: str) -> None:
        """``address`` presented a key that was refused."""
        with self._lock:
            now = self.clock()
            left = self._now_left(address, now) - 1
            self._left[address] = (max(left, 0.0), now)
            self._left.move_to_end(address)
            if len(self._left) > self.max_addresses:
                self._forget(now)

    def _forget(self, now: float) -> None:
        for address in [a for a in self._left if self._now_left(a, now) >= self.burst]:
            del self._left[address]
        while len(self._left) > self.max_addresses * 9 // 10:  # room, not a sweep per failure
            self._left.popitem(last=False)
