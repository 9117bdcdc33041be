"""Retrieval: question → ranked articles, status-aware, with the reasons for each hit.

Legs:
1. exact — article references in the question ("法典第八十条", "大气法99条") go straight to the catalog;
2. lexical — BM25 over jieba tokens of the question plus lay→legal expansions (weighted lower);
3. dense — the embedder's nearest chunks among those embedded so far (a fresh install fills the dense
   index in the background for about 20 minutes; a candidate without a vector yet is scored as the
   lexical leg sees it, see `search`).
Chunk scores are folded into articles (best chunk), every candidate gets both a lexical and a dense
score, and the two normalised scores are mixed; the weights and depths are chosen by measurement
(`bench/tune_retrieval.py`), not by taste. A law named in the question boosts its articles; repealed laws and historical
versions are demoted unless the question names them.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .adapter import QueryAdapter, retriever_adapter
from .catalog import Catalog
from .chunks import is_domain_law
from .dense import DenseIndex
from .errors import ConfigError, IndexMismatchError, NotFoundError
from .lexical import LexicalIndex
from .liability import LiabilityIndex, is_liability
from .mapping import repealers
from .numerals import NUMERAL, cn_to_int
from .passages import ITEM
from .query import ArticleRef, QueryAnalysis, Vocabulary, analyse
from .records import STATUS_CURRENT, Article, Hit, Law
from .settings import Settings

log = logging.getLogger(__name__)

ArticleKey = tuple[str, int, int]


@dataclass(frozen=True)
class RetrievalParams:
    # Defaults chosen with bench/tune_retrieval.py on stard_dev + env_dev (see README, Figures).
    depth: int = 50  # candidate articles taken from each leg
    # How each leg's scores are put on one scale over the candidates: "z" = z-score scaled so the best
    # candidate is 1 (measured: STARD dev R@10 +0.04); "max" = lexical / best, dense min-max (before).
    normalise: str = "z"
    w_lexical: float = 1.0  # weight of the normalised lexical score
    w_lexical_expanded: float = 1.0  # added to w_lexical when expansions fire (measured with z: env_dev R@10 0.77 → 0.81)
    # the same when only rules of the general domain fire: their terms are broader than the bureau's, and lexical
    # evidence less decisive (with the 216 general rules of 2026-11-29, STARD dev: 1.0 → R@5 0.577, R@10 0.681,
    # MRR 0.546; 0.25 → 0.584 / 0.678 / 0.551; 0.0 → 0.586 / 0.675 / 0.552; env sets within one label)
    w_lexical_general: float = 0.25
    w_dense: float = 2.0  # weight of the normalised dense cosine
    w_rrf: float = 10.0  # weight of a reciprocal-rank-fusion term (k = rrf_k)
    rrf_k: float = 60.0
    expansion_weight: float = 0.6
    law_name_boost: float = 0.3
    non_current_factor: float = 0.5
    # the same for a law repealed by a law in the catalog, whose counterparts are there: env_dev R@10 0.823 → 0.836
    # (0.0; 0.3 gave 0.832), STARD unchanged; a question that names the law still gets it first
    superseded_factor: float = 0.0
    intent_boost: float = 0.2  # penalty questions → liability articles; deadline questions → articles with time limits
    counterparts: int = 1  # for a repealed article asked for, how many counterparts in force to add
    # weight of the law's share of the top candidates' scores (cluster hypothesis); measured with z:
    # env_dev R@5 +0.02, STARD R@10 -0.006, the best summed R@10 + MRR (bench/results/tune_retrieval.json)
    law_prior: float = 1.0
    law_prior_top: int = 20
    # "本章没有规定的，适用保管合同的有关规定": when the best hits sit in such a chapter, its referral article and
    # this many articles of the referred chapter go in after the first `referral_at` hits. Measured (STARD dev;
    # env_dev unchanged): R@10 0.654 → 0.665 (2 at 3; 1 gave 0.662), MRR 0.545 → 0.542.
    referral: int = 2
    referral_at: int = 3
    # an article that only states which rules of its section apply (_SCOPE_ONLY): env_test (used as a dev set once
    # env_test2 was written) R@5 0.521 → 0.537; STARD and env_dev unchanged
    scope_factor: float = 0.0
    # after each of the top `companion` hits that states a duty, the liability article that punishes it (1; 2 or 3
    # gave no more; Retriever._with_companions): env_dev R@5 0.777 → 0.793, env_test 0.538 → 0.565 (R@10 +0.033), STARD
    # R@5 −0.004, R@10 and MRR unchanged (bench/retrieval_probes.py, "companion (top-2, liability match)").
    # Since 2026-11-29 also the other way, a liability article → the duty it punishes; with the adapter of that day,
    # before env_train was trained on: env_dev R@5 0.817 → 0.835, env_train (240 questions it had not seen) 0.688 →
    # 0.701 (R@10 0.777 → 0.792), env_test 0.537 → 0.529, STARD unchanged.
    companion: int = 1
    require: str = ""  # only articles with this feature ("penalty"/"deadline"); used to map liability articles
    legs: tuple[str, ...] = ("exact", "lexical", "dense")
    # The query adapter (pufa/adapter.py) makes the dense leg the stronger one, so with it these replace w_dense,
    # law_prior and w_lexical_general. Chosen on out-of-fold figures (bench sweep 2026-11-29, 16 points): against
    # the values above, STARD dev 0.639/0.727/0.604 → 0.650/0.739/0.615 (R@5/R@10/MRR), env_dev 0.835/0.900/0.776 →
    # 0.817/0.887/0.812, env_test 0.517/0.664/0.493 → 0.537/0.697/0.513, the best sum over the three sets. Without
    # the adapter they would cost (w_dense 3.0: STARD R@10 −0.002, env_dev R@5 −0.040), hence two sets of values.
    w_dense_adapted: float = 3.0
    law_prior_adapted: float = 0.5
    w_lexical_general_adapted: float = 0.5
    adapt: bool = True  # move the question's vector with the query adapter, when there is one (pufa/adapter.py)


class ArticleTable:
    """Positions of the lexical index's chunks grouped by article (chunks of an article are adjacent)."""

    def __init__(self, catalog: Catalog, lexical: LexicalIndex):
        keys: list[ArticleKey] = []
        starts: list[int] = []
        group_of_id: dict[str, list[int]] = {}
        chunk_ids: list[list[str]] = []
        for pos, chunk in enumerate(catalog.iter_chunks()):
            key = (chunk.law_id, chunk.num, chunk.sub)
            if not keys or keys[-1] != key:
                keys.append(key)
                starts.append(pos)
                chunk_ids.append([])
            group_of_id.setdefault(chunk.chunk_id, []).append(len(keys) - 1)
            chunk_ids[-1].append(chunk.chunk_id)
        if len(lexical.ids) != sum(len(c) for c in chunk_ids):
            raise IndexMismatchError("The lexical index does not match the catalog; rebuild with: python -m pufa index --rebuild")
        self.keys = keys
        self.index = {key: g for g, key in enumerate(keys)}
        self.starts = np.asarray(starts, dtype=np.int64)
        self.group_of_id = group_of_id
        self.chunk_ids = chunk_ids


