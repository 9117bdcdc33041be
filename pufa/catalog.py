"""The catalog: laws, articles and chunks in SQLite, for exact lookup independent of similarity.

Lookups accept full titles, titles without 中华人民共和国, aliases (大气法, 环评法, 法典 …) and
article numbers in Chinese or Arabic numerals, with or without 第/条. When a title has several
versions, the one in force wins, else the latest. A miss raises NotFoundError with near matches.

Statuses are read as of the catalog's clock (today), not only as the source recorded them: a version
whose effective date is still ahead is 尚未生效, and until that date the previous version of the same
law is the text in force (`statuses_on`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import sqlite3
import threading
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import IndexMissingError, NotFoundError
from .numerals import article_label, parse_article_no
from .records import STATUS_CURRENT, STATUS_PENDING, Article, Chunk, Law, short_title

SCHEMA = """
CREATE TABLE laws (
    law_id TEXT PRIMARY KEY, title TEXT NOT NULL, short TEXT NOT NULL, level TEXT, issuer TEXT,
    promulgated TEXT, effective TEXT, status TEXT, region TEXT, source TEXT, kind TEXT,
    article_count INTEGER, fingerprint TEXT);
CREATE INDEX laws_short ON laws(short);
CREATE TABLE articles (
    law_id TEXT NOT NULL, num INTEGER NOT NULL, sub INTEGER NOT NULL, article_no TEXT NOT NULL,
    text TEXT NOT NULL, chapter TEXT, position INTEGER, PRIMARY KEY (law_id, num, sub));
CREATE TABLE chunks (
    chunk_id TEXT NOT NULL, law_id TEXT NOT NULL, num INTEGER NOT NULL, sub INTEGER NOT NULL,
    part INTEGER NOT NULL, text TEXT NOT NULL, priority INTEGER NOT NULL, row INTEGER PRIMARY KEY);
CREATE INDEX chunks_id ON chunks(chunk_id);
CREATE TABLE aliases (alias TEXT PRIMARY KEY, short TEXT NOT NULL);
CREATE TABLE counterparts (
    law_id TEXT NOT NULL, num INTEGER NOT NULL, sub INTEGER NOT NULL, target_law_id TEXT NOT NULL,
    target_num INTEGER NOT NULL, target_sub INTEGER NOT NULL, confidence REAL NOT NULL, method TEXT NOT NULL,
    PRIMARY KEY (law_id, num, sub, target_law_id, target_num, target_sub));
