"""The vocabulary sections of 2026-11-29: everyday wording reaches the general rules of civil and criminal law,
and the administrative-procedure and environmental rules an enterprise asks about."""

from __future__ import annotations

import pytest

from pufa.query import Vocabulary

from conftest import small_retriever

LAWS = ("中华人民共和国民法典", "中华人民共和国刑法", "中华人民共和国民事诉讼法")


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    return small_retriever(tmp_path_factory.mktemp("general"), LAWS, batch=128)


def _top(retriever, question: str, k: int = 5) -> list[tuple[str, int]]:
    return [(h.article.law_short, h.article.num) for h in retriever.search(question, k=k)]


def _rank(retriever, question: str, article: tuple[str, int]) -> int:
    top = _top(retriever, question, k=50)
    return top.index(article) + 1 if article in top else 51


@pytest.mark.parametrize("question, article", [
    # 刑事责任年龄 ("已满十二周岁不满十四周岁的人，犯故意杀人、故意伤害罪，致人死亡……")
    ("十四岁小孩打架把人打死了要坐牢吗？", ("刑法", 17)),
    # 举证责任 ("当事人对自己提出的主张，有责任提供证据")
    ("打官司的时候没有证据怎么办？", ("民事诉讼法", 67)),
    # 离婚冷静期 ("自婚姻登记机关收到离婚登记申请之日起三十日内……")
    ("离婚冷静期是多久？", ("民法典", 1077)),
    # 帮助信息网络犯罪活动罪 (第二百八十七条之二)
    ("帮别人收钱转账，被说是帮信，会判刑吗？", ("刑法", 287)),
])
def test_lay_wording_reaches_the_general_rule(retriever, question, article):
    assert article in _top(retriever, question, k=5)
    bare = retriever.with_params()
    bare.vocabulary = Vocabulary([])
    assert _rank(bare, question, article) > _rank(retriever, question, article)


@pytest.fixture(scope="module")
def bureau_retriever(tmp_path_factory):
    laws = tuple(f"中华人民共和国{name}" for name in ("生态环境法典", "行政处罚法", "行政复议法", "行政强制法"))
    return small_retriever(tmp_path_factory.mktemp("bureau"), laws, batch=128)


@pytest.mark.parametrize("question, article, term", [
    # 禁止不利变更
    ("对罚款不服，复议会不会罚更多？", ("行政复议法", 63), "不得作出对申请人更为不利的变更决定"),
    # 危险废物贮存期限
    ("危废能存多久？", ("生态环境法典", 535), "贮存危险废物不得超过一年"),
])
def test_the_bureaus_own_questions_reach_their_article_first(bureau_retriever, question, article, term):
    assert _top(bureau_retriever, question, k=1) == [article]
    without = bureau_retriever.with_params()  # the rules that carry the statute's wording taken out
    without.vocabulary = Vocabulary([rule for rule in bureau_retriever.vocabulary.rules if term not in rule.legal])
    assert len(without.vocabulary.rules) < len(bureau_retriever.vocabulary.rules)
    assert _rank(without, question, article) > 1


def test_general_rules_weigh_the_lexical_leg_less_than_the_bureaus_own(retriever):
    general = "打官司的时候没有证据怎么办？"
    assert retriever.analyse(general).domains == {"general"}
    heavy = retriever.with_params(w_lexical_general=retriever.params.w_lexical_expanded)
    assert [h.score for h in heavy.search(general, k=5)] != [h.score for h in retriever.search(general, k=5)]
    environmental = "没批环评就开工了会怎么样"
    assert "environment" in retriever.analyse(environmental).domains
    assert ([(h.article.key, h.score) for h in heavy.search(environmental, k=5)]
            == [(h.article.key, h.score) for h in retriever.search(environmental, k=5)])
