"""Evaluation of whole answers (the `--answers` stage of `python -m pufa eval`).

Per question set: the share of answers that contain every `must_mention` fact; citation precision
(share of citations that are labelled articles, overall and without the procedural-rights
citations an enterprise answer appends); refusal accuracy on unanswerable rows, with adversarial
rows counted right only when the refusal cites a labelled forbidding/penalty article; the false
refusal rate on answerable rows; time to a complete answer. Metric functions are pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .answer import Answer
from .citations import normalise
from .evaluation import Key, Question, label_key
from .metrics import mean, percentile

_PROCEDURE_LAWS = ("行政处罚法", "行政复议法", "行政诉讼法")


@dataclass(frozen=True)
class AnswerRecord:
    question: Question
    answer: Answer
    seconds: float


def mentions_all(answer_text: str, facts: list[str]) -> bool:
    text = normalise(answer_text)
    return all(normalise(f) in text for f in facts)


def citation_keys(answer: Answer) -> list[Key]:
    return [label_key(c.article.law, c.article.num) if not c.article.sub
            else (c.article.law_short, c.article.num, c.article.sub) for c in answer.citations]


def run_answers(ask: Callable[[str, str], Answer], questions: list[Question],
                progress: Callable[[int], None] | None = None) -> list[AnswerRecord]:
    out = []
    for q in questions:
        t0 = time.perf_counter()
        answer = ask(q.question, q.raw.get("persona") or "enterprise")
        out.append(AnswerRecord(q, answer, time.perf_counter() - t0))
        if progress:
            progress(1)
    return out


def answer_metrics(records: list[AnswerRecord]) -> dict:
    answerable = [r for r in records if r.question.raw.get("answerable", True)]
    unanswerable = [r for r in records if not r.question.raw.get("answerable", True)]
    with_facts = [r for r in answerable if r.question.raw.get("must_mention")]
    labelled = [r for r in answerable if r.question.labels]
    cited: list[tuple[bool, bool]] = []  # (labelled, appended procedural-rights citation)
    for r in labelled:
        labelled_laws = {lab[0] for lab in r.question.labels}
        cited += [(k in r.question.labels, k[0] in _PROCEDURE_LAWS and k[0] not in labelled_laws)
                  for k in citation_keys(r.answer)]
    core = [hit for hit, appended in cited if not appended]
    adversarial = [r for r in unanswerable if r.question.raw.get("expect") == "refuse_with_citation"]
    plain = [r for r in unanswerable if r not in adversarial]

    def refused_with_citation(r: AnswerRecord) -> bool:
        return r.answer.refused and any(k in r.question.labels for k in citation_keys(r.answer))

    times = [r.seconds * 1000 for r in records]
    return {
        "n": len(records),
        "must_mention": {"n": len(with_facts),
                         "all": _share(mentions_all(r.answer.answer, r.question.raw["must_mention"]) for r in with_facts)},
        "citation_precision": {"n_citations": len(cited), "labelled": _share(h for h, _ in cited),
                               "labelled_without_procedure": _share(core),
                               "answers_citing_a_labelled_article": _share(
                                   any(k in r.question.labels for k in citation_keys(r.answer)) for r in labelled)},
        "refusal": {"unanswerable_n": len(plain), "refused": _share(r.answer.refused for r in plain),
                    "adversarial_n": len(adversarial),
                    "adversarial_refused_with_citation": _share(refused_with_citation(r) for r in adversarial),
                    "adversarial_refused": _share(r.answer.refused for r in adversarial),
                    "answerable_n": len(answerable), "false_refusal": _share(r.answer.refused for r in answerable)},
        "notices_per_answer": round(mean([len(r.answer.notices) for r in records]), 3) if records else 0.0,
        "latency_ms": {"p50": round(percentile(times, 50), 1), "p95": round(percentile(times, 95), 1)},
    }


def _share(values) -> float | None:
    values = list(values)
    return round(sum(bool(v) for v in values) / len(values), 4) if values else None