class Retriever:
    def __init__(self, catalog: Catalog, lexical: LexicalIndex, dense: DenseIndex | None,
                 vocabulary: Vocabulary | None = None, params: RetrievalParams | None = None,
                 reranker: Callable[[str, list[Hit]], list[Hit]] | None = None, adapter: QueryAdapter | None = None):
        self.catalog = catalog
        self.adapter = adapter
        self.lexical = lexical
        self.dense = dense
        self.vocabulary = vocabulary or Vocabulary.load()
        self.params = params or RetrievalParams()
        self.reranker = reranker
        self._names = catalog.known_names()
        self._table = ArticleTable(catalog, lexical)
        self._status_day = ""
        self._refresh_statuses()
        rows = catalog.all_article_texts()
        self._features = _article_features(rows, self._table.index)
        self._referrals = _referrals(rows, self._table.index)
        self._liability = LiabilityIndex(catalog)
        self._repealed_by = {law_id: law for law_id, (law, _) in repealers(catalog).items()}
        index = self._table.index
        folded, self.pending_amendments = amendments(catalog)
        self._amends = {index[a]: index[b] for a, b in folded.items() if a in index and b in index}

    def _refresh_statuses(self) -> None:
        """Which laws rank as in force, re-read when the day changes (a revision may take effect overnight)."""
        day = self.catalog.status_day()
        if day == self._status_day:
            return
        self._laws = {law.law_id: law for law in self.catalog.laws()}
        in_force = _in_force(self._laws.values())
        self._factor = np.asarray([1.0 if k[0] in in_force else 0.0 for k in self._table.keys])
        self._status_day = day

    @classmethod
    def from_settings(cls, settings: Settings, params: RetrievalParams | None = None) -> Retriever:
        from .indexer import open_index

        return cls.for_index(open_index(settings), settings, params)

    @classmethod
    def for_index(cls, index, settings: Settings, params: RetrievalParams | None = None,
                  serving: bool = False) -> Retriever:
        """A retriever over an opened index, with the reranker and query adapter the settings name.

        A named adapter file that is missing or broken is a ConfigError, except when `serving` (the app): the
        index is fine, so it is served without the adapter, with the error in the log, rather than not at all.
        """
        reranker = None
        if settings.reranker:
            from .rerank import CrossEncoderReranker

            reranker = CrossEncoderReranker(settings.reranker)
        try:
            adapter = retriever_adapter(settings, index.dense)
        except ConfigError as e:
            if not serving:
                raise
            log.error("%s Serving without the query adapter.", e)
            adapter = None
        return cls(index.catalog, index.lexical, index.dense, params=params, reranker=reranker, adapter=adapter)

    @property
    def table(self) -> ArticleTable:
        """The index's articles in order (`keys`) and the chunk ids of each: what training and benches read."""
        return self._table

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
        # article numbers ("第一百一十二条") are handled by the exact leg; as BM25 terms they only add noise
        text = _REF_SPAN.sub(" ", analysis.question)
        for t in self.lexical.tokenizer.tokens(text):
            terms[t] = terms.get(t, 0.0) + 1.0
        for legal in analysis.expansion_terms:
            for t in self.lexical.tokenizer.tokens(legal):
                terms[t] = max(terms.get(t, 0.0), self.params.expansion_weight)
        return terms

    def exact(self, analysis: QueryAnalysis, named: list[Law]) -> list[Article]:
        return [article for _, _, article in self.resolve_refs(analysis, named) if article is not None]

    def resolve_refs(self, analysis: QueryAnalysis, named: list[Law] | None = None
                     ) -> list[tuple[ArticleRef, Law, Article | None]]:
        """The article references whose law is known: (reference, law, the article or None if the law has no
        such article). A reference without a law name belongs to the one law the question names, if any."""
        if named is None:
            named = self._named_laws(analysis, None)
        out: list[tuple[ArticleRef, Law, Article | None]] = []
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
                out.append((ref, target, self.catalog.article_of(target, ref.num, ref.sub)))
            except NotFoundError:
                out.append((ref, target, None))
        return out

    def _lexical_leg(self, analysis: QueryAnalysis) -> np.ndarray:
        """Best-chunk BM25 score of every article."""
        scores = self.lexical.scores(self.query_terms(analysis))
        return np.maximum.reduceat(scores, self._table.starts) if len(scores) else scores

    def _dense_leg(self, vec: np.ndarray, candidates: list[int], depth: int) -> tuple[dict[int, float], list[int]]:
        """Cosine of the question's vector with the best chunk of the dense top articles and of every candidate."""
        cos: dict[int, float] = {}
        order: list[int] = []
        for cid, sim in self.dense.query_vector(vec, k=depth * 2):
            for g in self._table.group_of_id.get(cid, ()):
                if g not in cos:
                    order.append(g)
                cos[g] = max(cos.get(g, -1.0), sim)
        cos.update(self._stored_cosines(vec, [g for g in candidates if g not in cos]))
        return cos, order[:depth]

    def _stored_cosines(self, vec: np.ndarray, groups: list[int]) -> dict[int, float]:
        """Cosine of the best stored chunk of each article; articles with no vector yet are left out."""
        if not groups:
            return {}
        vectors = self.dense.vectors([cid for g in groups for cid in self._table.chunk_ids[g]])
        out: dict[int, float] = {}
        for g in groups:
            sims = [float(vectors[c] @ vec) for c in self._table.chunk_ids[g] if c in vectors]
            if sims:
                out[g] = max(sims)
        return out

    def search(self, question: str, k: int = 10, law: str | None = None, asked: str | None = None) -> list[Hit]:
        """The best `k` articles for a question. `asked`: the user's own words when `question` is a rewrite of
        them (the query adapter recognises the questions it was trained on by their text)."""
        p = self.params
        self._refresh_statuses()
        analysis = self.analyse(question)
        named = self._named_laws(analysis, law)
        named_ids = {lw.law_id for lw in named}
        keys = self._table.keys
        exact_keys = [a.key for a in self.exact(analysis, named)] if "exact" in p.legs else []

        lex_rank: dict[int, int] = {}
        lex = np.zeros(len(keys), dtype=np.float32)
        if "lexical" in p.legs:
            lex = self._lexical_leg(analysis)
            top = np.argpartition(-lex, min(p.depth, len(lex) - 1))[: p.depth]
            top = [int(g) for g in top[np.argsort(-lex[top])] if lex[g] > 0]
            lex_rank = {g: r for r, g in enumerate(top, 1)}
        if law:  # an explicit law restricts the candidates to it
            named_groups = [g for g, key in enumerate(keys) if key[0] in named_ids]
            lex_rank = {g: r for r, g in enumerate(sorted(named_groups, key=lambda g: -lex[g])[: p.depth], 1)}
        cos: dict[int, float] = {}
        dense_rank: dict[int, int] = {}
        vec = self.dense.embedder.embed_query(analysis.question) if "dense" in p.legs and self.dense is not None else None
        adapted = vec is not None and self.adapter is not None and p.adapt
        if adapted:
            vec = self.adapter.apply(asked or question, vec)
        if vec is not None:
            cos, order = self._dense_leg(vec, list(lex_rank), p.depth)
            if law:
                order = [g for g in order if keys[g][0] in named_ids]
            dense_rank = {g: r for r, g in enumerate(order, 1)}
        pool = sorted(set(lex_rank) | set(dense_rank))
        with_cos = [g for g in pool if g in cos]
        # A common scale is needed only when both legs take part; lexical alone (dense not filled yet, or
        # off) keeps "max", against which the boosts were tuned (measured: env_dev lexical R@5 0.66 vs 0.64 with z).
        mode = p.normalise if with_cos else "max"
        lex_n = dict(zip(pool, _normalised(np.asarray([float(lex[g]) for g in pool]), mode, "lexical")))
        dense_n = dict(zip(with_cos, _normalised(np.asarray([cos[g] for g in with_cos]), mode, "dense")))
        if dense_n:
            # A candidate without a vector (the dense index still filling, or the store failing) takes its
            # lexical score for the dense one. Counted as dissimilar (cosine 0), articles not yet embedded
            # sank under whatever was embedded first: simulated fill levels 7/25/50/75/95 % gave STARD
            # R@10 0.003/0.06/0.09/0.57/0.61 that way, 0.49/0.49/0.51/0.61/0.63 this way, lexical alone 0.47
            # (README, "Indexing").
            for g in pool:
                dense_n.setdefault(g, lex_n[g])
        # When expansions fire, the legal terms make lexical evidence more reliable than the dense leg (a weight
        # relative to it, so only when it takes part); much more so for the bureau's own (environmental,
        # administrative) vocabulary than for the general one, whose terms are broader.
        w_dense = p.w_dense_adapted if adapted else p.w_dense
        law_prior = p.law_prior_adapted if adapted else p.law_prior
        w_lex = p.w_lexical
        if analysis.domains and dense_n:
            w_lex += (p.w_lexical_expanded if analysis.domains - {"general"} else
                      p.w_lexical_general_adapted if adapted else p.w_lexical_general)
        scored: list[tuple[float, int]] = []
        cands = [g for g in pool if self._features[p.require][g]] if p.require else pool
        for g in cands:
            s = w_lex * lex_n[g]
            if g in dense_n:
                s += w_dense * dense_n[g]
            if p.w_rrf:
                s += p.w_rrf * sum(1.0 / (p.rrf_k + ranks[g]) for ranks in (lex_rank, dense_rank) if g in ranks)
            for intent in analysis.intents:
                if self._features[intent][g]:
                    s += p.intent_boost
            if self._features["scope"][g]:
                s -= (1.0 - p.scope_factor) * abs(s)
            if keys[g][0] in named_ids:
                s += p.law_name_boost
            elif not self._factor[g]:
                factor = p.superseded_factor if keys[g][0] in self._repealed_by else p.non_current_factor
                s -= (1.0 - factor) * abs(s)  # = s * factor for s >= 0; z-scores can be negative
            scored.append((s, g))
        if self._amends:
            scored = _fold_amendments(scored, self._amends)
        scored.sort(reverse=True)
        if law_prior and scored:
            # Articles of the law that dominates the top candidates are more likely relevant.
            mass: dict[str, float] = {}
            for sc, g in scored[: p.law_prior_top]:
                mass[keys[g][0]] = mass.get(keys[g][0], 0.0) + max(sc, 0.0)
            total = sum(mass.values()) or 1.0
            scored = sorted(((sc + law_prior * mass.get(keys[g][0], 0.0) / total, g) for sc, g in scored),
                            reverse=True)
        if p.referral and scored and self._referrals:
            scored = self._follow_referral(vec, scored, lex)
        return self._hits(analysis, exact_keys, scored, lex_rank, dense_rank, k)

    def _follow_referral(self, vec: np.ndarray | None, scored: list[tuple[float, int]], lex: np.ndarray
                         ) -> list[tuple[float, int]]:
        """"本章没有规定的，适用保管合同的有关规定": when the best hits sit in such a chapter, the referral article and the
        referred chapter's best-matching articles are placed after the first hits."""
        p = self.params
        top = [g for _, g in scored[:5]]
        chapter = next((self._referrals[g] for g in top[:1] if g in self._referrals), None)
        if chapter is None:
            counts: dict[int, int] = {}
            for g in top:
                if g in self._referrals:
                    counts[self._referrals[g][0]] = counts.get(self._referrals[g][0], 0) + 1
            chapter = next((self._referrals[ref] for ref, n in counts.items() if n >= 2), None)
        if chapter is None:
            return scored
        referral, targets = chapter
        stored = self._stored_cosines(vec, targets) if vec is not None else {}
        cos = np.asarray([stored.get(g, 0.0) for g in targets], dtype=np.float32)
        lx = np.asarray([float(lex[g]) for g in targets])
        mix = p.w_lexical * _normalised(lx, "z", "lexical") + p.w_dense * _normalised(cos, "z", "dense")
        picked = [referral] + [targets[i] for i in np.argsort(-mix)[: p.referral]]
        rest = [(sc, g) for sc, g in scored if g not in picked]
        at = min(p.referral_at, len(rest))
        anchor = rest[at - 1][0] if at else scored[0][0]
        return rest[:at] + [(anchor, g) for g in picked] + rest[at:]


    def counterparts(self, article: Article, k: int = 1) -> list[Hit]:
        """Articles in force that correspond to a repealed article.

        From the mapping stored in the catalog at index time (pufa.mapping; score = its confidence, all
        stored counterparts, at most three), else by searching the repealing law with the article's text.
        """
        replacement = self._repealed_by.get(article.law_id)
        if replacement is None or k <= 0:
            return []
        if self.catalog.has_counterparts():
            return [Hit(a, conf, {"counterpart": rank}, note=article.citation())
                    for rank, (a, conf, _method) in enumerate(self.catalog.counterparts_of(article), 1)]
        g = self._table.index.get(article.key)
        # the counterpart of a liability article is a liability article
        require = "penalty" if g is not None and self._features["penalty"][g] else ""
        # an article's text is not a lay question: the adapter, learned on questions, stays out of it
        finder = self.with_params(legs=("lexical", "dense"), intent_boost=0.0, counterparts=0, require=require,
                                  adapt=False)
        # An article listing several violations (（一）（二）…) usually maps to several articles in force:
        # look each item up on its own, with the lead sentence for context.
        lines = [ln for ln in article.text.split("\n") if ln.strip()]
        items = [ln for ln in lines if ITEM.match(ln)]
        queries = items if items and len(items) <= 6 else [article.text]
        out: dict[ArticleKey, Hit] = {}
        for query in queries:
            for hit in finder.search(query, k=1 if len(queries) > 1 else k, law=replacement.title):
                out.setdefault(hit.article.key, hit)
        return list(out.values())[: max(k, len(queries))]

    def _hits(self, analysis: QueryAnalysis, exact_keys: list[ArticleKey], scored: list[tuple[float, int]],
              lex_rank: dict[int, int], dense_rank: dict[int, int], k: int) -> list[Hit]:
        keys = self._table.keys
        extra: dict[ArticleKey, Hit] = {}
        with_counterparts: list[ArticleKey] = []
        for key in exact_keys:
            with_counterparts.append(key)
            if key[0] in self._repealed_by and self.params.counterparts:
                for hit in self.counterparts(self.catalog.article_by_key(*key), self.params.counterparts):
                    with_counterparts.append(hit.article.key)
                    extra[hit.article.key] = hit
        exact_keys = list(dict.fromkeys(with_counterparts))
        depth = max(k, getattr(self.reranker, "depth", 0)) if self.reranker is not None else k
        order = list(dict.fromkeys(exact_keys + [keys[g] for _, g in scored[: depth * 3]]))
        articles = self.catalog.articles_by_keys(order)
        score_of = {keys[g]: (s, g) for s, g in scored}
        top_score = scored[0][0] if scored else 1.0
        hits: list[Hit] = []
        seen_texts: set[tuple[str, str]] = set()
        terms = self.query_terms(analysis)  # tokenising the question once, not once a hit
        for key in order:
            a = articles.get(key)
            if a is None:
                continue
            dedup = (a.law_short, a.text)  # the same article in two sources/versions shows once
            if dedup in seen_texts:
                continue
            seen_texts.add(dedup)
            score, g = score_of.get(key, (0.0, -1))
            legs = {name: ranks[g] for name, ranks in (("lexical", lex_rank), ("dense", dense_rank)) if g in ranks}
            if key in exact_keys:
                if key in extra:
                    legs = {"counterpart": 1}
                else:
                    legs["exact"] = exact_keys.index(key) + 1
                score = top_score + 1.0 - 0.01 * (exact_keys.index(key) + 1)
            hits.append(Hit(a, score, legs, _matched(terms, a)))
            if len(hits) >= depth:
                break
        if self.params.companion and hits and not self.params.require:  # `require`: only articles of that kind
            hits = self._with_companions(terms, hits, score_of)
        if self.reranker is not None and hits:
            hits = self.reranker(analysis.question, hits)
        return hits[:k]

    def _with_companions(self, terms: dict[str, float], hits: list[Hit],
                         score_of: dict[ArticleKey, tuple[float, int]]) -> list[Hit]:
        """After each of the first `companion` hits, its counterpart on the other side of the 法律责任 line, unless
        it is already in the top 5. A question about a duty is usually also about what breaking it costs, and a
        question about a penalty about the duty broken; the two articles rarely share words.

        - a duty → the liability article that punishes it: the same law's 法律责任 unit closest to one of the
          duty's paragraphs (pufa.liability, as the handouts pair them);
        - a liability article → the duty it punishes: of the duties its units are closest to
          (LiabilityIndex.duties), the one the search scored best (a penalty article often lists several)."""
        out = list(hits)
        for hit in hits[: self.params.companion]:
            article = hit.article
            if article.kind != "statute":
                continue
            if is_liability(article):
                duties = self._liability.duties(article)
                if not duties:
                    continue
                pick = max(duties, key=lambda m: (score_of.get(m[0].key, (float("-inf"), 0))[0], m[1]))[0]
                leg = "duty"
            else:
                found = [m for p in article.text.split("\n") if p.strip() and (m := self._liability.match(article, p))]
                if not found:
                    continue
                pick = max(found, key=lambda m: m[1])[0].article
                leg = "penalty"
            if any(h.article.key == pick.key for h in out[:5]):
                continue
            out = [h for h in out if h.article.key != pick.key]
            at = next(i for i, h in enumerate(out) if h.article.key == article.key) + 1  # a pick is re-inserted
            out.insert(at, Hit(pick, hit.score, {leg: 1}, _matched(terms, pick)))
        return out[: len(hits)]  # as many candidates as before: a reranker scores `depth` of them, not one more

    def warm(self) -> None:
        """Pair the bureau's laws' penalties with their duties now (the companion's matching, pufa.liability),
        rather than on the first question about each law: the 法典 takes 0.36 s, once per process."""
        started = time.perf_counter()
        laws = [law for law in self.catalog.laws() if law.status == STATUS_CURRENT and is_domain_law(law.title)]
        for law in laws:
            self._liability.obligations(law.law_id)
        log.info("liability matching warmed for %d laws in %.1f s", len(laws), time.perf_counter() - started)

    def similarity(self, question: str, hits: list[Hit]) -> float | None:
        """Best cosine between the question and the given hits' chunks.

        None unless every hit has its vectors: while the dense index is still filling, a maximum over
        the few embedded chunks is not the figure the refusal threshold was calibrated on.
        """
        if self.dense is None or not hits or any(h.article.key not in self._table.index for h in hits):
            return None
        ids = [c for h in hits for c in self._table.chunk_ids[self._table.index[h.article.key]]]
        vectors = self.dense.vectors(ids)
        if len(vectors) < len(set(ids)):
            return None
        vec = self.dense.embedder.embed_query(question)
        return max(float(v @ vec) for v in vectors.values())

    def explain(self, hit: Hit) -> str:
        legs = ", ".join(f"{leg} #{rank}" for leg, rank in sorted(hit.legs.items(), key=lambda x: x[1])) or "—"
        terms = "、".join(hit.matched_terms[:12]) or "—"
        return f"legs: {legs}; matched terms: {terms}; fused score {hit.score:.4f}"


