"""Per-identity rate limiting of signalling requests (a token bucket per hypervisor).

A hypervisor that floods the controller must not starve the others: each identity owns a bucket
of `burst` tokens refilled at `rate` tokens per second; a request takes one token, and a request
that finds the bucket empty is answered FAIL BUSY at once (before it is decoded or reaches the
service) with a detail naming the limit. Other identities keep their own buckets and are served.

In insecure lab mode any client can claim any name, so the number of buckets is bounded: when
`max_identities` is reached the buckets that are full again (idle callers) are dropped, and if
none is, the least recently used one is.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.errors import NveError

log = logging.getLogger(__name__)

DEFAULT_RATE = 200.0
"""Requests per second each identity may sustain."""
DEFAULT_BURST = 400
"""Requests an idle identity may send at once."""
MAX_IDENTITIES = 10_000
LOG_EVERY = 5.0
"""Seconds between two log lines about the same limited identity."""


class RateLimitConfigError(NveError):
    """A rate-limit setting is malformed."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`rate` requests per second, `burst` at once; rate 0 turns limiting off."""

    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST

    def __post_init__(self) -> None:
        if self.rate < 0 or self.burst < 1:
            raise RateLimitConfigError(f"rate limit {self.rate}/s burst {self.burst}: the rate "
                                       "must be >= 0 and the burst >= 1")

    @property
    def enabled(self) -> bool:
        """False when the rate is 0 (no limit)."""
        return self.rate > 0

    def describe(self) -> str:
        """'200 requests/s, burst 400'."""
        return f"{self.rate:g} requests/s, burst {self.burst}" if self.enabled else "no limit"

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> RateLimit:
        """From the `[controller]` TOML table: `rate_limit` (req/s, 0 = off) and `rate_burst`
        (default: twice the rate, or 400 when neither is given)."""
        rate = table.get("rate_limit", DEFAULT_RATE)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise RateLimitConfigError(f"controller.rate_limit: expected a number, got {rate!r}")
        default_burst = DEFAULT_BURST if "rate_limit" not in table else max(1, int(2 * rate))
        burst = table.get("rate_burst", default_burst)
        if isinstance(burst, bool) or not isinstance(burst, int):
            raise RateLimitConfigError(f"controller.rate_burst: expected an integer, got {burst!r}")
        try:
            return cls(float(rate), burst)
        except RateLimitConfigError as exc:
            raise RateLimitConfigError(f"controller: {exc}") from None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    limited: int = 0          # requests refused since the last log line
    logged: float = float("-inf")


class RateLimiter:
    """Token buckets by identity. `allow(identity)` takes a token or says no."""

    def __init__(self, limit: RateLimit = RateLimit(),
                 clock: Callable[[], float] = time.monotonic,
                 max_identities: int = MAX_IDENTITIES) -> None:
        self.limit = limit
        self.clock = clock
        self.max_identities = max_identities
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.refused = 0
        """Requests refused since start (all identities)."""

    def allow(self, identity: str) -> bool:
        """Take one token from `identity`'s bucket; False (and a rate-limited log line at
        most every LOG_EVERY seconds per identity) when it is empty."""
        if not self.limit.enabled:
            return True
        now = self.clock()
        bucket = self._buckets.get(identity)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[identity] = _Bucket(float(self.limit.burst), now)
        else:
            self._buckets.move_to_end(identity)
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(float(self.limit.burst), bucket.tokens + elapsed * self.limit.rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        self.refused += 1
        bucket.limited += 1
        if now - bucket.logged >= LOG_EVERY:
            log.warning("hypervisor=%s rate-limited (%s): %d request(s) answered BUSY",
                        identity, self.limit.describe(), bucket.limited)
            bucket.logged = now
            bucket.limited = 0
        return False

    def detail(self, identity: str) -> str:
        """The FAIL detail of a refused request."""
        return (f"rate limit exceeded for {identity}: {self.limit.describe()}; "
                "retry later")

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self.max_identities:
            return
        full = [name for name, b in self._buckets.items()
                if b.tokens + (now - b.stamp) * self.limit.rate >= self.limit.burst]
        for name in full:
            del self._buckets[name]
        while len(self._buckets) >= self.max_identities:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
