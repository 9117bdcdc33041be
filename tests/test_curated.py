"""Curated Q&A: references, the store's lifecycle and audit trail, publish checks, matching, the wrapper."""

from __future__ import annotations

import pytest

from fake_assistant import FakeAssistant
from pufa.answer import FinalEvent, SourcesEvent, TextEvent
from pufa.curated import (DRAFT, LABEL, PUBLISHED, UNPUBLISHED, CuratedError, CuratedMatcher, CuratedStore,
                          parse_refs, term_weight)
from pufa.curated_assistant import SEPARATOR, CuratedAssistant, _Renumberer

QUESTION = "大气污染防治法第九十九条规定的无证排放大气污染物怎么处罚？"
ANSWER = "未依法取得排污许可证排放大气污染物的，由生态环境主管部门责令改正或者限制生产、停产整治，并处十万元以上一百万元以下的罚款。[1]"


@pytest.fixture(scope="module")
def index(mini_index):
    from pufa.indexer import open_index

    return open_index(mini_index, with_dense=False)


@pytest.fixture()
def store(tmp_path):
    return CuratedStore.in_dir(tmp_path)


@pytest.mark.parametrize("text, expected", [
    ("《大气污染防治法》第九十九条", ("《大气污染防治法》第九十九条",)),
    ("大气法 99\n法典第1095条", ("《大气法》第99条", "《法典》第1095条")),
    ("行政处罚法第三十三条；行政处罚法 第三十三条", ("《行政处罚法》第三十三条",)),
    ("  \n", ()),
])
def test_parse_refs(text, expected):
    assert parse_refs(text) == expected


def test_parse_refs_rejects_what_is_not_a_reference():
    with pytest.raises(CuratedError) as e:
        parse_refs("请参考相关规定")
    assert "无法识别" in str(e.value)


def test_reading_an_unwritten_store_creates_nothing(tmp_path):
    store = CuratedStore.in_dir(tmp_path / "data")
    assert store.published() == [] and store.revision() == 0 and store.audit() == []
    assert not (tmp_path / "data").exists()


def test_lifecycle_with_audit_trail(store, index):
    qa_id = store.create("无证排污怎么罚", "先写个草稿。", ["大气法 99"], "张三", feedback_id=7)
    assert store.get(qa_id).status == DRAFT
    store.edit(qa_id, "李四", question=QUESTION, answer=ANSWER, refs=["《大气污染防治法》第九十九条"])
    published = store.publish(qa_id, "李四", index.catalog)
    assert published.status == PUBLISHED and published.published_at
    assert [q.id for q in store.published()] == [qa_id]
    # editing a published answer takes it back to draft until it is checked and published again
    assert store.edit(qa_id, "王五", question=QUESTION, answer=ANSWER + "\n请及时申领。", refs=published.refs).status == DRAFT
    store.publish(qa_id, "王五", index.catalog)
    assert store.unpublish(qa_id, "张三").status == UNPUBLISHED and store.published() == []
    trail = store.audit(qa_id)
    assert [(a.action, a.actor) for a in trail] == [("create", "张三"), ("edit", "李四"), ("publish", "李四"),
                                                    ("edit", "王五"), ("publish", "王五"), ("unpublish", "张三")]
    assert trail[0].detail["feedback_id"] == 7
    assert trail[1].detail["question"] == ["无证排污怎么罚", QUESTION]
    assert trail[1].detail["refs"] == [["《大气法》第99条"], ["《大气污染防治法》第九十九条"]]
    assert trail[3].detail["status"] == [PUBLISHED, DRAFT]
    assert all(a.at for a in trail) and store.revision() == trail[-1].id
    with pytest.raises(CuratedError):
        store.unpublish(qa_id, "张三")


@pytest.mark.parametrize("answer, refs, message", [
    ("按规定处罚。", ["《大气污染防治法》第九百条"], "不存在"),
    ("按规定处罚。", ["《不存在的法》第一条"], "不存在"),
    ("按规定处罚。", [], "至少附上一条"),
    ("罚款五百万元。[1]", ["《大气污染防治法》第九十九条"], "数额或期限"),
    ("见第二条。[2]", ["《大气污染防治法》第九十九条"], "不存在的来源"),
    ("依照《大气污染防治法》第九百条处罚。", ["《大气污染防治法》第九十九条"], "无法核实"),
    ("处罚见[1]。", ["《大气污染防治法》第九十九条", "《行政处罚法》第三十三条"], "没有用 [n] 标注"),
])
def test_publish_rejects_unverifiable_answers(store, index, answer, refs, message):
    qa_id = store.create("无证排污怎么罚", answer, refs, "张三")
    with pytest.raises(CuratedError) as e:
        store.publish(qa_id, "张三", index.catalog)
    assert message in str(e.value)
    assert store.get(qa_id).status == DRAFT and [a.action for a in store.audit(qa_id)] == ["create"]


