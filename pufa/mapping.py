"""Repealed article → counterpart(s) in force, computed once at index time.

A law in force that repeals others in its text (法典 第一千二百四十二条: "《…》、《…》同时废止") is the
*repealer*. For every article of every law it repeals we look for the repealer's articles that carry the
same obligation or liability:

1. Articles are TF-IDF vectors of character 2- and 3-grams (no dense model: the dense index may not
   exist yet at build time; n-grams survive the 法典's renaming of terms, 环境影响评价 → 生态环境影响评价).
2. Chapters are aligned first. The repealer is cut into units (runs of articles under one chapter/section
   heading); each chapter of the repealed law is aligned to the units of the same kind (法律责任 with
   法律责任, the rest with the rest) whose centroid is close to its own. Articles in aligned units compete
   at full score; other units of the same kind at a discount (the global fallback, e.g. a 大气 liability
   item now sits in the 排污许可 liability section); units of the other kind at a larger discount.
3. An article listing items (（一）（二）…) or several paragraphs is also matched piece by piece (each item
   with its lead sentence), because its pieces often went to different articles; up to MAX_TARGETS
   counterparts are kept, strongest first.
4. The confidence is the (discounted) cosine; matches below MIN_CONFIDENCE, and the repealed law's own
   施行日期 article, get no counterpart rather than an invented one.

Deliberately left out: 款/项-level targets (we map to articles), and laws repealed by a law that is not
itself in the corpus. Deterministic: no randomness, ties broken by position.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .catalog import Catalog
from .passages import ITEM
from .records import STATUS_CURRENT, STATUS_PENDING, STATUS_REPEALED, Article, Law

log = logging.getLogger(__name__)

# Bump when the method or its parameters change (it is part of the catalog schema version).
MAPPING_VERSION = 1
MAX_TARGETS = 3
MIN_CONFIDENCE = 0.2
KEEP_RATIO = 0.6  # a further counterpart must reach this share of the best one's confidence
UNALIGNED_FACTOR = 0.85  # same kind of chapter, but not an aligned unit
OTHER_KIND_FACTOR = 0.7  # a liability article matched outside the liability chapters, or vice versa
ALIGN_RATIO = 0.7  # units whose centroid similarity reaches this share of the best are aligned
ALIGN_MAX_UNITS = 4
PIECE_LEAD_WEIGHT = 0.35

_IN_FORCE_CLAUSE = re.compile(r"^本(?:法|条例|规定|办法)自.{0,30}(?:起)?施行")
_CHAPTER_NO = re.compile(r"^第([一二三四五六七八九十百零〇]+)章")
_NOISE = re.compile(r"[\s\u3000，。；：、！？,.;:!?（）()“”‘’《》〈〉\[\]【】]")


@dataclass(frozen=True)
class Counterpart:
    """One mapping row: repealed article key → target article key."""

    law_id: str
    num: int
    sub: int
    target_law_id: str
    target_num: int
    target_sub: int
    confidence: float
    method: str  # "chapter" | "global" | "other-kind", with "-item"/"-paragraph" when a piece matched


def repealers(catalog: Catalog) -> dict[str, tuple[Law, Article]]:
    """Repealed law id → (law in force, its article) whose text repeals it."""
    laws = {law.law_id: law for law in catalog.laws()}
    repealed = [law for law in laws.values() if law.status == STATUS_REPEALED]
    out: dict[str, tuple[Law, Article]] = {}
    if not repealed:
        return out
    for law_id, text in catalog.articles_mentioning("废止"):
        repealer = laws.get(law_id)
        if repealer is None or repealer.status != STATUS_CURRENT:
            continue
        named = [law for law in repealed if law.law_id not in out and f"《{law.title}》" in text]
        if named:
            article = next(a for a in catalog.articles_of(law_id) if a.text == text)
            out.update({law.law_id: (repealer, article) for law in named})
    return out


def status_notices(catalog: Catalog) -> list[str]:
    """What staff should know about the statuses the sources record, as of the catalog's day: a law recorded
    repealed that nothing in the corpus repeals or replaces (it may be a source error: answers still treat it as
    repealed), and a revision published but not yet in force (the version before it answers until then)."""
    laws = catalog.laws()
    repealed_by = repealers(catalog)
    in_force_titles = {law.title for law in laws if law.status == STATUS_CURRENT}
    out = []
    for law in laws:
        if law.status == STATUS_REPEALED and law.law_id not in repealed_by and law.title not in in_force_titles:
            out.append(f"{law.title} ({law.promulgated or 'no date'}): recorded 已废止, but no law in the corpus "
                       "repeals it and no newer version is in it; check its status (answers treat it as repealed)")
        elif law.status == STATUS_PENDING:
            before = [v for v in laws if v.title == law.title and v.status == STATUS_CURRENT]
            until = f"; until then the version of {before[0].promulgated} answers" if before else ""
            out.append(f"{law.title} ({law.promulgated}): in force from {law.effective}, not yet{until}")
    return out


# ---- text features -----------------------------------------------------------------------------
def _grams(text: str) -> Counter:
    s = _NOISE.sub("", text)
    return Counter([s[i:i + 2] for i in range(len(s) - 1)] + [s[i:i + 3] for i in range(len(s) - 2)])


class _Vectoriser:
    """Sublinear-tf × idf over character n-grams, rows L2-normalised (a small TfidfVectorizer)."""

    def __init__(self, documents: list[str]):
        counts = [_grams(d) for d in documents]
        df: Counter = Counter()
        for c in counts:
            df.update(c.keys())
        self.vocab = {g: i for i, g in enumerate(sorted(df))}
        n = len(documents)
        self.idf = np.asarray([math.log((n + 1) / (df[g] + 1)) + 1.0 for g in sorted(df)], dtype=np.float64)
        self._cache = counts

    def matrix(self, texts: list[str] | None = None):
        from scipy.sparse import csr_matrix

        if texts is None:
            counts = self._cache
        else:
            memo: dict[str, Counter] = {}
            counts = [memo[t] if t in memo else memo.setdefault(t, _grams(t)) for t in texts]
        vocab = self.vocab
        indptr, cols, tfs = [0], [], []
        for c in counts:
            for g, tf in c.items():
                j = vocab.get(g)
                if j is not None:
                    cols.append(j)
                    tfs.append(tf)
            indptr.append(len(cols))
        cols_a = np.asarray(cols, dtype=np.int64)
        vals = (1.0 + np.log(np.asarray(tfs, dtype=np.float64))) * self.idf[cols_a]
        m = csr_matrix((vals, cols_a, np.asarray(indptr)), shape=(len(counts), len(vocab)))
        return _normalise(m)


def _normalise(m):
    from scipy.sparse import diags

    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return diags(1.0 / norms) @ m


# ---- structure ------------------------------------------------------------------------------------
def _is_liability(article: Article) -> bool:
    return "法律责任" in article.chapter


def _units(articles: list[Article]) -> list[int]:
    """Unit index of each article: a new unit starts when the heading path changes.

    The 法典's headings restart their chapter numbers in each 编 and the catalog keeps no 编 names, so
    "第一章 一般规定" recurs; units are runs in position order, which keeps them apart.
    """
    out, unit, previous = [], -1, None
    for a in articles:
        if a.chapter != previous:
            unit += 1
            previous = a.chapter
        out.append(unit)
    return out


def _pieces(text: str) -> tuple[list[str], str]:
    """The pieces matched on their own: items with their lead sentence, else paragraphs."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    items = [i for i, ln in enumerate(lines) if ITEM.match(ln)]
    if len(items) >= 2:
        lead = " ".join(lines[: items[0]])
        return [lines[i] for i in items], lead
    if len(lines) >= 2:
        return lines, ""
    return [], ""


