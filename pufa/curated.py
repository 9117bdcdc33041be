"""Curated Q&A: answers staff wrote and published, stored with an audit trail, matched to questions.

A handled feedback item can become a curated Q&A: staff write the answer, attach the articles it
rests on (《法名》第N条, checked against the catalog and by `citations.verify` like any answer), and
publish it. Every create / edit / publish / unpublish is recorded in the audit table (who, what, when).

Published Q&As are their own source type: `CuratedMatcher` indexes their questions with the same
jieba tokenizer as the lexical index and compares a new question by weighted cosine over token
sets. A term the article index knows weighs its IDF there (so "处罚" weighs little and "未批先建" a
lot); a colloquial word the laws never use ("交上去", "一般") weighs a fixed `UNKNOWN_WEIGHT`, not
the maximum IDF it would otherwise get. Above `THRESHOLD` (measured with bench/curated_threshold.py,
see the README) the curated answer is shown first.
Deliberately left out: semantic (dense) matching and per-persona answers.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .answer import Citation
from .catalog import Catalog
from .citations import verify
from .errors import InputError, NotFoundError

# Chosen on bench/curated_threshold.py (eval/questions/curated_match.jsonl): the lowest threshold with
# no false match among the negatives, rounded up for margin. See the README's "Curated Q&A".
THRESHOLD = 0.55
UNKNOWN_WEIGHT = 2.0  # weight of a term the article index never uses (IDFs there run 0–10, median ≈ 8.7)
LABEL = "「人工审核答复」"
DRAFT, PUBLISHED, UNPUBLISHED = "draft", "published", "unpublished"
STATUS_LABELS = {DRAFT: "草稿", PUBLISHED: "已发布", UNPUBLISHED: "已撤下"}
MAX_QUESTION, MAX_ANSWER, MAX_REFS = 500, 5000, 10

SCHEMA = """
CREATE TABLE IF NOT EXISTS qa (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    refs TEXT NOT NULL DEFAULT '[]',       -- JSON list of 《法名》第N条 as staff attached them
    status TEXT NOT NULL DEFAULT 'draft',  -- draft | published | unpublished
    feedback_id INTEGER,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    published_at TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    qa_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,                  -- create | edit | publish | unpublish
    detail TEXT NOT NULL DEFAULT '{}');    -- JSON: changed fields {"field": [old, new]}
CREATE INDEX IF NOT EXISTS audit_qa ON audit(qa_id);
"""

_REF = re.compile(r"^《?\s*(?P<law>[^《》\s]{2,40}?)\s*》?\s*(?P<num>第?\s*[零〇一二两三四五六七八九十百千万\d]+\s*条?"
                  r"(?:之[一二三四五六七八九十\d]+)?)$")
MARKER = re.compile(r"(?<!\\)\[(\d{1,3})\]")


class CuratedError(InputError):
    """A curated Q&A that cannot be saved or published as given (message in Chinese, for staff)."""


@dataclass(frozen=True)
class CuratedQA:
    id: int
    question: str
    answer: str
    refs: tuple[str, ...]
    status: str
    feedback_id: int | None
    created: str
    updated: str
    published_at: str


@dataclass(frozen=True)
class AuditEntry:
    id: int
    qa_id: int
    at: str
    actor: str
    action: str
    detail: dict


@dataclass(frozen=True)
class Match:
    qa: CuratedQA
    score: float


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_refs(text: str | Iterable[str]) -> tuple[str, ...]:
    """One reference per line (or list item): 《大气污染防治法》第九十九条, 大气法 99, 法典第1095条 …"""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    out: list[str] = []
    for raw in lines:
        for part in re.split(r"[；;，,、]", raw):
            part = part.strip()
            if not part:
                continue
            m = _REF.match(part)
            if m is None:
                raise CuratedError(f"无法识别的条文引用“{part}”，请写成《法律名称》第N条，每行一条。")
            num = re.sub(r"\s+", "", m.group("num"))
            num = num if num.startswith("第") else "第" + num
            num = num if "条" in num else num + "条"
            out.append(f"《{m.group('law')}》{num}")
    return tuple(dict.fromkeys(out))


def resolve_refs(refs: Iterable[str], catalog: Catalog) -> list[Citation]:
    """Each reference as a numbered Citation from the catalog; an unknown law or article is a CuratedError."""
    citations: list[Citation] = []
    problems: list[str] = []
    for ref in refs:
        m = _REF.match(ref)
        if m is None:
            problems.append(f"无法识别的条文引用“{ref}”")
            continue
        try:
            article = catalog.article(m.group("law"), m.group("num"))
        except NotFoundError:
            problems.append(f"{ref} 在条文库中不存在")
            continue
        citations.append(Citation(len(citations) + 1, article))
    if problems:
        raise CuratedError("；".join(problems) + "。请核对法律名称和条号（可在条文浏览器中查找）。")
    return citations


def curated_text(qa: CuratedQA, citations: list[Citation]) -> str:
    """The curated answer as shown: the label, the staff's text, and the basis with [n] markers."""
    body = qa.answer.strip()
    lines = [f"**{LABEL}**", body]
    if not MARKER.search(body) and citations:
        lines.append("依据：" + "；".join(f"{c.article.citation()}[{c.n}]" for c in citations))
    return "\n".join(lines)


