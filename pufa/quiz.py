"""Quiz questions with an answer key, generated from the articles a handout cites.

Question kinds: 单选 (the penalty range, the authority, which violation an article lists), 判断 (a
prohibition as the article states it, or with 禁止/不得 turned into 允许/可以, or with another penalty
range), 填空 (a deadline or range blanked out of the verbatim sentence). The answer is always the
article's own words; a distractor is a real phrase of the same kind taken from *other* articles of the
same laws (so it is plausible) and is checked not to occur in the cited article's text (so it is
unambiguously wrong per that article). Option order is shuffled with a seed, so a handout is reproducible.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from .catalog import Catalog
from .citations import normalise
from .liability import AMOUNT_RANGE, LiabilityUnit, _AUTHORITY, is_liability, units_of
from .numerals import cn_to_int
from .passages import GAP
from .records import Article

BLANK = "（　　）"
LETTERS = "ABCD"
_DEADLINE = re.compile(r"[零一二两三四五六七八九十百\d]+(?:个工作日|日|个月|年)(?:内|以内)")
_NEGATE = {"禁止": "允许", "不得": "可以", "严禁": "允许"}


@dataclass(frozen=True)
class Question:
    kind: str  # single | judge | fill
    stem: str
    options: tuple[str, ...]
    answer: str  # the letter, 正确/错误, or the words that fill the blank
    fact: str  # the article's words the answer rests on (verbatim)
    article: Article
    basis: str  # 《法名》第N条[第M款第（K）项]
    distractors: tuple[str, ...] = ()  # wrong options, or the altered statement: none occurs in the article

    @property
    def kind_label(self) -> str:
        return {"single": "单选题", "judge": "判断题", "fill": "填空题"}[self.kind]

    def to_json(self) -> dict:
        return {"kind": self.kind, "stem": self.stem, "options": list(self.options), "answer": self.answer,
                "fact": self.fact, "citation": self.basis, "law": self.article.law,
                "article_no": self.article.article_no, "distractors": list(self.distractors)}


class _Pools:
    """Phrases of one kind across the laws the handout uses: where distractors come from."""

    def __init__(self, catalog: Catalog, law_ids: list[str]):
        self.ranges: list[str] = []
        self.deadlines: list[str] = []
        self.authorities: list[str] = []
        self.violations: list[tuple[str, Article]] = []
        for law_id in law_ids:
            for a in catalog.articles_of(law_id):
                text = normalise(a.text)
                self.ranges += [m.group(0) for m in AMOUNT_RANGE.finditer(text)]
                self.deadlines += [m.group(0) for m in _DEADLINE.finditer(text)]
                self.authorities += [m.group(1) for m in _AUTHORITY.finditer(text) if 4 <= len(m.group(1)) <= 14]
                if is_liability(a):
                    self.violations += [(u.violation, a) for u in units_of(a) if 6 <= len(u.violation) <= 60]
        for name in ("ranges", "deadlines", "authorities"):
            setattr(self, name, sorted(set(getattr(self, name)), key=getattr(self, name).index))


_NUMERAL_BEFORE = r"(?<![零〇一二两三四五六七八九十百千万亿\d.])"


def _blank(text: str, answer: str) -> str:
    """Blank out answer where it stands on its own (not the tail of 二十万元… when the answer is 十万元…)."""
    return re.sub(_NUMERAL_BEFORE + re.escape(answer), BLANK, text, count=1)


def _absent(candidates: list[str], article: Article, answer: str) -> list[str]:
    text = normalise(article.text)
    out = []
    for c in candidates:
        if c != answer and normalise(c) not in text and c not in out:
            out.append(c)
    return out


def _magnitude(phrase: str) -> tuple[str, float, float]:
    """(unit kind, log lower, log upper) of a range such as 五万元以上二十万元以下 (for picking close distractors)."""
    kind = "倍" if "倍" in phrase else "日" if phrase.endswith("日以下") else "元"
    values = []
    for part in re.findall(r"([零〇一二两三四五六七八九十百千万亿\d.]+?)(万元|元|倍|日)?(?:以上|以下)", phrase):
        try:
            v = float(part[0]) if re.fullmatch(r"[\d.]+", part[0]) else float(cn_to_int(part[0]))
        except ValueError:
            v = 1.0
        values.append(v * (10000 if part[1] == "万元" else 1))
    lo, hi = (values[0], values[-1]) if len(values) >= 2 else (0.0, values[0] if values else 1.0)
    return kind, math.log(lo + 1), math.log(hi + 1)


def _close_ranges(answer: str, pool: list[str], article: Article, n: int = 3) -> list[str]:
    kind, lo, hi = _magnitude(answer)
    cands = [c for c in _absent(pool, article, answer) if _magnitude(c)[0] == kind]
    cands.sort(key=lambda c: abs(_magnitude(c)[1] - lo) + abs(_magnitude(c)[2] - hi))
    return cands[:n]


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def _first_part(text: str, needle: str) -> str:
    """The "……"-part of a piece that contains needle (each part is verbatim on its own)."""
    return next((p for p in text.split(GAP) if needle in p), text)


def _sentence_with(text: str, needle: str, limit: int = 110) -> str:
    sentence = next((s for s in re.split(r"(?<=[。；])", _first_part(text, needle)) if needle in s), "")
    return sentence.strip() if len(sentence) <= limit else ""


class _Maker:
    def __init__(self, pools: _Pools, rng: random.Random):
        self.pools = pools
        self.rng = rng

    def _single(self, stem: str, answer: str, distractors: list[str], fact: str, article: Article, basis: str):
        if len(distractors) < 3:
            return None
        options = [answer] + distractors[:3]
        self.rng.shuffle(options)
        return Question("single", stem, tuple(options), LETTERS[options.index(answer)], fact, article, basis,
                        tuple(distractors[:3]))

    def range_choice(self, unit: LiabilityUnit) -> Question | None:
        if not unit.ranges:
            return None
        answer = unit.ranges[0]
        clause = _first_part(unit.penalty, answer)
        stem = f"根据{unit.citation}，“{unit.violation}”的，{_blank(clause, answer)}。"
        return self._single(stem, answer, _close_ranges(answer, self.pools.ranges, unit.article), clause,
                            unit.article, unit.citation)

    def authority_choice(self, unit: LiabilityUnit) -> Question | None:
        if not unit.authority:
            return None
        clause = _first_part(unit.penalty, "由" + unit.authority)
        if "由" + unit.authority not in clause:
            return None
        stem = f"根据{unit.citation}，“{unit.violation}”的，{clause.replace(unit.authority, BLANK, 1)}。"
        cands = [c for c in _absent(self.pools.authorities, unit.article, unit.authority)
                 if unit.authority not in c and c not in unit.authority and not c.startswith(("其", "该", "本", "各", "上述", "共同"))]
        cands.sort(key=lambda c: -len(_bigrams(c) & _bigrams(unit.authority)))
        return self._single(stem, unit.authority, cands, clause, unit.article, unit.citation)

    def violation_choice(self, unit: LiabilityUnit) -> Question | None:
        if "项" not in unit.basis:
            return None
        article = unit.article
        mine = _bigrams(unit.violation)
        cands = [v for v, a in self.pools.violations if a.key != article.key]
        cands = _absent(sorted(cands, key=lambda v: -len(_bigrams(v) & mine)), article, unit.violation)
        stem = f"下列哪一项是{article.citation()}列举的违法情形？"
        return self._single(stem, unit.violation, cands, unit.violation, article, unit.citation)

    def prohibition_judge(self, text: str, article: Article, false: bool) -> Question | None:
        sentence = next((s.strip() for s in re.split(r"(?<=[。；])", text.split(GAP)[0])
                         if re.search("|".join(_NEGATE), s)), "")
        markers = re.findall("|".join(_NEGATE), sentence)
        if not sentence or len(markers) != 1 or len(sentence) > 110:
            return None
        statement = sentence.rstrip("；。")
        if false:
            altered = statement.replace(markers[0], _NEGATE[markers[0]], 1)
            if normalise(altered) in normalise(article.text):
                return None
            return Question("judge", f"根据{article.citation()}：{altered}。", (), "错误", statement, article,
                            article.citation(), (altered,))
        return Question("judge", f"根据{article.citation()}：{statement}。", (), "正确", statement, article,
                        article.citation())

    def range_judge(self, unit: LiabilityUnit) -> Question | None:
        if not unit.ranges:
            return None
        answer = unit.ranges[0]
        clause = _first_part(unit.penalty, answer)
        other = _close_ranges(answer, self.pools.ranges, unit.article, n=1)
        if not other:
            return None
        altered = re.sub(_NUMERAL_BEFORE + re.escape(answer), other[0], clause, count=1)
        return Question("judge", f"根据{unit.citation}，“{unit.violation}”的，{altered}。", (), "错误", clause,
                        unit.article, unit.citation, (altered,))

    def deadline_fill(self, text: str, article: Article) -> Question | None:
        m = _DEADLINE.search(text)
        if not m:
            return None
        sentence = _sentence_with(text, m.group(0))
        if not sentence:
            return None
        stem = f"根据{article.citation()}：{_blank(sentence, m.group(0)).rstrip('；。')}。"
        return Question("fill", stem, (), m.group(0), sentence.rstrip("；。"), article, article.citation())

    def range_fill(self, unit: LiabilityUnit) -> Question | None:
        if len(unit.ranges) < 2:
            return None
        answer = unit.ranges[-1]
        clause = _first_part(unit.penalty, answer)
        return Question("fill", f"根据{unit.citation}，“{unit.violation}”的，{_blank(clause, answer)}。", (),
                        answer, clause, unit.article, unit.citation)


def make_quiz(catalog: Catalog, rows, provisions, n: int, seed: str = "") -> list[Question]:
    """Up to n questions, the kinds interleaved, from the handout's liability rows and provisions."""
    law_ids = list(dict.fromkeys([r.unit.article.law_id for r in rows] + [p.article.law_id for p in provisions]))
    maker = _Maker(_Pools(catalog, law_ids), random.Random(seed))
    units = [r.unit for r in rows]
    # the source of a deadline question: the provisions first, then the rest of their articles
    texts = [(p.text, p.article) for p in provisions]
    texts += [(para, p.article) for p in provisions for para in p.article.text.split("\n")]
    judges = [(p.text, p.article) for p in provisions if p.kind == "禁止"]
    streams = [
        (maker.range_choice(u) for u in units),
        (maker.prohibition_judge(t, a, false=i % 2 == 1) for i, (t, a) in enumerate(judges)),
        (maker.deadline_fill(t, a) for t, a in texts),
        (maker.violation_choice(u) for u in units),
        (maker.range_judge(u) for u in units[1::2]),
        (maker.authority_choice(u) for u in units),
        (maker.range_fill(u) for u in units),
    ]
    out: list[Question] = []
    seen: set[str] = set()
    active = list(streams)
    while active and len(out) < n:
        for stream in list(active):
            # one question per answer and article: the items of one list share their penalty clause
            q = next((q for q in stream if q is not None and q.stem not in seen
                      and (q.article.key, q.answer if q.kind != "judge" else q.fact) not in seen), None)
            if q is None:
                active.remove(stream)
                continue
            seen.update((q.stem, (q.article.key, q.answer if q.kind != "judge" else q.fact)))
            out.append(q)
            if len(out) >= n:
                break
    return out
