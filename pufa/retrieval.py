"""Retrieval: question → ranked articles, status-aware, with the reasons for each hit.

Legs:
1. exact — article references in the question ("法典第八十条", "大气法99条") go straight to the catalog;
2. lexical — BM25 over jieba tokens of the question plus lay→legal expansions (weighted lower);
3. dense — the embedder's nearest chunks (whatever is embedded so far).
Chunk hits are folded into articles and fused by a weighted reciprocal-rank sum plus a
normalised-score term; the weights and depths are chosen by measurement (`pufa eval --sweep`),
not by taste. A law named in the question boosts its articles; repealed laws and historical
versions are demoted unless the question names them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .catalog import Catalog
from .dense import DenseIndex
from .errors import NotFoundError
from .lexical import LexicalIndex
from .query import QueryAnalysis, Vocabulary, analyse
from .records import STATUS_CURRENT, Article, Hit, Law
from .settings import Settings

log = logging.getLogger(__name__)

ArticleKey = tuple[str, int, int]


@dataclass(frozen=True)
class RetrievalParams:
    depth: int = 100  # candidates taken from each leg
    rrf_k: float = 60.0
    w_lexical: float = 1.0
    w_dense: float = 1.0
    w_lex_score: float = 0.0  # weight of the lexical score normalised by the best score
    w_dense_score: float = 0.0  # weight of the dense cosine above the best candidate's
    expansion_weight: float = 0.6
    law_name_boost: float = 0.02
    non_current_factor: float = 0.5
    legs: tuple[str, ...] = ("exact", "lexical", "dense")


@dataclass
class _Candidate:
    key: ArticleKey
    score: float = 0.0
    legs: dict[str, int] = field(default_factory=dict)
    lex_score: float = 0.0
    dense_score: float = 0.0


class Retriever:
    def __init__(self, catalog: Catalog, lexical: LexicalIndex, dense: DenseIndex | None,
                 vocabulary: Vocabulary | None = None, params: RetrievalParams | None = None,
                 reranker: Callable[[str, list[Hit]], list[Hit]] | None = None):
        self.catalog = catalog
        self.lexical = lexical
        self.dense = dense
        self.vocabulary = vocabulary or Vocabulary.load()
        self.params = params or RetrievalParams()
        self.reranker = reranker
        self._names = catalog.known_names()
        self._laws = {law.law_id: law for law in catalog.laws()}
        self._current_titles = {law.title for law in self._laws.values() if law.status == STATUS_CURRENT}

    @classmethod
    def from_settings(cls, settings: Settings, params: RetrievalParams | None = None) -> Retriever:
        from .indexer import open_index

        index = open_index(settings)
        return cls(index.catalog, index.lexical, index.dense, params=params)

    def with_params(self, **changes) -> Retriever:
        clone = object.__new__(Retriever)
        clone.__dict__.update(self.__dict__)
        clone.params = replace(self.params, **changes)
        return clone

    # ---------------------------------------------------------------------------------------
    def analyse(self, question: str) -> QueryAnalysis:
        return analyse(question, self._names, self.vocabulary)

    def _named_laws(self, analysis: QueryAnalysis, law: str | None) -> list[Law]:
        out: list[Law] = []
        for name in ([law] if law else []) + list(analysis.laws):
            try:
                resolved = self.catalog.resolve_law(name)
            except NotFoundError:
                continue
            if resolved not in out:
                out.append(resolved)
        return out

    def query_terms(self, analysis: QueryAnalysis) -> dict[str, float]:
        terms: dict[str, float] = {}
        for t in self.lexical.tokenizer.tokens(analysis.question):
            terms[t] = terms.get(t, 0.0) + 1.0
        for legal in analysis.expansion_terms:
            for t in self.lexical.tokenizer.tokens(legal):
                terms[t] = max(terms.get(t, 0.0), self.params.expansion_weight)
        return terms

    def exact(self, analysis: QueryAnalysis, named: list[Law]) -> list[Article]:
        out: list[Article] = []
        for ref in analysis.refs:
            target: Law | None = None
            if ref.law:
                try:
                    target = self.catalog.resolve_law(ref.law)
                except NotFoundError:
                    target = None
            elif len(named) == 1:
                target = named[0]
            if target is None:
                continue
            try:
                out.append(self.catalog.article_of(target, ref.num, ref.sub))
            except NotFoundError:
                continue
        return out

    def search(self, question: str, k: int = 10, law: str | None = None) -> list[Hit]:
        p = self.params
        analysis = self.analyse(question)
        named = self._named_laws(analysis, law)
        named_ids = {lw.law_id for lw in named}
        named_titles = {lw.title for lw in named}
        cands: dict[ArticleKey, _Candidate] = {}
        exact_keys: list[ArticleKey] = []

        if "exact" in p.legs:
            for a in self.exact(analysis, named):
                exact_keys.append(a.key)

        if "lexical" in p.legs:
            lex = self.lexical.top(self.query_terms(analysis), k=p.depth * 2)
            self._fold(cands, "lexical", lex, p.depth)
        if "dense" in p.legs and self.dense is not None:
            dense = self.dense.query(analysis.question, k=p.depth * 2)
            self._fold(cands, "dense", dense, p.depth)

        best_lex = max((c.lex_score for c in cands.values()), default=0.0) or 1.0
        best_dense = max((c.dense_score for c in cands.values()), default=0.0)
        for c in cands.values():
            s = 0.0
            if "lexical" in c.legs:
                s += p.w_lexical / (p.rrf_k + c.legs["lexical"]) + p.w_lex_score * c.lex_score / best_lex
            if "dense" in c.legs:
                s += p.w_dense / (p.rrf_k + c.legs["dense"]) + p.w_dense_score * (c.dense_score - best_dense)
            law_ = self._laws.get(c.key[0])
            if law_ is not None:
                if c.key[0] in named_ids:
                    s += p.law_name_boost
                elif law_.status != STATUS_CURRENT and law_.title not in named_titles:
                    s *= p.non_current_factor
            c.score = s
        ranked = sorted(cands.values(), key=lambda c: -c.score)
        keys = list(dict.fromkeys(exact_keys + [c.key for c in ranked]))
        if law:
            keys = [key for key in keys if key[0] in named_ids] or keys
        articles = self.catalog.articles_by_keys(keys[: k * 3])
        top_score = ranked[0].score if ranked else 1.0
        hits: list[Hit] = []
        seen_texts: set[tuple[str, str]] = set()
        for key in keys:
            a = articles.get(key)
            if a is None:
                continue
            dedup = (a.law_short, a.text)  # the same article in two sources/versions shows once
            if dedup in seen_texts:
                continue
            seen_texts.add(dedup)
            c = cands.get(key)
            legs = dict(c.legs) if c else {}
            score = c.score if c else 0.0
            if key in exact_keys:
                legs["exact"] = exact_keys.index(key) + 1
                score = top_score + 1.0 - 0.01 * legs["exact"]
            hits.append(Hit(a, score, legs, self._matched(analysis, a)))
            if len(hits) >= k:
                break
        if self.reranker is not None and hits:
            hits = self.reranker(analysis.question, hits)
        return hits

    def _fold(self, cands: dict[ArticleKey, _Candidate], leg: str, ranked: list[tuple[str, float]], depth: int) -> None:
        """Chunk ranks → article ranks (an article's best chunk counts), first `depth` articles."""
        mapping = self.catalog.chunk_articles([cid for cid, _ in ranked])
        rank = 0
        seen: set[ArticleKey] = set()
        for cid, score in ranked:
            key = mapping.get(cid)
            if key is None or key in seen:
                continue
            seen.add(key)
            rank += 1
            if rank > depth:
                break
            c = cands.setdefault(key, _Candidate(key))
            c.legs[leg] = rank
            if leg == "lexical":
                c.lex_score = score
            else:
                c.dense_score = score

    def _matched(self, analysis: QueryAnalysis, article: Article) -> tuple[str, ...]:
        terms = self.query_terms(analysis)
        return tuple(t for t in terms if len(t) >= 2 and t in article.text)

    def explain(self, hit: Hit) -> str:
        legs = ", ".join(f"{leg} #{rank}" for leg, rank in sorted(hit.legs.items(), key=lambda x: x[1])) or "—"
        terms = "、".join(hit.matched_terms[:12]) or "—"
        return f"legs: {legs}; matched terms: {terms}; fused score {hit.score:.4f}"


def timed_search(retriever: Retriever, question: str, k: int) -> tuple[list[Hit], float]:
    t0 = time.perf_counter()
    hits = retriever.search(question, k=k)
    return hits, (time.perf_counter() - t0) * 1000
