"""HTML rendering (escaping, highlighting, markers) and the feedback store."""

from __future__ import annotations

import sqlite3

import pytest

from pufa.answer import Answer, Citation
from pufa.feedback import REASONS, FeedbackStore
from pufa.records import Article
from pufa.web import render

XSS = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '"><svg onload=alert(1)>',
       '[点我](javascript:alert(1))', "javascript:alert(1)", "${alert(1)}", "{{constructor.constructor('alert(1)')()}}"]


def article(text="第一句。第二句<b>粗</b>。", law="中华人民共和国大气污染防治法", status="已废止", num=99) -> Article:
    return Article(law_id="L1", law=law, num=num, sub=0, article_no="第九十九条", text=text, chapter="第七章 法律责任",
                   status=status, level="法律", effective="2016-01-01")


@pytest.mark.parametrize("payload", XSS)
def test_untrusted_text_never_becomes_markup(payload):
    cite = Citation(1, article(text=f"正文{payload}。", law=f"法{payload}"), quotes=(payload,))
    html = render.answer_html(f"回答{payload}[1]\n- 列表{payload}\n> 引文{payload}", (cite,), 0,
                              notices=(f"提示{payload}",))
    assert "<script" not in html and "<img" not in html and "<svg" not in html
    assert 'href="javascript' not in html and "<a " not in html.replace('<a class="pufa-cite"', "").replace(
        '<a href="/article/', "")
    assert "\n\n" not in html  # one HTML block for the chat's Markdown


def test_markers_link_to_cards_and_unknown_markers_stay_text():
    cite = Citation(2, article())
    html = render.answer_html("见[2]，另见[7]。", (cite,), 3)
    assert 'href="#pufa-src-3-2"' in html and 'id="pufa-src-3-2"' in html
    assert "[7]" in html and "#pufa-src-3-7" not in html


def test_backslash_escapes_show_literally():
    html = render.text_html(r"\*不是粗体\* \[1\] **粗体**", {1: "x"})
    assert "*不是粗体*" in html and "[1]" in html and 'href="#x"' not in html
    assert "<strong>粗体</strong>" in html


def test_highlight_marks_quotes_and_escapes_the_rest():
    html = render.highlight("甲<乙>。丙丁。乙。甲<乙>。", ("甲<乙>。", "丙丁"))
    assert html.count("<mark>") == 2  # adjacent quotes merge into one mark
    assert "&lt;乙&gt;" in html and "<乙>" not in html


def test_card_shows_status_level_date_replaces_and_link():
    cite = Citation(1, article(status="现行有效", law="中华人民共和国生态环境法典", num=80), quotes=("第一句。",),
                    replaces="《大气污染防治法》第九十九条")
    html = render.card_html(cite, "a")
    assert "《生态环境法典》第九十九条" in html and "法律" in html and "现行有效" in html and "2016-01-01" in html
    assert "已废止" in html and "《大气污染防治法》第九十九条" in html and "现行对应条文" in html
    assert 'href="/article/%E7%94%9F%E6%80%81%E7%8E%AF%E5%A2%83%E6%B3%95%E5%85%B8/80"' in html
    assert "<mark>第一句。</mark>" in html


def test_plain_text_for_copying_lists_sources():
    a = Answer("q", "回答[1]", (Citation(1, article()),), "2026-11-28", "extractive")
    text = render.plain_text(a)
    assert text.startswith("回答[1]") and "[1] 《大气污染防治法》第九十九条" in text and "已废止" in text


# ---- feedback store ------------------------------------------------------------------------

def test_feedback_store_roundtrip_filters_and_handles(tmp_path):
    store = FeedbackStore.in_dir(tmp_path)
    a = store.add(-1, question="问", answer="答", citations=["《大气法》第九十九条"], persona="public", mode="extractive")
    b = store.add(1, question="问2")
    store.update(a, reason="引用有误", comment="条号不对")
    assert store.get(a).reason == "引用有误" and store.get(a).comment == "条号不对"
    assert [f.id for f in store.list(reason="引用有误")] == [a]
    store.mark_handled(a)
    assert [f.id for f in store.list(handled=False)] == [b]
    assert store.counts() == {"total": 2, "open": 1, "negative": 1}
    with pytest.raises(ValueError):
        store.update(b, reason="不存在的原因")
    conn = sqlite3.connect(tmp_path / "feedback.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_feedback_csv_neutralises_formulas(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite")
    store.add(-1, question="=HYPERLINK(\"http://x\")", comment="+1", reason=REASONS[0])
    text = store.to_csv(store.list())
    assert "'=HYPERLINK" in text and "'+1" in text
    assert text.splitlines()[0].startswith("id,created,rating")
