"""A per-session sliding-window limit in memory, per server process: it turns a flood away before
it costs a database round trip (batches, access-code requests). The batch limit that holds
across processes is kept in the session's row (ingest.py ``_rate_slot``)."""

from __future__ import annotations

import threading
import time
from collections import deque

from .errors import TooManyRequests


class RateLimiter:
    """At most ``limit`` calls per ``window`` seconds per key; the oldest keys are forgotten
    when more than ``max_keys`` are tracked, so memory stays bounded."""

    def __init__(
        self, limit: int, window: float = 60.0, max_keys: int = 100_000, what: str = "batches"
    ) -> None:
        self.limit, self.window, self.max_keys, self.what = limit, window, max_keys, what
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            self._hits[key] = hits  # re-inserted: dict order is least recently used first
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = max(1, int(hits[0] + self.window - now) + 1)
                raise TooManyRequests(
                    "rate_limited",
                    f"at most {self.limit} {self.what} per "
                    + ("minute" if self.window == 60 else f"{self.window:g} s")
                    + " per session",
                    retry_after=retry,
                )
            hits.append(now)
            while len(self._hits) > self.max_keys:
                del self._hits[next(iter(self._hits))]
