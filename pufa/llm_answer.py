"""LLM mode: the model writes from the same numbered sources the extractive answer uses.

The sources are the extractive draft's citations (so their numbers match) followed by the other
retrieved articles. The model's text streams to the user as it comes; then it is verified like any
answer. On any backend failure, or when verification leaves nothing citable, the user gets the
extractive answer with a notice: never a stack trace or an empty reply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from .answer import Answer, Citation, Draft, Event, FinalEvent, SourcesEvent, TextEvent, Turn
from .errors import LLMError
from .extractive import Source

log = logging.getLogger(__name__)

NOTICE_FAILED = "大模型服务暂时不可用（{kind}），以下是根据条文原文整理的回答。"
_KINDS = {"down": "无法连接", "timeout": "响应超时", "http": "服务返回错误", "garbage": "返回内容无法解析",
          "cut": "回答中途中断", "empty": "返回内容为空"}
_FENCE = ("<<<", ">>>")
NOTICE_UNVERIFIED = "大模型的回答未能通过引用核验，以下是根据条文原文整理的回答。"


def numbered_sources(draft: Draft, sources: list[Source]) -> tuple[Citation, ...]:
    out = list(draft.sources)
    taken = {c.article.key for c in out}
    for s in sources:
        if s.article.key not in taken:
            taken.add(s.article.key)
            out.append(Citation(len(out) + 1, s.article, (), s.replaces, s.confidence))
    return tuple(out)


def format_sources(citations: Sequence[Citation]) -> str:
    blocks = []
    for c in citations:
        a = c.article
        facts = [a.status or "状态不明"] + ([f"{a.effective}施行"] if a.effective else [])
        head = f"[{c.n}] 《{a.law}》{a.article_no}（{'；'.join(facts)}）"
        if c.replaces:
            head += f"\n（现行对应条文，替代{c.replaces}）"
        blocks.append(f"{head}\n{a.text}")
    return "\n\n".join(blocks)


def unfenced(text: str) -> str:
    """Text placed inside the prompt's <<<…>>> fences cannot fake a fence of its own."""
    for mark in _FENCE:
        text = text.replace(mark, "")
    return text


def llm_answer(assistant, question: str, resolved: str, sources: list[Source], draft: Draft, persona: str,
               as_of: str, history: Sequence[Turn]) -> Iterator[Event]:
    from .prompts import format_history

    numbered = numbered_sources(draft, sources)
    yield SourcesEvent(numbered)
    messages = assistant.prompts.render(f"answer_{persona}", question=unfenced(resolved),
                                        sources=unfenced(format_sources(numbered)),
                                        as_of=as_of, history=unfenced(format_history(history)))
    pieces: list[str] = []
    try:
        for piece in assistant.backend.stream(messages):
            pieces.append(piece)
            yield TextEvent(piece)
    except LLMError as e:
        log.warning("LLM failed (%s); answering extractively", e)
        kind = _KINDS.get(getattr(e, "kind", ""), "未知错误")
        yield FinalEvent(_fallback(assistant, question, resolved, draft, persona, as_of, NOTICE_FAILED.format(kind=kind)))
        return
    text = "".join(pieces).strip()
    answer = assistant._finish(question, resolved, Draft(text, numbered, draft.notices), persona, as_of, "llm")
    if not answer.citations:
        yield FinalEvent(_fallback(assistant, question, resolved, draft, persona, as_of, NOTICE_UNVERIFIED))
        return
    yield FinalEvent(answer)


def _fallback(assistant, question: str, resolved: str, draft: Draft, persona: str, as_of: str, notice: str) -> Answer:
    return assistant._finish(question, resolved, draft, persona, as_of, "extractive", notices=(notice,))
