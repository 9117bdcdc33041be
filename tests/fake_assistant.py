"""A small but real implementation of the Assistant interface for front-end tests.

It retrieves with the real Retriever and streams SourcesEvent → TextEvent pieces → FinalEvent, so
the UI code runs exactly as with `pufa.assistant.Assistant`, without depending on its wording.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pufa.answer import Answer, Citation, Event, FinalEvent, SourcesEvent, TextEvent, Turn
from pufa.errors import InputError


class FakeAssistant:
    def __init__(self, retriever, catalog=None, backend=None, *, settings=None, clock=None,
                 fail: Exception | None = None, answer_text: str | None = None):
        self.retriever = retriever
        self.catalog = catalog or retriever.catalog
        self.fail = fail
        self.answer_text = answer_text
        self.calls: list[tuple[str, str, tuple[Turn, ...]]] = []

    def stream(self, question: str, persona: str = "enterprise", history: Sequence[Turn] = ()) -> Iterator[Event]:
        self.calls.append((question, persona, tuple(history)))
        question = (question or "").strip()
        if not question:
            raise InputError("问题是空的，请输入想咨询的问题。")
        hits = self.retriever.search(question, k=3)
        citations = tuple(Citation(i, h.article, quotes=(h.article.text.split("。")[0] + "。",))
                          for i, h in enumerate(hits, 1))
        yield SourcesEvent(citations)
        if self.fail is not None:
            raise self.fail
        text = self.answer_text if self.answer_text is not None else "**简要回答**\n" + "\n".join(
            f"- {c.article.citation()}规定了相关内容。[{c.n}]" for c in citations)
        for i in range(0, len(text), 12):
            yield TextEvent(text[i:i + 12])
        yield FinalEvent(Answer(question=question, answer=text, citations=citations, as_of="2026-11-28",
                                mode="extractive", persona=persona, resolved_question=question))

    def ask(self, question: str, persona: str = "enterprise", history: Sequence[Turn] = ()) -> Answer:
        final = None
        for event in self.stream(question, persona, history):
            if isinstance(event, FinalEvent):
                final = event.answer
        return final