_REF_SPAN = re.compile(r"第?\s*[零〇一二两三四五六七八九十百千万\d]+\s*条(?:\s*之\s*[一二三四五六七八九十\d]+)?")
# An article that only says which rules of its section apply ("违反本法第二编第六分编规定，适用本节规定予以行政处罚。",
# "海洋污染的防治不适用本分编。"): it tells a reader nothing to do, yet matches every "会怎么处罚" question.
_SCOPE_ONLY = re.compile(r"^[^。；]{0,40}(?:适用本(?:节|章|编|分编)规定予以(?:行政)?处罚|不适用本(?:节|章|编|分编))。$")
_DEADLINE = re.compile(r"[〇零一二三四五六七八九十百\d]+(?:日|天|个月|年)(?:内|以内|之内|起|前)|期限|时效|期间")
_PENALTY = re.compile(r"罚款|处罚|拘留|吊销|责令停业|责令关闭|没收")


def _matched(terms: dict[str, float], article: Article) -> tuple[str, ...]:
    """The question's (and its expansions') terms of two or more characters that occur in the article."""
    return tuple(t for t in terms if len(t) >= 2 and t in article.text)


def _article_features(rows: list[tuple[str, int, int, str, str]], position: dict[ArticleKey, int]
                      ) -> dict[str, np.ndarray]:
    """Per-article flags used by the intent boosts (liability article, states a time limit)."""
    penalty = np.zeros(len(position), dtype=bool)
    deadline = np.zeros(len(position), dtype=bool)
    scope = np.zeros(len(position), dtype=bool)
    for law_id, num, sub, text, chapter in rows:
        i = position.get((law_id, num, sub))
        if i is None:
            continue
        penalty[i] = "法律责任" in chapter or bool(_PENALTY.search(text))
        deadline[i] = bool(_DEADLINE.search(text))
        scope[i] = bool(_SCOPE_ONLY.match(text.strip()))
    return {"penalty": penalty, "deadline": deadline, "scope": scope}


