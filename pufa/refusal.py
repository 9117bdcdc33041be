"""When not to answer from the law: requests for help breaking it, questions outside the corpus,
and questions whose retrieved support is too weak.

The request patterns live in `refusal.toml` (data written by us, general cues for a kind of
request). Weak support is measured, not guessed: `support()` is the share of the question's
informative terms (weighted by inverse document frequency in the corpus) that the best retrieved
articles contain; the threshold is calibrated on the dev sets (see `python -m pufa eval --answers`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .lexical import LexicalIndex
from .records import Hit

_RULES_FILE = Path(__file__).with_name("refusal.toml")
# words every question has; they say nothing about whether the corpus can answer it
_FILLER = re.compile(r"^(怎么|怎样|如何|什么|哪些|哪个|多少|可以|能不能|是不是|有没有|需要|应该|我们|你们|他们|这个|那个|"
                     r"请问|一下|现在|如果|还是|没有|已经|问题|情况|时候|要求|规定|法律|有关|相关|怎么办|是否)$")


@dataclass(frozen=True)
class Refusal:
    reason: str  # evasion | contact | specific_record | medical | investment | forecast | weak_support | no_such_article | which_law
    message: str
    closing: str = ""
    legal_terms: str = ""  # added to the search for the provisions to cite


class RefusalPolicy:
    def __init__(self, path: Path = _RULES_FILE):
        with path.open("rb") as f:
            data = tomllib.load(f)
        ev = data["evasion"]
        self._evasion = (re.compile(ev["pattern"]), re.compile(ev["unless"]),
                         Refusal(ev["reason"], ev["message"], ev["closing"], ev["legal_terms"]))
        self._scope = [(re.compile(r["pattern"]), Refusal(r["reason"], r["message"])) for r in data["out_of_scope"]]
        ws = data["weak_support"]
        self.weak = Refusal(ws["reason"], ws["message"])
        self._dense_embedders = tuple(ws["dense_embedders"])
        self.dense_threshold = float(ws["dense_threshold"])
        self.lexical_weight = float(ws["lexical_weight"])
        self.lexical_threshold = float(ws["lexical_threshold"])
        self.where_to_ask = data["where_to_ask"]["text"]

    def evasion(self, question: str) -> Refusal | None:
        pattern, unless, refusal = self._evasion
        return refusal if pattern.search(question) and not unless.search(question) else None

    def out_of_scope(self, question: str) -> Refusal | None:
        for pattern, refusal in self._scope:
            if pattern.search(question):
                return refusal
        return None


    def too_weak(self, question: str, terms: list[str], hits: list[Hit], retriever) -> bool:
        """True when the best retrieved articles do not support an answer (see refusal.toml)."""
        coverage = support(terms, hits, retriever.lexical)
        dense = retriever.dense
        calibrated = dense is not None and dense.embedder.name.startswith(self._dense_embedders)
        similarity = retriever.similarity(question, hits[:3]) if calibrated else None
        if similarity is None:
            return coverage < self.lexical_threshold
        return similarity + self.lexical_weight * coverage < self.dense_threshold


def support(terms: list[str], hits: list[Hit], lexical: LexicalIndex, top: int = 3) -> float:
    """Share of the question's informative terms (idf-weighted) found in one of the top articles."""
    informative = [t for t in dict.fromkeys(terms) if len(t) >= 2 and not _FILLER.match(t)]
    if not informative:
        return 1.0 if hits and any("exact" in h.legs for h in hits[:1]) else 0.0
    weights = {t: lexical.idf(t) for t in informative}
    total = sum(weights.values()) or 1.0
    best = 0.0
    for hit in hits[:top]:
        text = hit.article.text.replace(" ", "") + hit.article.law_short
        covered = sum(w for t, w in weights.items() if t in text)
        best = max(best, covered / total)
    return best
