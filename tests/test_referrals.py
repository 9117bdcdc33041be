"""A chapter that refers to another ("本章没有规定的，适用保管合同的有关规定") brings the referred rules along."""

from __future__ import annotations

import pytest


from conftest import small_retriever


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    return small_retriever(tmp_path_factory.mktemp("civil"), ("中华人民共和国民法典",))


def test_a_warehousing_question_gets_the_referral_and_the_safekeeping_rules(retriever):
    # 仓储合同 (第二十二章) has few rules of its own; 第九百一十八条 sends the rest to 保管合同 (第二十一章)
    question = "仓库的保管人能不能自己使用存放在仓库里的仓储物？"
    nums = [h.article.num for h in retriever.search(question, k=10)]
    assert 918 in nums
    assert any(888 <= n <= 903 for n in nums)  # an article of the 保管合同 chapter
    without = [h.article.num for h in retriever.with_params(referral=0).search(question, k=10)]
    assert 918 not in without


def test_a_question_outside_such_chapters_is_unchanged(retriever):
    question = "借款合同的利息可以预先在本金中扣除吗？"
    assert ([h.article.key for h in retriever.search(question, k=10)]
            == [h.article.key for h in retriever.with_params(referral=0).search(question, k=10)])
