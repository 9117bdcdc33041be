"""Metric functions checked against cases computed by hand."""

import math

import pytest

from pufa.metrics import bootstrap_ci, mean, ndcg_at_k, paired_difference, percentile, recall_at_k, reciprocal_rank

RANKED = ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("relevant,k,expected", [
    ({"a"}, 1, 1.0), ({"b"}, 1, 0.0), ({"b"}, 5, 1.0), ({"a", "z"}, 5, 0.5), ({"c", "e"}, 3, 0.5),
    ({"z"}, 5, 0.0),
])
def test_recall(relevant, k, expected):
    assert recall_at_k(RANKED, relevant, k) == expected


@pytest.mark.parametrize("relevant,k,expected", [
    ({"a"}, 10, 1.0), ({"c"}, 10, 1 / 3), ({"c", "b"}, 10, 0.5), ({"e"}, 4, 0.0), ({"z"}, 10, 0.0),
])
def test_reciprocal_rank(relevant, k, expected):
    assert reciprocal_rank(RANKED, relevant, k) == pytest.approx(expected)


def test_ndcg_hand_computed():
    # relevant at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(RANKED, {"b", "d"}, 10) == pytest.approx(expected)
    assert ndcg_at_k(RANKED, {"a"}, 10) == 1.0
    assert ndcg_at_k(RANKED, {"z"}, 10) == 0.0


def test_undefined_without_labels():
    with pytest.raises(ValueError):
        recall_at_k(RANKED, set(), 10)


def test_percentile_and_mean():
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20], 95) == pytest.approx(19.5)
    assert mean([]) == 0.0 and mean([1, 2]) == 1.5


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_questions():
    few = [1.0, 0.0] * 20
    many = [1.0, 0.0] * 500
    lo, hi = bootstrap_ci(few)
    assert lo < 0.5 < hi and 0.2 < hi - lo < 0.4  # 40 coin flips: about ±0.15
    lo2, hi2 = bootstrap_ci(many)
    assert lo2 < 0.5 < hi2 and hi2 - lo2 < (hi - lo) / 3
    assert bootstrap_ci([0.7] * 30) == pytest.approx((0.7, 0.7))  # no spread, no interval
    assert bootstrap_ci(few, seed=3) == bootstrap_ci(few, seed=3)  # reproducible


def test_paired_difference_tells_a_real_gain_from_noise():
    base = [1.0, 0.0, 1.0, 0.0] * 50
    better = [1.0, 1.0, 1.0, 0.0] * 50  # wins on a quarter of the questions, never loses
    shuffled = base[1:] + base[:1]  # same mean, different questions: no systematic gain
    real = paired_difference(better, base)
    assert real["diff"] == 0.25 and real["ci"][0] > 0.15 and real["p_not_better"] == 0.0
    noise = paired_difference(shuffled, base)
    assert noise["diff"] == 0.0 and noise["ci"][0] < 0 < noise["ci"][1] and noise["p_not_better"] > 0.3
    with pytest.raises(ValueError, match="same questions"):
        paired_difference([1.0], [1.0, 0.0])