def test_matcher_prefers_close_questions(index):
    from pufa.curated import CuratedQA

    entries = [CuratedQA(1, "排污许可证过期了还没来得及续，能先继续排放吗？", "", (), PUBLISHED, None, "", "", ""),
               CuratedQA(2, "收到行政处罚决定书后多久内可以申请行政复议？", "", (), PUBLISHED, None, "", "", "")]
    matcher = CuratedMatcher(entries, index.lexical.tokenizer.tokens, term_weight(index.lexical))
    assert matcher.best("排污许可证过期了还没来得及续，能先继续排放吗？").score == pytest.approx(1.0)
    assert matcher.best("排污许可证过期了没续，还能继续排放吗").qa.id == 1
    assert matcher.best("收到处罚决定书后多久可以申请复议").qa.id == 2
    # (hard negatives — same topic, another question — are measured on the full index: bench/curated_threshold.py)
    assert matcher.best("大气污染防治法第九十九条规定的无证排放怎么处罚") is None
    assert matcher.best("红烧肉怎么做才好吃？") is None


@pytest.mark.parametrize("pieces", [["a[1", "]b[", "2]"], ["[", "1", "]", "[12]"], ["no markers"], ["x[", "y"]])
def test_renumbering_survives_markers_split_across_pieces(pieces):
    shift = _Renumberer(3)
    out = "".join(shift.feed(p) for p in pieces) + shift.flush()
    from pufa.curated_assistant import renumber

    assert out == renumber("".join(pieces), 3)


def wrapped(index, store, **kw):
    from pufa.retrieval import Retriever

    retriever = Retriever(index.catalog, index.lexical, None)
    inner = FakeAssistant(retriever, index.catalog, **kw)
    return CuratedAssistant(inner, store, index.catalog, index.lexical.tokenizer.tokens, term_weight(index.lexical))


def test_matching_question_gets_the_curated_answer_first(store, index):
    qa_id = store.create(QUESTION, ANSWER, ["《大气污染防治法》第九十九条"], "张三")
    store.publish(qa_id, "张三", index.catalog)
    assistant = wrapped(index, store)
    events = list(assistant.stream("大气污染防治法第九十九条规定的无证排放怎么处罚", "public"))
    assert isinstance(events[0], SourcesEvent) and events[0].citations[0].article.citation() == "《大气污染防治法》第九十九条"
    assert isinstance(events[1], TextEvent) and events[1].text.startswith(f"**{LABEL}**")
    final = events[-1].answer
    assert isinstance(events[-1], FinalEvent)
    assert final.answer.index(LABEL) < final.answer.index(SEPARATOR)
    assert "".join(e.text for e in events if isinstance(e, TextEvent)) == final.answer
    ns = [c.n for c in final.citations]
    assert ns == list(range(1, len(ns) + 1)) and len(ns) > 1
    regular = final.answer.split(SEPARATOR)[1]
    import re

    assert "[1]" not in regular and {int(n) for n in re.findall(r"\[(\d+)\]", final.answer)} <= set(ns)
    assert assistant.calls[-1][1] == "public"  # the regular pipeline still ran, as asked
    # unpublished: the same question gets the regular answer only
    store.unpublish(qa_id, "张三")
    assert LABEL not in assistant.ask("大气污染防治法第九十九条规定的无证排放怎么处罚").answer


def test_non_matching_question_passes_through_untouched(store, index):
    qa_id = store.create(QUESTION, ANSWER, ["《大气污染防治法》第九十九条"], "张三")
    store.publish(qa_id, "张三", index.catalog)
    assistant = wrapped(index, store)
    plain = wrapped(index, CuratedStore.in_dir(store.path.parent / "empty"))
    question = "行政复议申请期限是多久"
    assert assistant.ask(question) == plain.ask(question)
    assert LABEL not in assistant.ask(question).answer


def test_a_curated_answer_that_no_longer_checks_out_is_not_shown(store, index, tmp_path):
    import sqlite3

    qa_id = store.create(QUESTION, ANSWER, ["《大气污染防治法》第九十九条"], "张三")
    store.publish(qa_id, "张三", index.catalog)
    with sqlite3.connect(store.path) as conn:  # as if a later corpus change removed the article
        conn.execute("UPDATE qa SET refs=? WHERE id=?", ('["《大气污染防治法》第九百条"]', qa_id))
        conn.execute("INSERT INTO audit (qa_id, at, actor, action) VALUES (?, 'x', 'test', 'edit')", (qa_id,))
    answer = wrapped(index, store).ask(QUESTION)
    assert LABEL not in answer.answer and answer.citations


def test_a_follow_up_is_matched_as_read_in_its_conversation(store, index):
    from pufa.answer import Turn
    from pufa.assistant import Assistant
    from pufa.retrieval import Retriever

    qa_id = store.create("危险废物贮存超过一年会怎么处罚？",
                         "未按照国家有关规定贮存危险废物的，由生态环境主管部门责令改正，处以罚款。[1]",
                         ["《生态环境法典》第一千一百七十九条"], "张三")
    store.publish(qa_id, "张三", index.catalog)
    retriever = Retriever(index.catalog, index.lexical, None)
    assistant = CuratedAssistant(Assistant(retriever, index.catalog), store, index.catalog,
                                 index.lexical.tokenizer.tokens, term_weight(index.lexical))
    follow_up = "那超过一年会怎么处罚？"
    assert LABEL in assistant.ask(follow_up).answer  # asked alone it matches the 危废 Q&A
    # after a question about an expired discharge permit it is not about hazardous waste
    history = [Turn("排污许可证过期了还没来得及续，能先继续排放吗？", "")]
    assert LABEL not in assistant.ask(follow_up, "enterprise", history).answer
