"""Per-client rate limits for the public HTTP API: per IP and per widget session, per minute and per day.

Fixed windows counted in memory (a dict of small counters behind one lock): cheap and exact enough
for an outreach kiosk. A client may get up to twice a window's allowance across a window boundary.
Deliberately left out: shared state between processes. Each uvicorn worker (or replica behind a
load balancer) counts on its own, so with N workers a client can make up to N × the limit; run one
worker, or put the limit in the reverse proxy, when that matters.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..settings import Settings

MINUTE = 60.0
DAY = 86_400.0
_PRUNE_EVERY = 4096  # keys added between sweeps of expired counters


@dataclass(frozen=True)
class Rule:
    scope: str  # "ip" | "session"
    window: float  # seconds
    limit: int  # requests per window; 0 = unlimited


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # whole seconds until the window that refused the request resets
    scope: str = ""  # which rule refused: "ip" or "session"
    window: float = 0.0


class RateLimiter:
    def __init__(self, rules: list[Rule], clock: Callable[[], float] = time.monotonic):
        self.rules = [r for r in rules if r.limit > 0]
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, float, str], list[float]] = {}  # (scope, window, key) → [start, count]
        self._added = 0

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float] = time.monotonic) -> RateLimiter:
        return cls([Rule("ip", MINUTE, settings.limit_ip_minute), Rule("ip", DAY, settings.limit_ip_day),
                    Rule("session", MINUTE, settings.limit_session_minute),
                    Rule("session", DAY, settings.limit_session_day)], clock)

    def hit(self, ip: str, session: str = "") -> Verdict:
        """Count one request for this client; refused requests are not counted."""
        keys = {"ip": ip, "session": session}
        now = self.clock()
        with self._lock:
            slots = []
            for rule in self.rules:
                key = keys.get(rule.scope)
                if not key:
                    continue
                slot = self._windows.get((rule.scope, rule.window, key))
                if slot is None or now - slot[0] >= rule.window:
                    slot = [now, 0]
                    self._windows[(rule.scope, rule.window, key)] = slot
                    self._added += 1
                if slot[1] >= rule.limit:
                    wait = max(1, math.ceil(slot[0] + rule.window - now))
                    return Verdict(False, wait, rule.scope, rule.window)
                slots.append(slot)
            for slot in slots:
                slot[1] += 1
            if self._added >= _PRUNE_EVERY:
                self._prune(now)
        return Verdict(True)

    def _prune(self, now: float) -> None:
        self._windows = {k: v for k, v in self._windows.items() if now - v[0] < k[1]}
        self._added = 0

    def __len__(self) -> int:
        return len(self._windows)
