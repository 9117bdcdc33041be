"""Feedback on answers (👍/👎, a reason, an optional comment), stored in SQLite under the data dir.

The store opens a short-lived connection per call in WAL mode with a busy timeout, so several
threads and several app processes can write safely and an acknowledged entry survives a crash.
It stores what the person chose to send (question, answer, citations) and no IP or identity.
Deliberately left out: curated Q&A publishing (an administration follow-up).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

REASONS = ("引用有误", "内容过时", "没有回答问题", "其他")

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    rating INTEGER NOT NULL,          -- 1 = 👍, -1 = 👎
    reason TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT '',
    citations TEXT NOT NULL DEFAULT '[]',  -- JSON list of 《法名》第N条
    persona TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT '',
    handled INTEGER NOT NULL DEFAULT 0,
    handled_at TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS feedback_reason ON feedback(reason, handled);
"""

MAX_COMMENT = 2000
MAX_TEXT = 20000


@dataclass(frozen=True)
class Feedback:
    id: int
    created: str
    rating: int
    reason: str
    comment: str
    question: str
    answer: str
    citations: tuple[str, ...]
    persona: str
    mode: str
    handled: bool
    handled_at: str

    def to_json(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class FeedbackStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    @classmethod
    def in_dir(cls, data_dir: Path) -> FeedbackStore:
        return cls(Path(data_dir) / "feedback.sqlite")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA synchronous=FULL")  # an acknowledged entry is on disk
            with conn:
                yield conn
        finally:
            conn.close()

    # ---- writing -------------------------------------------------------------------------
    def add(self, rating: int, *, question: str = "", answer: str = "", citations: list[str] | tuple[str, ...] = (),
            persona: str = "", mode: str = "", reason: str = "", comment: str = "") -> int:
        rating = 1 if rating > 0 else -1
        reason = _check_reason(reason)
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO feedback (created, rating, reason, comment, question, answer, citations, persona, mode)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (_now(), rating, reason, comment[:MAX_COMMENT], question[:MAX_TEXT], answer[:MAX_TEXT],
                 json.dumps(list(citations), ensure_ascii=False), persona, mode))
            return int(cur.lastrowid)

    def update(self, feedback_id: int, *, rating: int | None = None, reason: str | None = None,
               comment: str | None = None) -> None:
        sets, params = [], []
        if rating is not None:
            sets.append("rating=?")
            params.append(1 if rating > 0 else -1)
        if reason is not None:
            sets.append("reason=?")
            params.append(_check_reason(reason))
        if comment is not None:
            sets.append("comment=?")
            params.append(comment[:MAX_COMMENT])
        if not sets:
            return
        with self._connect() as conn:
            conn.execute(f"UPDATE feedback SET {', '.join(sets)} WHERE id=?", (*params, feedback_id))

    def mark_handled(self, feedback_id: int, handled: bool = True) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE feedback SET handled=?, handled_at=? WHERE id=?",
                         (int(handled), _now() if handled else "", feedback_id))

    # ---- reading -------------------------------------------------------------------------
    def get(self, feedback_id: int) -> Feedback | None:
        rows = self._select("WHERE id=?", (feedback_id,))
        return rows[0] if rows else None

    def list(self, reason: str | None = None, handled: bool | None = None, limit: int = 500) -> list[Feedback]:
        where, params = [], []
        if reason:
            where.append("reason=?")
            params.append(reason)
        if handled is not None:
            where.append("handled=?")
            params.append(int(handled))
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return self._select(f"{clause} ORDER BY id DESC LIMIT ?", (*params, limit))

    def counts(self) -> dict[str, int]:
        with self._connect() as conn:
            total, open_, down = conn.execute(
                "SELECT COUNT(*), SUM(handled=0), SUM(rating<0) FROM feedback").fetchone()
        return {"total": total or 0, "open": open_ or 0, "negative": down or 0}

    def to_csv(self, items: list[Feedback]) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        names = [f.name for f in fields(Feedback)]
        writer.writerow(names)
        for item in items:
            row = []
            for name in names:
                value = getattr(item, name)
                value = "；".join(value) if isinstance(value, tuple) else value
                # Spreadsheet formula injection: a cell starting with = + - @ is shown as text.
                if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
                    value = "'" + value
                row.append(value)
            writer.writerow(row)
        return out.getvalue()

    def _select(self, clause: str, params: tuple) -> list[Feedback]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, created, rating, reason, comment, question, answer, citations, persona, mode, handled,"
                f" handled_at FROM feedback {clause}", params).fetchall()
        return [Feedback(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(json.loads(r[7] or "[]")), r[8], r[9],
                         bool(r[10]), r[11]) for r in rows]


def _check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if reason and reason not in REASONS:
        raise ValueError(f"unknown feedback reason {reason!r}; one of {', '.join(REASONS)}")
    return reason
