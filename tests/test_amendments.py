"""Amendment acts fold into the consolidated law they amended, when its text already holds them."""

from __future__ import annotations

import pytest

from pufa.retrieval import amendments

from conftest import small_retriever

LAWS = ("中华人民共和国刑法", "中华人民共和国刑法修正案（十一）", "中华人民共和国刑法修正案（十二）")


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    return small_retriever(tmp_path_factory.mktemp("amend"), LAWS)


def _law(retriever, title):
    return next(law for law in retriever.catalog.laws() if law.title == title)


def test_amendments_map_to_the_consolidated_articles_that_hold_their_text(retriever):
    mapping, _pending = amendments(retriever.catalog)
    criminal = _law(retriever, "中华人民共和国刑法")
    eleventh = _law(retriever, "中华人民共和国刑法修正案（十一）")
    twelfth = _law(retriever, "中华人民共和国刑法修正案（十二）")
    # 修正案（十一）第四十条: "将刑法第三百三十八条修改为：……" (污染环境罪); the 2020 刑法 text holds it
    article = next(a for a in retriever.catalog.articles_of(eleventh.law_id) if "第三百三十八条修改为" in a.text)
    assert mapping[article.key] == (criminal.law_id, 338, 0)
    assert sum(1 for key in mapping if key[0] == eleventh.law_id) >= 30
    # 修正案（十二） (2023) postdates the 2020 consolidated text: its articles stay its own
    assert not any(key[0] == twelfth.law_id for key in mapping)


def test_a_question_gets_the_consolidated_article_not_the_amending_one(retriever):
    eleventh = _law(retriever, "中华人民共和国刑法修正案（十一）")
    hits = retriever.search("排放有毒物质严重污染环境的，判几年？", k=10)
    keys = [(h.article.law_short, h.article.num) for h in hits]
    assert ("刑法", 338) in keys[:3]
    assert all(h.article.law_id != eleventh.law_id or "第三百三十八条" not in h.article.text for h in hits)
    # asked for by number, the amending article is still there
    exact = retriever.search("刑法修正案（十一）第四十条", k=3)[0]
    assert exact.article.law_id == eleventh.law_id and "第三百三十八条修改为" in exact.article.text


def test_an_article_a_later_amendment_rewrote_says_so(retriever):
    # the database's 刑法 is the 2020 text; 修正案（十二） (2023-12-29) rewrote 第三百九十条 (行贿罪)
    import datetime as dt

    from pufa.assistant import Assistant

    twelfth = _law(retriever, "中华人民共和国刑法修正案（十二）")
    assert [a.num for a in retriever.pending_amendments[(_law(retriever, "中华人民共和国刑法").law_id, 390, 0)]] == [5]
    assistant = Assistant(retriever, clock=lambda: dt.date(2026, 11, 29))
    answer = assistant.ask("刑法第三百九十条怎么规定的")
    assert any(c.article.law_short == "刑法" and c.article.num == 390 for c in answer.citations)
    assert (f"《刑法》第三百九十条已被《刑法修正案（十二）》第五条修改（{twelfth.promulgated} 公布），"
            "法规库中的《刑法》文本尚未包含这一修改，请以修正案的规定为准。") in answer.notices
    unchanged = assistant.ask("刑法第三百三十八条怎么规定的")  # consolidated with 修正案（十一）: nothing to say
    assert not any("修正案" in n for n in unchanged.notices)