_AMENDS = re.compile(rf"第({NUMERAL})条(?:之({NUMERAL}))?(?:第{NUMERAL}款)?修改为|第{NUMERAL}条后增加一条，作为第({NUMERAL})条之({NUMERAL})")
_ADDS_PARAGRAPH = re.compile(rf"第({NUMERAL})条中增加一款")  # "在刑法第一百六十五条中增加一款作为第二款，将该条修改为：……"
_QUOTED = re.compile(r"[:：]\s*[\"“]([^\"”]{6,})")


def _amendments(catalog: Catalog):
    """Every article of an amendment act in force that rewrites or adds an article of the law it amends: (the
    act, the law in force it amends, the act's article, the amended article's (num, sub), the quoted wording)."""
    for law in catalog.laws():
        m = re.fullmatch(r"(.+?)修正案(?:（.+）)?", law.title) or re.fullmatch(r".*关于修改《(.+)》的决定", law.title)
        if not m or law.status != STATUS_CURRENT or not law.promulgated:
            continue
        try:
            base = catalog.resolve_law(m.group(1))
        except NotFoundError:
            continue
        if base.law_id == law.law_id:
            continue
        for article in catalog.articles_of(law.law_id):
            head, quoted = article.text[:80], _QUOTED.search(article.text)
            ref, added = _AMENDS.search(head), _ADDS_PARAGRAPH.search(head)
            if not quoted or not (ref or added):
                continue
            if ref:
                num, sub = (ref.group(1), ref.group(2)) if ref.group(1) else (ref.group(3), ref.group(4))
            else:
                num, sub = added.group(1), None
            yield law, base, article, (cn_to_int(num), cn_to_int(sub) if sub else 0), quoted.group(1)