# ---- the mapping ------------------------------------------------------------------------------------
def compute_counterparts(catalog: Catalog) -> list[Counterpart]:
    """Counterparts of every article of every law repealed by a law in force in this catalog."""
    out: list[Counterpart] = []
    by_repealer: dict[str, list[str]] = {}
    for repealed_id, (repealer, _) in sorted(repealers(catalog).items()):
        by_repealer.setdefault(repealer.law_id, []).append(repealed_id)
    for repealer_id, repealed_ids in sorted(by_repealer.items()):
        out.extend(_map_into(catalog, repealer_id, repealed_ids))
    return out


def _map_into(catalog: Catalog, target_id: str, source_ids: list[str]) -> list[Counterpart]:
    targets = [a for a in catalog.articles_of(target_id) if not _IN_FORCE_CLAUSE.match(a.text)]
    sources = [a for law_id in source_ids for a in catalog.articles_of(law_id)]
    if not targets or not sources:
        return []
    vec = _Vectoriser([a.text for a in targets] + [a.text for a in sources])
    m = vec.matrix()
    t_mat, s_mat = m[: len(targets)], m[len(targets):]

    # Units of the target and their centroids; chapters of each source law and theirs.
    t_unit = np.asarray(_units(targets))
    n_units = int(t_unit.max()) + 1
    t_liab = np.asarray([_is_liability(a) for a in targets])
    unit_liab = np.zeros(n_units, dtype=bool)
    unit_liab[t_unit] = t_liab
    unit_centroids = _normalise(_indicator(t_unit, n_units).T @ t_mat)
    s_chapter_keys = [(a.law_id, a.chapter) for a in sources]
    chapter_index = {k: i for i, k in enumerate(dict.fromkeys(s_chapter_keys))}
    s_chapter = np.asarray([chapter_index[k] for k in s_chapter_keys])
    chapter_centroids = _normalise(_indicator(s_chapter, len(chapter_index)).T @ s_mat)
    align = (chapter_centroids @ unit_centroids.T).toarray()  # chapters × units
    chapter_liab = {chapter_index[(a.law_id, a.chapter)]: _is_liability(a) for a in sources}
    aligned = np.zeros_like(align, dtype=bool)
    for c, liab in chapter_liab.items():
        sims = np.where(unit_liab == liab, align[c], -1.0)
        best = sims.max()
        if best > 0:
            top = [u for u in np.argsort(-sims, kind="stable")[:ALIGN_MAX_UNITS] if sims[u] >= ALIGN_RATIO * best]
            aligned[c, top] = True

    # Pieces (items with lead, or paragraphs) are scored on their own.
    piece_texts: list[str] = []
    piece_owner: list[int] = []
    piece_kind: list[str] = []
    lead_texts: list[str] = []
    for i, a in enumerate(sources):
        pieces, lead = _pieces(a.text)
        for p in pieces:
            piece_texts.append(p)
            lead_texts.append(lead)
            piece_owner.append(i)
            piece_kind.append("item" if lead else "paragraph")
    # A target is as close as its closest paragraph: a long 法典 article often merges several old ones.
    t_para_texts: list[str] = []
    t_para_owner: list[int] = []
    for t, a in enumerate(targets):
        paragraphs = [ln for ln in a.text.split("\n") if ln.strip()]
        if len(paragraphs) >= 2 and not any(ITEM.match(ln.strip()) for ln in paragraphs):
            t_para_texts.extend(paragraphs)
            t_para_owner.extend([t] * len(paragraphs))
    t_para_mat = vec.matrix(t_para_texts) if t_para_texts else None

    def against_targets(mat) -> np.ndarray:
        scores = (mat @ t_mat.T).toarray()
        if t_para_mat is not None:
            para = (mat @ t_para_mat.T).toarray()
            for col, t in enumerate(t_para_owner):
                np.maximum(scores[:, t], para[:, col], out=scores[:, t])
        return scores

    whole = against_targets(s_mat)
    if piece_texts:
        p_mat = vec.matrix(piece_texts)
        l_mat = vec.matrix(lead_texts)
        p_mat = _normalise(p_mat + PIECE_LEAD_WEIGHT * l_mat)
        piece_scores = against_targets(p_mat)
    else:
        piece_scores = np.zeros((0, len(targets)))
    pieces_of: dict[int, list[int]] = {}
    for j, owner in enumerate(piece_owner):
        pieces_of.setdefault(owner, []).append(j)

    rows: list[Counterpart] = []
    for i, a in enumerate(sources):
        if _IN_FORCE_CLAUSE.match(a.text):
            continue  # the repealed law's own 施行日期 article: replaced by the repeal itself, no counterpart
        c = s_chapter[i]
        liab = chapter_liab[c]
        same_kind = t_liab == liab
        factor = np.where(aligned[c][t_unit], 1.0, np.where(same_kind, UNALIGNED_FACTOR, 0.0))
        tag = np.where(aligned[c][t_unit], "chapter", "global")
        if (whole[i] * factor).max() < MIN_CONFIDENCE:
            # nothing of the same kind: a liability article whose duty moved, or a chapterless law
            factor = np.where(same_kind, factor, OTHER_KIND_FACTOR)
            tag = np.where(same_kind, tag, "other-kind")
        best: dict[int, tuple[float, str]] = {}
        scored = whole[i] * factor
        t = int(np.argmax(scored))
        best[t] = (float(scored[t]), str(tag[t]))
        for j in pieces_of.get(i, []):
            scored = piece_scores[j] * factor
            t = int(np.argmax(scored))
            conf = float(scored[t])
            if conf > best.get(t, (0.0, ""))[0]:
                best[t] = (conf, f"{tag[t]}-{piece_kind[j]}")
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        top = ranked[0][1][0]
        for t, (conf, method) in ranked[:MAX_TARGETS]:
            if conf < MIN_CONFIDENCE or conf < KEEP_RATIO * top:
                continue
            ta = targets[t]
            rows.append(Counterpart(a.law_id, a.num, a.sub, ta.law_id, ta.num, ta.sub, round(min(conf, 1.0), 4),
                                    method))
    log.info("counterparts: %d rows for %d articles of %d repealed laws", len(rows), len(sources), len(source_ids))
    return rows


def _indicator(groups: np.ndarray, n_groups: int):
    from scipy.sparse import csr_matrix

    n = len(groups)
    return csr_matrix((np.ones(n), (np.arange(n), groups)), shape=(n, n_groups))
