"""Retrieval metrics as pure functions over ranked keys and a set of relevant keys.

Conventions follow the STARD paper: Recall@k is the share of a question's labelled articles found
in the top k (averaged over questions); MRR@k the reciprocal rank of the first labelled article.
nDCG@k uses binary relevance with the ideal ranking putting every labelled article first.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence


def recall_at_k(ranked: Sequence[Hashable], relevant: set, k: int) -> float:
    if not relevant:
        raise ValueError("recall is undefined without relevant items")
    return len(set(ranked[:k]) & relevant) / len(relevant)


def reciprocal_rank(ranked: Sequence[Hashable], relevant: set, k: int) -> float:
    for i, key in enumerate(ranked[:k], start=1):
        if key in relevant:
            return 1.0 / i
    return 0.0


def ndcg_at_k(ranked: Sequence[Hashable], relevant: set, k: int) -> float:
    if not relevant:
        raise ValueError("nDCG is undefined without relevant items")
    seen: set = set()
    dcg = 0.0
    for i, key in enumerate(ranked[:k], start=1):
        if key in relevant and key not in seen:
            seen.add(key)
            dcg += 1.0 / math.log2(i + 1)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        return 0.0
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