def amendments(catalog: Catalog) -> tuple[dict[ArticleKey, ArticleKey], dict[ArticleKey, list[Article]]]:
    """The amendment acts' articles, in one pass:

    - folded: act article (刑法修正案（十一）第四十条: "将刑法第三百三十八条修改为：……") → the article of the consolidated
      law in force that now holds the text. Kept only where the law's text starts with the quoted new wording and
      is dated on or after the amendment, so a law renumbered since keeps the amendment's article;
    - pending: article of a law in force → the act articles dated after the law's text, which that text does not
      hold yet (the database's 刑法 is the 2020 text; 刑法修正案（十二） of 2023 rewrites 第一百六十五条 and others).
    """
    folded: dict[ArticleKey, ArticleKey] = {}
    pending: dict[ArticleKey, list[Article]] = {}
    texts: dict[str, dict[tuple[int, int], str]] = {}
    for law, base, article, target, quoted in _amendments(catalog):
        if base.promulgated < law.promulgated:
            pending.setdefault((base.law_id, *target), []).append(article)
            continue
        if base.law_id not in texts:
            texts[base.law_id] = {(a.num, a.sub): re.sub(r"\s", "", a.text) for a in catalog.articles_of(base.law_id)}
        if re.sub(r"\s", "", quoted)[:30] in texts[base.law_id].get(target, ""):
            folded[article.key] = (base.law_id, *target)
    return folded, pending


