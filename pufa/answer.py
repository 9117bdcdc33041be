"""What the assistant produces: citations, answers and the events front-ends stream.

Every front-end (CLI, chat UI, widget, HTTP API, training material, evaluation) consumes these
records and nothing else; the wire form is `Answer.to_json()`, the document `pufa ask --json` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .records import Article

PERSONAS = ("enterprise", "public")


@dataclass(frozen=True)
class Citation:
    """One numbered source of an answer: the article, and the sentences of it the answer rests on."""

    n: int
    article: Article
    quotes: tuple[str, ...] = ()  # sentences of article.text that support the answer (for highlighting)
    replaces: str = ""  # for a counterpart in force: the repealed article it replaces, e.g. 《大气污染防治法》第九十九条
    confidence: float | None = None  # for a counterpart: how sure the mapping is

    def to_json(self) -> dict:
        doc = {"n": self.n, **self.article.to_json(), "quotes": list(self.quotes)}
        if self.replaces:
            doc["replaces"] = self.replaces
            doc["confidence"] = self.confidence
        return doc


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation, as the user saw it."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str  # markdown with inline [n] markers
    citations: tuple[Citation, ...]
    as_of: str  # YYYY-MM-DD: the date the law is stated for
    mode: str  # "extractive" | "llm"
    refused: bool = False
    refusal_reason: str | None = None
    notices: tuple[str, ...] = ()
    persona: str = "enterprise"
    resolved_question: str = ""  # the question after follow-up resolution (equals question when standalone)

    def to_json(self) -> dict:
        return {
            "answer": self.answer,
            "citations": [c.to_json() for c in self.citations],
            "refused": self.refused,
            "refusal_reason": self.refusal_reason,
            "as_of": self.as_of,
            "mode": self.mode,
            "notices": list(self.notices),
            "persona": self.persona,
            "question": self.question,
            "resolved_question": self.resolved_question or self.question,
        }


# ---- events, in the order a front-end receives them ------------------------------------------

@dataclass(frozen=True)
class SourcesEvent:
    """The sources retrieved for the question, before any answer text exists."""

    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class TextEvent:
    """A piece of answer text, to be appended to what came before."""

    text: str


@dataclass(frozen=True)
class FinalEvent:
    """The verified answer. Its text may differ from the streamed pieces (unsupported sentences dropped)."""

    answer: Answer


Event = SourcesEvent | TextEvent | FinalEvent


@dataclass(frozen=True)
class Message:
    """A chat message for an LLM backend (system / user / assistant)."""

    role: str
    content: str


@dataclass(frozen=True)
class Draft:
    """An answer before verification: text and the sources its [n] markers point into."""

    text: str
    sources: tuple[Citation, ...]
    notices: tuple[str, ...] = field(default=())
