"""The answer pipeline every front-end uses: question → retrieval → refusal or answer → verification.

`Assistant.stream()` yields SourcesEvent, TextEvent pieces and one FinalEvent; `ask()` returns the
final Answer. The offline default writes an extractive answer; with an LLM backend configured the
LLM writes from the same numbered sources, and any failure falls back to the extractive answer
with a notice. Both are verified (`citations.verify`) before they reach the user. Answers are stated
as of the assistant's clock (today); a repealed article is shown with its counterpart in force.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from .answer import Answer, Citation, Draft, Event, FinalEvent, SourcesEvent, TextEvent, Turn, PERSONAS
from .catalog import Catalog
from .chunks import is_domain_law
from .citations import verify
from .errors import InputError
from .extractive import ExtractiveComposer, Source, basis_heading, load_remedies, md_escape
from .law_info import LawInfo
from .numerals import article_label
from .passages import PENALTY, PROHIBITION, PieceScorer, pieces
from .records import STATUS_CURRENT, STATUS_PENDING, Hit
from .refusal import Refusal, RefusalPolicy
from .retrieval import Retriever
from .settings import Settings

log = logging.getLogger(__name__)

_FOLLOWUP = re.compile(r"^(那|那么|那如果|如果|要是|假如|还有|另外|这种|这个|那个|这样|其中|它|同样|再|又|而且|并且|但是|可是)")
RETRIEVE_K = 8
SOURCES_K = 6
# "第九十九条说的什么" (no law named) is a lookup to ask about; a longer question with a bare number
# ("处罚决定书上写依据第九十九条，合理吗") is searched as usual
WHICH_LAW_MAX_CHARS = 16


class Assistant:
    def __init__(self, retriever: Retriever, catalog: Catalog | None = None, backend=None, *,
                 settings: Settings | None = None, clock: Callable[[], dt.date] | None = None,
                 policy: RefusalPolicy | None = None, prompts=None):
        self.retriever = retriever
        self.catalog = catalog or retriever.catalog
        self.backend = backend
        self.settings = settings or Settings()
        self.clock = clock or dt.date.today
        # statuses are read on the day the answer is dated (a revision published but not yet in force)
        self.catalog.clock = retriever.catalog.clock = self.clock
        self.policy = policy or RefusalPolicy()
        self.composer = ExtractiveComposer(load_remedies(self.catalog))
        self.prompts = prompts
        self._law_info: LawInfo | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Assistant:
        retriever = Retriever.from_settings(settings)
        backend = prompts = None
        if settings.llm_enabled:
            from .llm import make_backend
            from .prompts import load_prompts

            backend = make_backend(settings)
            prompts = load_prompts()
        return cls(retriever, retriever.catalog, backend, settings=settings, prompts=prompts)

    # ---- public interface -------------------------------------------------------------------
    def ask(self, question: str, persona: str = "enterprise", history: Sequence[Turn] = ()) -> Answer:
        final = None
        for event in self.stream(question, persona, history):
            if isinstance(event, FinalEvent):
                final = event.answer
        assert final is not None  # stream() always ends with a FinalEvent
        return final

    def stream(self, question: str, persona: str = "enterprise", history: Sequence[Turn] = ()) -> Iterator[Event]:
        question = self._check(question, persona)
        as_of = self.clock().isoformat()
        resolved = self.resolve(question, history)
        refusal = self.policy.evasion(resolved)
        if refusal is not None:
            yield from self._emit(self._evasion(question, resolved, refusal, persona, as_of))
            return
        refusal = self.policy.out_of_scope(question)
        if refusal is not None:
            yield from self._emit(self._refuse(question, resolved, refusal, persona, as_of))
            return
        analysis = self.retriever.analyse(resolved)
        refusal = self._no_such_article(analysis)
        if refusal is not None:  # answering from other articles would pass them off as the one asked for
            yield from self._emit(self._refuse(question, resolved, refusal, persona, as_of))
            return
        law_notices: list[str] = []
        if analysis.laws and not analysis.refs:  # "环境保护法还有效吗": the catalog knows, retrieval does not
            if self._law_info is None:
                self._law_info = LawInfo(self.catalog)
            draft = self._law_info.answer(resolved, list(analysis.laws), as_of)
            if draft is not None:
                yield from self._emit(self._finish(question, resolved, draft, persona, as_of, "extractive"))
                return
            law_notices = self._law_info.repeal_notices(list(analysis.laws))
        hits = self.retriever.search(resolved, k=RETRIEVE_K)
        terms = self.retriever.query_terms(analysis)
        if resolved != question:  # a follow-up: its own words say what is asked now
            for t in self.retriever.query_terms(self.retriever.analyse(question)):
                terms[t] = terms.get(t, 1.0) * 2.0
        exact = bool(hits) and "exact" in hits[0].legs
        if not exact and self.policy.too_weak(resolved, list(terms), hits, self.retriever):
            yield from self._emit(self._refuse(question, resolved, self.policy.weak, persona, as_of))
            return
        sources = self._sources(hits)
        scorer = PieceScorer(terms, analysis.intents)
        draft = self.composer.compose(sources, scorer, persona, as_of, lookup=exact)
        if law_notices:
            draft = replace(draft, notices=tuple(law_notices) + draft.notices)
        if self.backend is not None:
            yield from self._llm(question, resolved, sources, draft, persona, as_of, history)
            return
        yield from self._emit(self._finish(question, resolved, draft, persona, as_of, "extractive"))

    # ---- steps --------------------------------------------------------------------------------
    def _check(self, question: str, persona: str) -> str:
        if persona not in PERSONAS:
            raise InputError(f"未知的用户类型 {persona!r}，可选：{'、'.join(PERSONAS)}。")
        question = (question or "").strip()
        if not question:
            raise InputError("问题是空的，请输入想咨询的问题。")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise InputError(f"问题太长（{len(question)} 字），请控制在 {limit} 字以内。")
        return question

    def resolve(self, question: str, history: Sequence[Turn]) -> str:
        """A follow-up ("那罚款是多少？") is read together with the question it follows."""
        if not history:
            return question
        if self.backend is not None and self.prompts is not None:
            condensed = self._condense(question, history)
            if condensed:
                return condensed
        return self.resolve_offline(question, history)

    def resolve_offline(self, question: str, history: Sequence[Turn]) -> str:
        """resolve() without the LLM: a follow-up is joined to the question(s) it follows."""
        if not history:
            return question
        analysis = self.retriever.analyse(question)
        if analysis.refs and not analysis.laws:
            # "那第一百条呢" after "大气法第九十九条说的什么": the article of the law just talked about
            for turn in reversed(history):
                laws = self.retriever.analyse(turn.question).laws
                if laws:
                    return f"{laws[-1]}{question}"
            return question
        if analysis.laws or analysis.refs:
            return question
        followup = bool(_FOLLOWUP.match(question)) or (len(question) < 14 and not analysis.expansions)
        if not followup:
            return question
        previous = [t.question for t in history if t.question.strip()][-2:]
        if len(previous) == 2 and not (_FOLLOWUP.match(previous[1]) or len(previous[1]) < 14):
            previous = previous[1:]
        return " ".join(previous + [question])

    def _condense(self, question: str, history: Sequence[Turn]) -> str:
        from .errors import LLMError
        from .llm_answer import unfenced
        from .prompts import format_history

        try:
            reply = self.backend.complete(self.prompts.render("condense", history=unfenced(format_history(history)),
                                                              question=unfenced(question)))
        except LLMError as e:
            log.warning("follow-up condensation failed (%s); using the conversation as it is", e)
            return ""
        lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
        text = lines[0] if lines else ""
        return text if 0 < len(text) <= self.settings.max_question_chars else ""

    def _sources(self, hits: list[Hit]) -> list[Source]:
        """The top hits, each repealed one followed by its counterpart(s) in force."""
        out: list[Source] = []
        seen: set[tuple] = set()
        for rank, hit in enumerate(hits[:SOURCES_K]):
            a = hit.article
            if a.key in seen:
                continue
            seen.add(a.key)
            out.append(Source(a, rank, exact="exact" in hit.legs or "counterpart" in hit.legs,
                              replaces=hit.note if "counterpart" in hit.legs else ""))
            if a.status != STATUS_CURRENT and rank < 3:
                for cp in self.retriever.counterparts(a):
                    if cp.article.key not in seen:
                        seen.add(cp.article.key)
                        out.append(Source(cp.article, rank, exact=True, replaces=a.citation(),
                                          confidence=_confidence(cp)))
        return out

    def _finish(self, question: str, resolved: str, draft: Draft, persona: str, as_of: str, mode: str,
                refusal: Refusal | None = None, notices: Sequence[str] = ()) -> Answer:
        checked = verify(draft.text, draft.sources, self.catalog)
        all_notices = list(notices) + list(draft.notices) + list(checked.notices)
        if any(c.article.status not in (STATUS_CURRENT, STATUS_PENDING) for c in checked.citations):
            all_notices.append("引用中包含已废止的条文，仅供对照；请以现行有效的对应条文为准。")
        for law, effective in dict.fromkeys((c.article.law_short, c.article.effective) for c in checked.citations
                                            if c.article.status == STATUS_PENDING):
            all_notices.append(f"《{law}》尚未施行（自 {effective} 起施行），施行前不适用。")
        for c in checked.citations:
            for act in self.retriever.pending_amendments.get(c.article.key, ()):
                promulgated = self.catalog.law(act.law_id).promulgated
                all_notices.append(
                    f"《{c.article.law_short}》{c.article.article_no}已被《{act.law_short}》{article_label(act.num, act.sub)}"
                    f"修改（{promulgated} 公布），法规库中的《{c.article.law_short}》文本尚未包含这一修改，请以修正案的规定为准。")
        return Answer(question=question, answer=checked.text, citations=checked.citations, as_of=as_of, mode=mode,
                      refused=refusal is not None, refusal_reason=refusal.reason if refusal else None,
                      notices=tuple(dict.fromkeys(all_notices)), persona=persona, resolved_question=resolved)

    def _emit(self, answer: Answer) -> Iterator[Event]:
        yield SourcesEvent(answer.citations)
        for line in answer.answer.split("\n"):
            yield TextEvent(line + "\n")
        yield FinalEvent(answer)

    # ---- refusals -----------------------------------------------------------------------------
    def _which_law(self, analysis) -> Refusal:
        """"第九十九条说的什么" names no law: ask which, suggesting the bureau's laws that have that article."""
        ref = analysis.refs[0]
        label = article_label(ref.num, ref.sub)
        suggestions = []
        for law in self.catalog.laws():
            if law.kind == "statute" and law.status == STATUS_CURRENT and is_domain_law(law.title):
                first, last = self.catalog.number_range(law.law_id)
                if first <= ref.num <= last:
                    suggestions.append(law.short)
        suggestions.sort(key=lambda s: (s != "生态环境法典", len(s), s))
        examples = "、".join(f"“{s}{label}”" for s in suggestions[:4])
        message = f"没有说明是哪部法律的{label}，请在问题里写上法律名称" + (f"，例如：{examples}" if examples else "") + "。"
        return Refusal("which_law", message)

    def _no_such_article(self, analysis) -> Refusal | None:
        """When every article the question cites is absent from its law: say so, and why if we know."""
        refs = self.retriever.resolve_refs(analysis)
        if analysis.refs and not analysis.laws and len(analysis.question) <= WHICH_LAW_MAX_CHARS:
            return self._which_law(analysis)
        if not refs or any(article is not None for _, _, article in refs):
            return None
        lines = []
        for ref, law, _ in refs:
            label = article_label(ref.num, ref.sub)
            first, last = self.catalog.number_range(law.law_id)
            if first < ref.num < last and not ref.sub:
                lines.append(f"法规库中的《{law.short}》缺少{label}：数据源在{article_label(ref.num - 1)}之后"
                             f"缺了这一条（条文编号从{article_label(first)}到{article_label(last)}），暂时无法引用它的原文。")
            else:
                lines.append(f"《{law.short}》没有{label}：法规库中该法的条文是{article_label(first)}至{article_label(last)}。")
        lines.append("请核对法律名称和条号，或者直接描述想了解的问题。")
        return Refusal("no_such_article", "\n".join(dict.fromkeys(lines)))

    def _refuse(self, question: str, resolved: str, refusal: Refusal, persona: str, as_of: str) -> Answer:
        text = f"{refusal.message}\n\n{self.policy.where_to_ask}"
        return self._finish(question, resolved, Draft(text, ()), persona, as_of, "extractive", refusal)

    def _evasion(self, question: str, resolved: str, refusal: Refusal, persona: str, as_of: str) -> Answer:
        """Refuse, and cite the provision that forbids the act and the one that punishes it."""
        analysis = self.retriever.analyse(resolved)
        hits = self.retriever.search(resolved, k=RETRIEVE_K)
        hits += self.retriever.search(f"{resolved} {refusal.legal_terms}", k=RETRIEVE_K, asked=resolved)
        # what the question names decides which provision is quoted; the legal words only widen the search
        terms = {t: 0.3 for t in self.retriever.lexical.tokenizer.tokens(refusal.legal_terms)}
        terms.update(self.retriever.query_terms(analysis))
        scorer = PieceScorer(terms, analysis.intents | {"penalty"})
        citations: list[Citation] = []
        lines = [refusal.message]
        for kind in (PROHIBITION, PENALTY):
            best = None
            for hit in hits:
                if hit.article.status != STATUS_CURRENT or any(c.article.key == hit.article.key for c in citations):
                    continue
                for piece in pieces(hit.article.text, scorer):
                    if kind.search(piece.text) and piece.score > 0 and (best is None or piece.score > best[0]):
                        best = (piece.score, hit.article, piece)
            if best is not None:
                n = len(citations) + 1
                citations.append(Citation(n, best[1], (best[2].text,)))
                lines.append(f"{md_escape(best[2].text)}[{n}]")
                # the penalty quoted next is the one for the act just quoted
                for t in self.retriever.lexical.tokenizer.tokens(best[2].text):
                    terms.setdefault(t, 0.5)
                scorer = PieceScorer(terms, scorer.intents)
        lines += ["", refusal.closing, self.policy.where_to_ask]
        if citations:
            lines += ["", "**法律依据**"]
            lines += [basis_heading(c.n, c.article) for c in citations]
        draft = Draft("\n".join(lines), tuple(citations))
        return self._finish(question, resolved, draft, persona, as_of, "extractive", refusal)

    # ---- LLM mode -----------------------------------------------------------------------------
    def _llm(self, question, resolved, sources, draft, persona, as_of, history) -> Iterator[Event]:
        from .llm_answer import llm_answer

        yield from llm_answer(self, question, resolved, sources, draft, persona, as_of, history)


def _confidence(hit: Hit) -> float | None:
    return round(min(1.0, max(0.0, hit.score)), 2) if hit.score else None