def _fold_amendments(scored: list[tuple[float, int]], amends: dict[int, int]) -> list[tuple[float, int]]:
    """An amendment act's article scores for the consolidated article it amended (the best of the two)."""
    best: dict[int, float] = {}
    for score, g in scored:
        g = amends.get(g, g)
        best[g] = max(best.get(g, score), score)
    return [(score, g) for g, score in best.items()]


_REFERRAL = re.compile(r"本章没有规定的，(?:参照)?适用(本编第([一二三四五六七八九十]+)章)?(\S{2,12}?)的有关规定")


def _referrals(rows: list[tuple[str, int, int, str, str]], position: dict[ArticleKey, int]
               ) -> dict[int, tuple[int, list[int]]]:
    """Article group → (the chapter's referral article, the referred chapter's articles), for chapters that say
    "本章没有规定的，适用……的有关规定" of a chapter of the same law (民法典: 仓储 → 保管, 保理 → 债权转让)."""
    chapters: dict[tuple[str, str], list[int]] = {}
    texts: dict[int, str] = {}
    for law_id, num, sub, text, chapter_path in rows:
        g = position.get((law_id, num, sub))
        if g is None or not chapter_path:
            continue
        chapters.setdefault((law_id, chapter_path.split(" / ")[0]), []).append(g)
        texts[g] = text
    out: dict[int, tuple[int, list[int]]] = {}
    for (law_id, name), groups in chapters.items():
        for g in groups:
            m = _REFERRAL.search(texts[g])
            if not m:
                continue
            if m.group(1):  # 本编第六章: the nearest chapter of that number before this one
                prefix = f"第{m.group(2)}章"
                options = [gs for (lid, nm), gs in chapters.items() if lid == law_id and nm.startswith(prefix)
                           and min(gs) < min(groups)]
                target = max(options, key=min) if options else None
            else:
                options = [gs for (lid, nm), gs in chapters.items() if lid == law_id and nm.endswith(m.group(3))]
                target = options[0] if len(options) == 1 else None
            if target:
                for member in groups:
                    out[member] = (g, sorted(target))
    return out


def _normalised(x: np.ndarray, mode: str, leg: str) -> np.ndarray:
    """One leg's candidate scores on a common scale (see RetrievalParams.normalise)."""
    if not len(x):
        return x
    if mode == "z":
        z = (x - x.mean()) / (x.std() or 1.0)
        top = z.max()
        return z / top if top > 0 else z
    if leg == "lexical":
        return x / (x.max() or 1.0)
    return (x - x.min()) / ((x.max() - x.min()) or 1.0)


def _in_force(laws) -> set[str]:
    """Ids of the laws ranked as current: 现行有效, and an amended (已被修改) or undated-status law
    whose short title has no 现行有效 version in the catalog (e.g. 刑法, amended by 修正案, is
    the text in force). Repealed laws and historical versions are not."""
    laws = list(laws)
    current_titles = {law.short for law in laws if law.status == STATUS_CURRENT}
    return {law.law_id for law in laws if law.status == STATUS_CURRENT
            or (law.status in ("已被修改", "") and law.short not in current_titles)}


def timed_search(retriever: Retriever, question: str, k: int) -> tuple[list[Hit], float]:
    t0 = time.perf_counter()
    hits = retriever.search(question, k=k)
    return hits, (time.perf_counter() - t0) * 1000
