"""Query analysis: what a question names before any similarity search.

- explicit article references ("法典第八十条", "大气法99条", "行政处罚法第三十三条", "第九十九条"),
- law names and aliases mentioned in the question,
- lay → legal expansions from `pufa/expansions.toml` (written by us from the law texts).

Deliberately simple and transparent: every expansion can be traced to the rule that fired.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .numerals import NUMERAL, cn_to_int

_VOCAB_FILE = Path(__file__).with_name("expansions.toml")


@dataclass(frozen=True)
class Rule:
    lay: tuple[str, ...]
    all_of: tuple[str, ...]
    legal: tuple[str, ...]
    domain: str

    def fires(self, text: str) -> str | None:
        for phrase in self.lay:
            if phrase in text:
                return phrase
        if self.all_of and all(p in text for p in self.all_of):
            return "+".join(self.all_of)
        return None


class Vocabulary:
    def __init__(self, rules: list[Rule]):
        self.rules = rules

    @classmethod
    def load(cls, path: Path | None = None) -> Vocabulary:
        path = path or _VOCAB_FILE
        if not path.exists():
            return cls([])
        with path.open("rb") as f:
            data = tomllib.load(f)
        rules = [Rule(tuple(r.get("lay", ())), tuple(r.get("all", ())), tuple(r.get("legal", ())),
                      r.get("domain", "general")) for r in data.get("rule", [])]
        return cls(rules)

    def legal_terms(self) -> set[str]:
        return {t for r in self.rules for t in r.legal}

    def fired(self, text: str) -> list[tuple[str, Rule]]:
        """(trigger, rule) for every rule that fires on `text`."""
        return [(trigger, rule) for rule in self.rules if (trigger := rule.fires(text))]


@dataclass(frozen=True)
class ArticleRef:
    law: str | None  # as written (alias or title), None when the question names no law
    num: int
    sub: int = 0


# What kind of answer the question wants. General legal-question cues, not tied to any question set.
INTENTS = {
    "penalty": re.compile(r"罚|处分|后果|责任|担责|违法吗|犯法|会怎么样|会怎样|查到|查出|追究|拘留|坐牢|判刑|吊销|停产|关闭"),
    "deadline": re.compile(r"多久|多长时间|几天|多少天|多少日|期限|时限|时间限制|什么时候|几个月|多少年|几年|逾期|过期|时效"),
}


def intents_of(text: str) -> frozenset[str]:
    return frozenset(name for name, pattern in INTENTS.items() if pattern.search(text))


@dataclass(frozen=True)
class QueryAnalysis:
    question: str
    laws: tuple[str, ...] = ()  # names found in the question, longest match first
    refs: tuple[ArticleRef, ...] = ()
    expansions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    intents: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()  # the domains of the rules that fired
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def expansion_terms(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, terms in self.expansions:
            for t in terms:
                seen.setdefault(t, None)
        return list(seen)


_REF = re.compile(rf"第?\s*({NUMERAL})\s*条(?:\s*之\s*({NUMERAL}))?")
_DIGIT_REF = re.compile(r"(?<![\d.])(\d{1,4})\s*条")


def find_law_names(question: str, names: list[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, name) of known law names/aliases in the question, longest first."""
    taken: list[tuple[int, int, str]] = []
    for name in names:  # longest first
        if len(name) < 2:
            continue
        start = question.find(name)
        while start != -1:
            end = start + len(name)
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, name))
            start = question.find(name, end)
    return sorted(taken)


def analyse(question: str, law_names: list[str], vocabulary: Vocabulary) -> QueryAnalysis:
    q = re.sub(r"\s+", " ", question.replace("\u200b", "")).strip()
    found = find_law_names(q, law_names)
    refs: list[ArticleRef] = []
    for m in _REF.finditer(q):
        raw = m.group(0)
        if not (raw.startswith("第") or re.match(r"\d", raw)):
            # "三条" alone is too ambiguous ("这三条规定"); require 第 or digits
            continue
        try:
            num = cn_to_int(m.group(1))
            sub = cn_to_int(m.group(2)) if m.group(2) else 0
        except ValueError:
            continue
        if num <= 0 or num > 2000:
            continue
        # the law is the nearest name that ends before the reference (within a few characters)
        law = None
        for s, e, name in found:
            if e <= m.start() and m.start() - e <= 4:
                law = name
        refs.append(ArticleRef(law, num, sub))
    fired = vocabulary.fired(q)
    return QueryAnalysis(question=q, laws=tuple(n for _, _, n in found), refs=tuple(dict.fromkeys(refs)),
                         expansions=tuple((trigger, rule.legal) for trigger, rule in fired), intents=intents_of(q),
                         domains=frozenset(rule.domain for _, rule in fired))
