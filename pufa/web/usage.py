"""Aggregate usage counters for the public API and widget: how many requests, answers, refusals, errors.

Only totals are kept, never who asked what: no IP, no question, no session id. They live in memory
(reset on restart, per process) and are shown on `/api/health` under "usage".
"""

from __future__ import annotations

import threading
import time
from collections import Counter


class Usage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.since = time.strftime("%Y-%m-%dT%H:%M:%S")

    def add(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._counts[name] += 1

    def snapshot(self) -> dict:
        with self._lock:
            counts = dict(sorted(self._counts.items()))
        return {"since": self.since, "counts": counts}
