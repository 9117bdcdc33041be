"""Citation verification: invented articles, foreign markers and wrong amounts never reach the user."""

from __future__ import annotations

import pytest

from pufa.answer import Citation
from pufa.citations import facts_in, verify
from pufa.indexer import open_index


@pytest.fixture(scope="module")
def catalog(mini_index):
    return open_index(mini_index, with_dense=False).catalog


@pytest.fixture(scope="module")
def sources(catalog):
    return (Citation(1, catalog.article("生态环境法典", 1095)), Citation(2, catalog.article("行政复议法", 20)))


@pytest.mark.parametrize("sentence,kept", [
    ("报告表未经批准擅自开工建设的，处十万元以上五十万元以下的罚款。[1]", True),
    ("可以在六十日内申请行政复议。[2]", True),
    ("可以在六十日内申请行政复议。[1]", False),  # the deadline is not in the article cited
    ("处一百万元以上五百万元以下的罚款。[1]", False),  # no such range in 第一千零九十五条
    ("依照《生态环境法典》第一千零九十五条，应当停止建设。", True),
    ("依照《生态环境法典》第九千九百九十九条，应当停止建设。", False),  # invented article
    ("依照《环境保护税法》第三条，应当停止建设。", False),  # law not in the catalog
    ("罚款数额见第三条。[7]", False),  # marker without a source
    ("建议及时整改，主动说明情况。", True),  # no facts, no markers: kept
])
def test_sentences_are_kept_only_when_supported(catalog, sources, sentence, kept):
    result = verify(f"**回答**\n{sentence}", sources, catalog)
    assert (sentence in result.text) is kept
    assert bool(result.notices) is (not kept)


def test_citations_not_used_by_the_final_text_are_dropped(catalog, sources):
    result = verify("可以在六十日内申请行政复议。[2]\n处二十万元以上一百万元以下的罚款。[9]", sources, catalog)
    assert [c.n for c in result.citations] == [2]
    assert "[9]" not in result.text and len(result.dropped) == 1


def test_quote_lines_are_checked_against_the_entry_above(catalog, sources):
    text = "[2] 《行政复议法》第二十条\n> 可以自知道之日起六十日内提出行政复议申请\n> 处五万元以下的罚款"
    result = verify(text, sources, catalog)
    assert "六十日内" in result.text and "五万元" not in result.text


@pytest.mark.parametrize("text,facts", [
    ("处十日以上十五日以下拘留", ["十日以上十五日以下"]),
    ("处总投资额百分之一以上百分之五以下的罚款", ["百分之一以上百分之五以下"]),
    ("可以处五万元以下的罚款，六个月内", ["五万元", "六个月"]),
    ("《生态环境法典》第一千零九十五条[1]", []),
    ("2026-08-15 起施行，拨打 12348", []),
    ("处货值金额三倍以下的罚款，二十万元", ["三倍", "二十万元"]),
])
def test_facts_are_amounts_deadlines_and_multiples(text, facts):
    assert facts_in(text) == facts