def checked_prefix(qa: CuratedQA, catalog: Catalog) -> tuple[str, tuple[Citation, ...]]:
    """Text and citations of a curated answer, verified like any answer; CuratedError when it does not pass whole."""
    if not qa.refs:
        raise CuratedError("请至少附上一条所依据的条文。")
    citations = resolve_refs(qa.refs, catalog)
    text = curated_text(qa, citations)
    checked = verify(text, tuple(citations), catalog)
    if checked.dropped:
        raise CuratedError("答复未通过引用核验：" + "".join(checked.notices) + "请修改答复或补充所依据的条文。")
    used = {c.n for c in checked.citations}
    unused = [c.article.citation() for c in citations if c.n not in used]
    if unused:  # only when the text carries markers: every attached article must be cited somewhere
        raise CuratedError(f"附上的条文 {'、'.join(unused)} 在答复中没有用 [n] 标注引用。")
    return checked.text, tuple(citations)


class CuratedStore:
    """SQLite (WAL) under the data dir. Reading a store that was never written creates nothing."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._ready = False

    @classmethod
    def in_dir(cls, data_dir: Path) -> CuratedStore:
        return cls(Path(data_dir) / "curated.sqlite")

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection | None]:
        if not write and not self._ready and not self.path.exists():
            yield None
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                self._ready = True
            conn.execute("PRAGMA synchronous=FULL")
            with conn:
                yield conn
        finally:
            conn.close()

    # ---- writing (each change and its audit row in one transaction) ---------------------------
    def create(self, question: str, answer: str, refs: Iterable[str], actor: str, feedback_id: int | None = None) -> int:
        question, answer, refs = _clean(question, answer, refs)
        now = _now()
        with self._connect(write=True) as conn:
            cur = conn.execute("INSERT INTO qa (question, answer, refs, status, feedback_id, created, updated)"
                               " VALUES (?,?,?,?,?,?,?)",
                               (question, answer, json.dumps(list(refs), ensure_ascii=False), DRAFT, feedback_id, now, now))
            qa_id = int(cur.lastrowid)
            detail = {"question": question, "answer": answer, "refs": list(refs)}
            if feedback_id:
                detail["feedback_id"] = feedback_id
            _audit(conn, qa_id, actor, "create", detail)
        return qa_id

    def edit(self, qa_id: int, actor: str, *, question: str, answer: str, refs: Iterable[str]) -> CuratedQA:
        """Save changes. A published Q&A goes back to draft: it must be checked and published again."""
        old = self._require(qa_id)
        question, answer, refs = _clean(question, answer, refs)
        changes = {k: [getattr(old, k) if k != "refs" else list(old.refs), v]
                   for k, v in (("question", question), ("answer", answer), ("refs", list(refs)))
                   if (list(getattr(old, k)) if k == "refs" else getattr(old, k)) != v}
        if not changes:
            return old
        if old.status == PUBLISHED:
            changes["status"] = [PUBLISHED, DRAFT]
        with self._connect(write=True) as conn:
            conn.execute("UPDATE qa SET question=?, answer=?, refs=?, status=?, updated=? WHERE id=?",
                         (question, answer, json.dumps(list(refs), ensure_ascii=False),
                          DRAFT if old.status == PUBLISHED else old.status, _now(), qa_id))
            _audit(conn, qa_id, actor, "edit", changes)
        return self._require(qa_id)

    def publish(self, qa_id: int, actor: str, catalog: Catalog) -> CuratedQA:
        """Check every attached article and the text (citations.verify), then publish; else CuratedError."""
        qa = self._require(qa_id)
        checked_prefix(qa, catalog)
        with self._connect(write=True) as conn:
            conn.execute("UPDATE qa SET status=?, published_at=?, updated=? WHERE id=?",
                         (PUBLISHED, _now(), _now(), qa_id))
            _audit(conn, qa_id, actor, "publish", {"status": [qa.status, PUBLISHED], "refs": list(qa.refs)})
        return self._require(qa_id)

    def unpublish(self, qa_id: int, actor: str) -> CuratedQA:
        qa = self._require(qa_id)
        if qa.status != PUBLISHED:
            raise CuratedError("这条答复目前没有发布。")
        with self._connect(write=True) as conn:
            conn.execute("UPDATE qa SET status=?, updated=? WHERE id=?", (UNPUBLISHED, _now(), qa_id))
            _audit(conn, qa_id, actor, "unpublish", {"status": [PUBLISHED, UNPUBLISHED]})
        return self._require(qa_id)

    # ---- reading ---------------------------------------------------------------------------
    def get(self, qa_id: int) -> CuratedQA | None:
        rows = self._select("WHERE id=?", (qa_id,))
        return rows[0] if rows else None

    def list(self, status: str | None = None) -> list[CuratedQA]:
        if status:
            return self._select("WHERE status=? ORDER BY id DESC", (status,))
        return self._select("ORDER BY id DESC", ())

    def published(self) -> list[CuratedQA]:
        return self._select("WHERE status=? ORDER BY id", (PUBLISHED,))

    def audit(self, qa_id: int | None = None) -> list[AuditEntry]:
        with self._connect() as conn:
            if conn is None:
                return []
            sql = "SELECT id, qa_id, at, actor, action, detail FROM audit"
            rows = conn.execute(sql + (" WHERE qa_id=? ORDER BY id" if qa_id else " ORDER BY id"),
                                (qa_id,) if qa_id else ()).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def revision(self) -> int:
        """Grows with every change (the last audit id): lets a matcher know when to re-index."""
        with self._connect() as conn:
            if conn is None:
                return 0
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM audit").fetchone()[0])

    def _require(self, qa_id: int) -> CuratedQA:
        qa = self.get(qa_id)
        if qa is None:
            raise CuratedError(f"没有编号为 {qa_id} 的人工审核答复。")
        return qa

    def _select(self, clause: str, params: tuple) -> list[CuratedQA]:
        with self._connect() as conn:
            if conn is None:
                return []
            rows = conn.execute("SELECT id, question, answer, refs, status, feedback_id, created, updated, published_at"
                                f" FROM qa {clause}", params).fetchall()
        return [CuratedQA(r[0], r[1], r[2], tuple(json.loads(r[3] or "[]")), r[4], r[5], r[6], r[7], r[8])
                for r in rows]


def _audit(conn: sqlite3.Connection, qa_id: int, actor: str, action: str, detail: dict) -> None:
    actor = (actor or "").strip()[:40] or "管理员"
    conn.execute("INSERT INTO audit (qa_id, at, actor, action, detail) VALUES (?,?,?,?,?)",
                 (qa_id, _now(), actor, action, json.dumps(detail, ensure_ascii=False)))


def _clean(question: str, answer: str, refs: Iterable[str]) -> tuple[str, str, tuple[str, ...]]:
    question, answer = (question or "").strip(), (answer or "").strip()
    if not question:
        raise CuratedError("请填写问题。")
    if not answer:
        raise CuratedError("请填写答复内容。")
    if len(question) > MAX_QUESTION or len(answer) > MAX_ANSWER:
        raise CuratedError(f"问题最多 {MAX_QUESTION} 字，答复最多 {MAX_ANSWER} 字。")
    refs = parse_refs(list(refs))
    if len(refs) > MAX_REFS:
        raise CuratedError(f"最多附 {MAX_REFS} 条依据条文。")
    return question, answer, refs


def term_weight(lexical) -> Callable[[str], float]:
    """The weight of a question term, from the article index (pufa.lexical.LexicalIndex)."""
    return lambda term: lexical.idf(term) if lexical.has_term(term) else UNKNOWN_WEIGHT


class CuratedMatcher:
    """Weighted cosine over jieba token sets between a question and each published question."""

    def __init__(self, entries: Iterable[CuratedQA], tokens: Callable[[str], list[str]],
                 weight: Callable[[str], float], threshold: float = THRESHOLD):
        self._tokens = tokens
        self._weight = weight
        self.threshold = threshold
        self._entries = [(qa, self._vector(qa.question)) for qa in entries]

    def _vector(self, text: str) -> dict[str, float]:
        return {t: self._weight(t) for t in set(self._tokens(text))}

    @staticmethod
    def similarity(a: dict[str, float], b: dict[str, float]) -> float:
        if not a or not b:
            return 0.0
        common = sum(a[t] * b[t] for t in a.keys() & b.keys())
        norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
        return common / norm if norm else 0.0

    def scores(self, question: str) -> list[Match]:
        vector = self._vector(question)
        return sorted((Match(qa, self.similarity(vector, v)) for qa, v in self._entries),
                      key=lambda m: -m.score)

    def best(self, question: str) -> Match | None:
        """The closest published Q&A at or above the threshold, or None."""
        found = self.scores(question)
        return found[0] if found and found[0].score >= self.threshold else None
