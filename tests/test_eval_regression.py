"""Retrieval regression: the environmental dev set on a small real index must stay above a measured floor.

The index holds the laws the set is labelled with (the 法典, the repealed environmental laws and the
administrative-procedure laws) from the package database; the dense leg uses the hash embedder so
the test runs in seconds. Floors were set from measurement (see the README) a little below the
value measured when they were set: a drop below them is a real regression.
"""

from pathlib import Path

import pytest

from pufa.evaluation import load_questions, pufa_system, run_system

from conftest import small_retriever

ENV_SET = Path(__file__).resolve().parents[1] / "eval" / "questions" / "env_dev.jsonl"
LAWS = tuple(f"中华人民共和国{name}" for name in (
    "生态环境法典", "行政处罚法", "行政复议法", "行政诉讼法", "行政许可法", "行政强制法", "大气污染防治法",
    "水污染防治法", "环境影响评价法", "固体废物污染环境防治法", "噪声污染防治法", "环境保护法"))

# Measured 2026-11-28 on this index (115 questions), exact+lexical legs: R@5 0.757, MRR@10 0.698;
# with the law prior on (hybrid default since the z-score fusion): R@5 0.739, MRR@10 0.668.
FLOOR_RECALL_AT_5 = 0.72
FLOOR_MRR_AT_10 = 0.66


@pytest.fixture(scope="module")
def env_retriever(tmp_path_factory):
    return small_retriever(tmp_path_factory.mktemp("env"), LAWS, batch=128)


def test_env_set_recall_stays_above_floor(env_retriever):
    in_scope = {t.removeprefix("中华人民共和国") for t in LAWS}
    questions = [q for q in load_questions(ENV_SET) if q.labels and all(lab[0] in in_scope for lab in q.labels)]
    assert len(questions) >= 100
    system = pufa_system(env_retriever.with_params(legs=("exact", "lexical")))
    summary = run_system("lexical", system, questions).summary(10)
    assert summary["recall@5"] >= FLOOR_RECALL_AT_5, summary
    assert summary["mrr@10"] >= FLOOR_MRR_AT_10, summary


def test_compare_report_says_whether_a_difference_is_more_than_noise(env_retriever, tmp_path):
    from pufa.eval_report import write_report

    questions = [q for q in load_questions(ENV_SET) if q.labels][:60]
    good = pufa_system(env_retriever.with_params(legs=("exact", "lexical")))
    worse = lambda question, k: good(question, k + 5)[5:]  # noqa: E731 - the same list minus its top 5
    results = [run_system("lexical", good, questions), run_system("lexical-minus-top5", worse, questions),
               run_system("lexical-again", good, questions)]
    real = results[0].versus(results[1])["recall@10"]
    assert real["diff"] > 0.1 and real["ci"][0] > 0 and real["p_not_better"] < 0.01
    same = results[0].versus(results[2])["mrr@10"]
    assert same["diff"] == 0.0 and same["p_not_better"] == 1.0
    summary = results[0].summary(10)
    assert summary["ci95"]["recall@10"][0] <= summary["recall@10"] <= summary["ci95"]["recall@10"][1]
    report = write_report(results, "env_dev", tmp_path, 10, {}).read_text(encoding="utf-8")
    assert "paired bootstrap" in report and "| lexical-minus-top5 | +" in report
