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


def bootstrap_ci(values: Sequence[float], reps: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of per-question values (questions resampled with replacement).

    How far a figure on a few hundred questions can move by the luck of which questions were asked: on
    360 questions a Recall@10 near 0.64 has a 95 % interval about ±0.05 wide.
    """
    import numpy as np

    x = np.asarray(values, dtype=float)
    if not len(x):
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(reps, len(x)))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_difference(a: Sequence[float], b: Sequence[float], reps: int = 2000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """Mean of a − b over the same questions, its bootstrap interval, and the share of resamples in which
    a does not beat b (a one-sided p-value for "a is better")."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError(f"paired values need the same questions ({len(a)} vs {len(b)})")
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not len(d):
        return {"diff": 0.0, "ci": [0.0, 0.0], "p_not_better": 1.0}
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(reps, len(d)))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    return {"diff": round(float(d.mean()), 4),
            "ci": [round(float(np.percentile(means, tail)), 4), round(float(np.percentile(means, 100 - tail)), 4)],
            "p_not_better": round(float((means <= 0).mean()), 4)}
