"""Quotable pieces of an article, and how well each answers a question.

An article is cut into pieces a reader can quote without distortion: sentences of each 款; a long
sentence made of "；"-clauses becomes its lead clause plus the one clause that matters; a lead-in
ending in "：" is kept together with the 项 that match. Pieces are verbatim text (joined by "……"
where something was left out), so amounts, deadlines and authorities are never paraphrased.
Scoring is by the question's weighted terms plus intent cues; it deliberately knows nothing about
particular laws.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[。！？])")
_CLAUSE_END = re.compile(r"(?<=；)")
ITEM = re.compile(r"^[（(][一二三四五六七八九十]+[)）]")  # a 项 line: （一）… / (二)…
LONG_SENTENCE = 120  # characters: beyond this a "；"-sentence is quoted clause by clause
GAP = "……"
_PARA_END = ("。", "；", "：", ":", ";", "！", "？", "）", ")")

PENALTY = re.compile(r"罚款|拘留|吊销|没收|责令停业|责令关闭|停产整治|按日连续处罚|追究刑事责任|处分")
DEADLINE = re.compile(r"[〇零一二两三四五六七八九十百\d]+(?:个工作日|日|天|个月|年|小时)(?:内|以内|之内|前|后)?")
OBLIGATION = re.compile(r"应当|必须|不得|禁止|严禁")
PROHIBITION = re.compile(r"不得|禁止|严禁")


@dataclass(frozen=True)
class Piece:
    """A verbatim (or "……"-joined verbatim) excerpt of one paragraph (款) of an article."""

    text: str
    paragraph: int  # 0-based index of the 款 it comes from
    score: float = 0.0


def paragraphs(text: str) -> list[str]:
    """The 款 (and 项 lines) of an article; a line broken inside a sentence (a database quirk) is rejoined."""
    out: list[str] = []
    for line in (p.strip() for p in text.split("\n")):
        if not line:
            continue
        if out and not out[-1].endswith(_PARA_END) and not ITEM.match(line):
            out[-1] += line
        else:
            out.append(line)
    return out


def _groups(paras: list[str]) -> list[tuple[int, str, list[str]]]:
    """(index of the lead paragraph, lead, items): a lead ending in "：" owns the 项 lines after it."""
    out: list[tuple[int, str, list[str]]] = []
    i = 0
    while i < len(paras):
        lead, items = paras[i], []
        j = i + 1
        if lead.endswith(("：", ":")):
            while j < len(paras) and ITEM.match(paras[j]):
                items.append(paras[j])
                j += 1
        out.append((i, lead, items))
        i = j
    return out


class PieceScorer:
    """Scores text by the question's terms (weights from the retriever) and the answer it wants."""

    def __init__(self, terms: dict[str, float], intents: frozenset[str] = frozenset()):
        self.terms = {t: w for t, w in terms.items() if len(t) >= 2 or not re.match(r"[\u4e00-\u9fff]", t)}
        self.intents = intents

    def __call__(self, text: str) -> float:
        score = sum(w for t, w in self.terms.items() if t in text)
        if "penalty" in self.intents and PENALTY.search(text):
            score += 1.5
        if "deadline" in self.intents and DEADLINE.search(text):
            score += 1.5
        return score


def pieces(text: str, score: PieceScorer) -> list[Piece]:
    """Every quotable piece of an article, best first."""
    paras = paragraphs(text)
    out: list[Piece] = []
    for index, lead, items in _groups(paras):
        if items:
            scored = sorted(((score(it), k) for k, it in enumerate(items)), reverse=True)
            chosen = [k for s, k in scored[:2] if s > 0] or (list(range(len(items))) if len(items) <= 3 else [])
            body = "".join(items[k] for k in sorted(chosen))
            gap = GAP if chosen and len(chosen) < len(items) else ""
            out.append(Piece(lead + gap + body if body else lead, index,
                             score(lead) + (max(score(items[k]) for k in chosen) if chosen else 0.0)))
            continue
        for sentence in (s for s in _SENTENCE_END.split(lead) if s.strip()):
            out.append(_best_of_sentence(sentence.strip(), index, score))
    return sorted(out, key=lambda p: -p.score)


def _best_of_sentence(sentence: str, index: int, score: PieceScorer) -> Piece:
    clauses = [c for c in _CLAUSE_END.split(sentence) if c]
    if len(sentence) <= LONG_SENTENCE or len(clauses) < 2:
        return Piece(sentence, index, score(sentence))
    scores = [score(c) for c in clauses]
    # the lead clause carries the subject (who, which violation); add the one later clause that matters
    rest = max(range(1, len(clauses)), key=lambda k: (scores[k], -k))
    if scores[rest] <= 0:
        text, value = clauses[0], scores[0]
    else:
        text = clauses[0] + ("" if rest == 1 else GAP) + clauses[rest]
        value = scores[0] * 0.5 + scores[rest]
    return Piece(_close(text), index, value)


def _close(text: str) -> str:
    """End a clause cut out of a sentence like a sentence (its "；" becomes "。")."""
    return text[:-1] + "。" if text.endswith("；") else text
