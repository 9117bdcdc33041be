"""An assistant that puts a matching curated Q&A first, then the regular answer.

`CuratedAssistant` wraps any assistant with the `stream`/`ask` interface (pufa.assistant.Assistant)
and yields the same events: when the question matches a published curated Q&A (`CuratedMatcher`),
the curated answer — marked 「人工审核答复」, its citations resolved from the catalog and verified —
comes first as sources [1..k] and text, followed by the regular answer with its markers renumbered
after them. Without a match the inner assistant's events pass through untouched.
A follow-up ("那罚款是多少？") is matched as the inner assistant reads it offline (joined to the question it
follows), so a curated answer about another topic is not put in front of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from .answer import Answer, Citation, Event, FinalEvent, SourcesEvent, TextEvent, Turn
from .catalog import Catalog
from .curated import MARKER, CuratedError, CuratedMatcher, CuratedStore, Match, checked_prefix

log = logging.getLogger(__name__)

SEPARATOR = "**系统检索答复**"


def renumber(text: str, offset: int) -> str:
    return MARKER.sub(lambda m: f"[{int(m.group(1)) + offset}]", text) if offset else text


class _Renumberer:
    """Shifts [n] markers in streamed pieces; holds back a tail that may be half a marker ("[1")."""

    def __init__(self, offset: int):
        self.offset = offset
        self._pending = ""

    def feed(self, piece: str) -> str:
        text = self._pending + piece
        cut = text.rfind("[")
        if cut != -1 and "]" not in text[cut:] and len(text) - cut <= 4:
            text, self._pending = text[:cut], text[cut:]
        else:
            self._pending = ""
        return renumber(text, self.offset)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return renumber(text, self.offset)


class CuratedAssistant:
    def __init__(self, inner, store: CuratedStore, catalog: Catalog, tokens: Callable[[str], list[str]],
                 weight: Callable[[str], float], *, threshold: float | None = None, max_question_chars: int = 500):
        self.inner = inner
        self.store = store
        self.catalog = catalog
        self._tokens = tokens
        self._weight = weight
        self._threshold = threshold
        self._max_chars = max_question_chars
        self._lock = threading.Lock()
        self._matcher: CuratedMatcher | None = None
        self._revision = -1

    def __getattr__(self, name: str):  # everything else (retriever, calls, backend …) is the inner assistant's
        return getattr(self.inner, name)

    # ---- matching ------------------------------------------------------------------------------
    def matcher(self) -> CuratedMatcher:
        """Re-indexed whenever the store changed (publish/unpublish/edit), also by another process."""
        revision = self.store.revision()
        with self._lock:
            if self._matcher is None or revision != self._revision:
                kw = {} if self._threshold is None else {"threshold": self._threshold}
                self._matcher = CuratedMatcher(self.store.published(), self._tokens, self._weight, **kw)
                self._revision = revision
            return self._matcher

    def match(self, question: str) -> tuple[Match, str, tuple[Citation, ...]] | None:
        question = (question or "").strip()
        if not question or len(question) > self._max_chars:
            return None  # the inner assistant says what is wrong with it
        try:
            found = self.matcher().best(question)
            if found is None:
                return None
            text, citations = checked_prefix(found.qa, self.catalog)
        except CuratedError as e:  # e.g. an article removed by a later corpus change: skip, staff see it in the log
            log.warning("curated Q&A #%s no longer passes its checks (%s); not shown", found.qa.id, e)
            return None
        except Exception:  # the store or matcher failing must not cost the user the regular answer
            log.exception("curated Q&A matching failed")
            return None
        return found, text, citations

    # ---- the assistant interface -----------------------------------------------------------------
    def stream(self, question: str, persona: str = "enterprise", history: Sequence[Turn] = ()) -> Iterator[Event]:
        resolve = getattr(self.inner, "resolve_offline", None)
        as_read = resolve(question, history) if history and resolve is not None and (question or "").strip() else question
        found = self.match(as_read)
        if found is None:
            yield from self.inner.stream(question, persona, history)
            return
        match, text, curated = found
        log.info("curated Q&A #%d matched (%.2f)", match.qa.id, match.score)
        k = len(curated)
        head = f"{text}\n\n{SEPARATOR}\n"
        yield SourcesEvent(curated)
        yield TextEvent(head)
        shift = _Renumberer(k)
        for event in self.inner.stream(question, persona, history):
            if isinstance(event, SourcesEvent):
                yield SourcesEvent(curated + tuple(replace(c, n=c.n + k) for c in event.citations))
            elif isinstance(event, TextEvent):
                piece = shift.feed(event.text)
                if piece:
                    yield TextEvent(piece)
            elif isinstance(event, FinalEvent):
                rest = shift.flush()
                if rest:
                    yield TextEvent(rest)
                yield FinalEvent(combine(head, curated, event.answer))
            else:
                yield event

    def ask(self, question: str, persona: str = "enterprise", history: Sequence[Turn] = ()) -> Answer:
        final = None
        for event in self.stream(question, persona, history):
            if isinstance(event, FinalEvent):
                final = event.answer
        assert final is not None  # every stream ends with a FinalEvent
        return final


def combine(head: str, curated: tuple[Citation, ...], answer: Answer) -> Answer:
    """The curated part first (sources 1..k), then the regular answer renumbered after it."""
    k = len(curated)
    citations = curated + tuple(replace(c, n=c.n + k) for c in answer.citations)
    return replace(answer, answer=head + renumber(answer.answer, k), citations=citations)
