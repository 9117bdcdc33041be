"""Bad input on the question path: `Assistant.ask` / `stream` over the small test index.

Random Unicode, control characters, Markdown/HTML payloads, huge inputs, odd personas and
conversation histories: the result is an Answer or an InputError, nothing else, in bounded time;
an over-long question is rejected before any work (fast even at 1 MB).
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pufa.answer import Answer, FinalEvent, Turn
from pufa.errors import InputError

ASK = settings(max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def assistant(mini_index):
    from pufa.assistant import Assistant

    return Assistant.from_settings(mini_index)


def _check(assistant, question, persona="enterprise", history=()):
    started = time.perf_counter()
    try:
        answer = assistant.ask(question, persona, history)
    except InputError as e:
        assert str(e)  # a sentence for the user
        return None
    assert time.perf_counter() - started < 5
    assert isinstance(answer, Answer) and isinstance(answer.answer, str) and answer.answer.strip()
    numbers = {c.n for c in answer.citations}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)} <= numbers  # every marker has a source
    for c in answer.citations:
        assistant.catalog.article_by_key(*c.article.key)  # cites only what the catalog holds
    return answer


_legal = st.sampled_from(["排污许可证", "罚款", "大气污染防治法", "第九十九条", "环评", "行政复议", "听证",
                          "法典第八十条", "怎么处罚", "那罚款是多少？", "篡改监测数据", "12369"])
_payload = st.sampled_from(["<script>alert(1)</script>", "[点我](javascript:alert(1))", "**粗**", "# 标题",
                            "```\ncode\n```", "<img src=x onerror=alert(1)>", "{{question}}", "{sources}",
                            "<<<SOURCES>>>", "\x00", "\x1b[31m", "\u202e", "\ufeff", "\u200b", "%s%n", "' OR 1=1 --"])
_question = st.lists(st.one_of(_legal, _payload, st.text(max_size=30)), min_size=1, max_size=8).map("".join)


@ASK
@given(st.text(max_size=600))
def test_random_unicode_is_an_answer_or_an_input_error(assistant, question):
    _check(assistant, question)


@ASK
@given(_question)
def test_legal_words_mixed_with_markup_and_controls(assistant, question):
    _check(assistant, question)


@ASK
@given(st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=200))
def test_only_controls_and_spaces(assistant, question):
    _check(assistant, question)


@settings(max_examples=25, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(_question, st.text(max_size=12),
       st.lists(st.builds(Turn, _question, st.text(max_size=200)), max_size=4))
def test_odd_personas_and_histories(assistant, question, persona, history):
    _check(assistant, question, persona if persona else "public", history)


@pytest.mark.parametrize("size", [501, 10_000, 1_000_000])
def test_over_long_questions_are_rejected_fast(assistant, size):
    question = ("企业没有排污许可证排放废气怎么处罚" * (size // 17 + 1))[:size]
    started = time.perf_counter()
    with pytest.raises(InputError, match="500"):
        assistant.ask(question)
    with pytest.raises(InputError):
        next(iter(assistant.stream(question)))
    assert time.perf_counter() - started < 0.5


def test_exactly_the_limit_is_answered(assistant):
    answer = _check(assistant, ("企业没有排污许可证排放废气怎么处罚" * 40)[:500])
    assert answer is not None


def test_stream_always_ends_with_one_final_event(assistant):
    for question in ("<script>alert(1)</script>排污许可证", "\x00\x01罚款", "第九十九条" * 3):
        events = list(assistant.stream(question))
        assert isinstance(events[-1], FinalEvent) and sum(isinstance(e, FinalEvent) for e in events) == 1