"""

_ALIASES_FILE = Path(__file__).with_name("aliases.toml")
_STATUS_RANK = {"现行有效": 0, "": 1, "已被修改": 2, "历史版本": 3, "尚未生效": 3, "已废止": 4}


def normalise_name(name: str) -> str:
    name = re.sub(r"[\s《》〈〉<>\"“”]", "", name)
    return short_title(name)


def builtin_aliases() -> dict[str, str]:
    with _ALIASES_FILE.open("rb") as f:
        return dict(tomllib.load(f)["alias"])


class Catalog:
    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._lock = threading.Lock()
        self._names: dict[str, list[Law]] | None = None
        self._names_day = ""
        self.clock = dt.date.today  # the day statuses are read on (tests set it)
        self._statuses: tuple[str, dict[str, str]] = ("", {})
        self._has_counterparts: bool | None = None

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path) -> Catalog:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.executescript(SCHEMA)
        return cls(conn)

    @classmethod
    def open(cls, path: Path) -> Catalog:
        if not path.exists():
            raise IndexMissingError(f"No catalog at {path}. Build the index first: python -m pufa index")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        return cls(conn)

    def close(self) -> None:
        self._conn.close()

    # ---- writing (build time) ------------------------------------------------------------
    def add_law(self, law: Law, articles: list[Article], chunks: list[Chunk], fingerprint: str) -> None:
        c = self._conn
        c.execute("INSERT INTO laws VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  (law.law_id, law.title, law.short, law.level, law.issuer, law.promulgated, law.effective,
                   law.status, law.region, law.source, law.kind, len(articles), fingerprint))
        c.executemany("INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?,?,?)",
                      [(a.law_id, a.num, a.sub, a.article_no, a.text, a.chapter, a.position) for a in articles])
        c.executemany("INSERT INTO chunks (chunk_id, law_id, num, sub, part, text, priority) VALUES (?,?,?,?,?,?,?)",
                      [(k.chunk_id, k.law_id, k.num, k.sub, k.part, k.text, k.priority) for k in chunks])

    def add_aliases(self, aliases: dict[str, str]) -> None:
        self._conn.executemany("INSERT OR REPLACE INTO aliases VALUES (?,?)", aliases.items())

    def add_counterparts(self, rows: Iterable) -> None:
        """Store repealed-article → counterpart rows (pufa.mapping.Counterpart or equal tuples)."""
        self._conn.executemany(
            "INSERT OR REPLACE INTO counterparts VALUES (?,?,?,?,?,?,?,?)",
            [(r.law_id, r.num, r.sub, r.target_law_id, r.target_num, r.target_sub, r.confidence, r.method)
             for r in rows])

    def commit(self) -> None:
        self._conn.commit()
        self._names = None

    # ---- reading -------------------------------------------------------------------------
    def _query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def status_day(self) -> str:
        return self.clock().isoformat()

    def _status_overrides(self) -> dict[str, str]:
        day = self.status_day()
        if self._statuses[0] != day:
            rows = self._query("SELECT law_id, title, promulgated, effective, status FROM laws")
            self._statuses = (day, statuses_on(rows, day))
        return self._statuses[1]

    def _law(self, row: tuple) -> Law:
        status = self._status_overrides().get(row[0], row[7] or "")
        return Law(law_id=row[0], title=row[1], level=row[3] or "", issuer=row[4] or "", promulgated=row[5] or "",
                   effective=row[6] or "", status=status, region=row[8] or "", source=row[9] or "",
                   kind=row[10] or "statute", article_count=row[11] or 0)

    def laws(self) -> list[Law]:
        return [self._law(r) for r in self._query("SELECT * FROM laws ORDER BY title")]

    def law(self, law_id: str) -> Law:
        rows = self._query("SELECT * FROM laws WHERE law_id=?", (law_id,))
        if not rows:
            raise NotFoundError(f"No law with id {law_id!r} in the catalog")
        return self._law(rows[0])

    def counts(self) -> dict[str, int]:
        return {t: self._query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("laws", "articles", "chunks")}

    def _name_index(self) -> dict[str, list[Law]]:
        if self._names is None or self._names_day != self.status_day():
            self._names_day = self.status_day()
            names: dict[str, list[Law]] = {}
            laws = self.laws()
            by_short: dict[str, list[Law]] = {}
            for law in laws:
                by_short.setdefault(law.short, []).append(law)
                for key in {law.title, law.short}:
                    names.setdefault(key, []).append(law)
            for alias, target in self._query("SELECT alias, short FROM aliases"):
                if alias not in names and target in by_short:
                    names[alias] = by_short[target]
            for group in names.values():
                group.sort(key=lambda lw: (_STATUS_RANK.get(lw.status, 1), _neg_date(lw.promulgated)))
            self._names = names
        return self._names

    def resolve_law(self, name: str) -> Law:
        """The law a user means by `name` (current version first)."""
        key = normalise_name(name)
        index = self._name_index()
        if key in index:
            return index[key][0]
        contains = sorted({lw.short for k, group in index.items() for lw in group if key and key in k})
        if len(contains) == 1:
            return index[contains[0]][0]
        suggestions = contains[:5] or difflib.get_close_matches(key, list(index), n=5, cutoff=0.4)
        hint = f"; did you mean: {'、'.join(suggestions)}" if suggestions else ""
        raise NotFoundError(f"No law named “{name}” in the catalog{hint}", suggestions)

    def known_names(self) -> list[str]:
        """Every title, short title and alias, longest first (for spotting law names in questions)."""
        return sorted(self._name_index(), key=len, reverse=True)

    def laws_named(self, key: str) -> list[Law]:
        return list(self._name_index().get(key, []))

    def _article(self, law: Law, row: tuple) -> Article:
        return Article(law_id=law.law_id, law=law.title, num=row[1], sub=row[2], article_no=row[3], text=row[4],
                       chapter=row[5] or "", status=law.status, level=law.level, effective=law.effective,
                       position=row[6] or 0, kind=law.kind)

    def article(self, law_name: str, number: str | int, sub: int = 0) -> Article:
        law = self.resolve_law(law_name)
        if isinstance(number, int):
            num = number
        else:
            parsed = parse_article_no(str(number))
            if parsed is None:
                raise NotFoundError(f"“{number}” is not an article number; write it like 99, 九十九 or 第九十九条")
            num, sub = parsed
        return self.article_of(law, num, sub)

    def article_of(self, law: Law, num: int, sub: int = 0) -> Article:
        rows = self._query("SELECT * FROM articles WHERE law_id=? AND num=? AND sub=?", (law.law_id, num, sub))
        if rows:
            return self._article(law, rows[0])
        label = article_label(num, sub) if num > 0 else str(num)
        first, last = self.number_range(law.law_id)
        nearby = [article_label(n) for n in (num - 1, num + 1) if 0 < n <= last]
        gap = " (missing from the source: the numbering jumps here)" if first < num < last and not sub else ""
        raise NotFoundError(
            f"《{law.short}》has no {label}{gap}; it has articles {first}–{last}"
            + (f" (nearby: {'、'.join(nearby)})" if nearby else ""), nearby)

    def number_range(self, law_id: str) -> tuple[int, int]:
        """The first and last article numbers of a law (0, 0 when it has none)."""
        first, last = self._query("SELECT MIN(num), MAX(num) FROM articles WHERE law_id=? AND num > 0", (law_id,))[0]
        return first or 0, last or 0

    def article_by_key(self, law_id: str, num: int, sub: int = 0) -> Article:
        return self.article_of(self.law(law_id), num, sub)

    def articles_of(self, law_id: str) -> list[Article]:
        law = self.law(law_id)
        return [self._article(law, r) for r in
                self._query("SELECT * FROM articles WHERE law_id=? ORDER BY position, num, sub", (law_id,))]

    def all_article_texts(self) -> list[tuple[str, int, int, str, str]]:
        return self._query("SELECT law_id, num, sub, text, COALESCE(chapter, '') FROM articles")

    def articles_mentioning(self, fragment: str) -> list[tuple[str, str]]:
        return self._query("SELECT law_id, text FROM articles WHERE text LIKE ?", (f"%{fragment}%",))

    def has_counterparts(self) -> bool:
        """Whether this catalog holds the repealed-article mapping (catalogs built before it do not)."""
        if self._has_counterparts is None:
            self._has_counterparts = bool(
                self._query("SELECT 1 FROM sqlite_master WHERE type='table' AND name='counterparts'"))
        return self._has_counterparts

    def counterparts_of(self, article: Article) -> list[tuple[Article, float, str]]:
        """The articles in force that took over a repealed article: (article, confidence, method), best first."""
        if not self.has_counterparts():
            return []
        rows = self._query("SELECT target_law_id, target_num, target_sub, confidence, method FROM counterparts "
                           "WHERE law_id=? AND num=? AND sub=? ORDER BY confidence DESC, target_num, target_sub",
                           article.key)
        found = self.articles_by_keys([r[:3] for r in rows])
        return [(found[r[:3]], float(r[3]), r[4]) for r in rows if r[:3] in found]

    def iter_chunks(self) -> Iterator[Chunk]:
        for r in self._query("SELECT chunk_id, law_id, num, sub, part, text, priority FROM chunks ORDER BY row"):
            yield Chunk(*r)

    def chunk_articles(self, chunk_ids: list[str]) -> dict[str, tuple[str, int, int]]:
        """chunk id → article key, for the ids this catalog knows (others are stale cache entries)."""
        out: dict[str, tuple[str, int, int]] = {}
        for i in range(0, len(chunk_ids), 500):
            part = chunk_ids[i:i + 500]
            marks = ",".join("?" * len(part))
            for cid, law_id, num, sub in self._query(
                    f"SELECT chunk_id, law_id, num, sub FROM chunks WHERE chunk_id IN ({marks})", part):
                out[cid] = (law_id, num, sub)
        return out

    def articles_by_keys(self, keys: Iterable[tuple[str, int, int]]) -> dict[tuple[str, int, int], Article]:
        out: dict[tuple[str, int, int], Article] = {}
        laws: dict[str, Law] = {}
        for law_id, num, sub in set(keys):
            if law_id not in laws:
                laws[law_id] = self.law(law_id)
            rows = self._query("SELECT * FROM articles WHERE law_id=? AND num=? AND sub=?", (law_id, num, sub))
            if rows:
                out[(law_id, num, sub)] = self._article(laws[law_id], rows[0])
        return out


def _neg_date(date: str) -> str:
    # Sort latest first with an ascending sort key.
    return "".join(chr(0x10FFFF - ord(c)) for c in (date or "0000"))


def statuses_on(laws: Iterable[tuple[str, str, str, str, str]], day: str) -> dict[str, str]:
    """Statuses that differ on `day` from the recorded ones, by the laws' own dates.

    `laws` are (law_id, title, promulgated, effective, status) rows, dates as YYYY-MM-DD. A version
    recorded 现行有效 whose effective date is after `day` is 尚未生效 (the database marks a new revision
    current as soon as it is published: 商标法 2026-06-26, in force 2027-01-01). Until then the newest
    earlier version of the same title recorded 历史版本 or 已被修改 is the text in force, 现行有效.
    A repealed version is never revived.
    """
    by_title: dict[str, list[tuple[str, str, str, str]]] = {}
    for law_id, title, promulgated, effective, status in laws:
        by_title.setdefault(title, []).append((law_id, promulgated or "", effective or "", status or ""))
    out: dict[str, str] = {}
    for versions in by_title.values():
        pending = [v for v in versions if v[3] == STATUS_CURRENT and v[2] > day]
        if not pending:
            continue
        for v in pending:
            out[v[0]] = STATUS_PENDING
        if any(v[3] == STATUS_CURRENT and v[2] <= day for v in versions):
            continue  # another version is recorded current and already in force
        first_pending = min(v[1] or v[2] for v in pending)
        earlier = [v for v in versions if v[3] in ("历史版本", "已被修改") and (v[1] or v[2]) < first_pending]
        if earlier:
            out[max(earlier, key=lambda v: v[1] or v[2])[0]] = STATUS_CURRENT
    return out
