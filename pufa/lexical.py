"""The lexical index: jieba tokens and BM25 (bm25s), persisted beside the catalog.

The tokenizer is our own jieba instance (no global state) with a user dictionary of legal terms
(law short names and the expansion vocabulary's legal terms), so "排污许可证" or "危险废物" stay
whole. Indexing uses `cut_for_search`, which also emits the sub-words of long terms, so a query
word matches inside a compound. Query terms can carry weights (expansions weigh less).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_STOP = set(
    "的 了 是 在 和 与 对 于 由 从 被 把 及 或 并 等 之 其 者 也 而 以 为 将 这 那 个 吗 呢 吧 啊 么 要 会 能 有 没 "
    "我 你 他 她 它 我们 你们 他们 请问 请 问 一下 怎么 怎么办 怎样 如何 什么 哪些 哪个 多少 是否 可以 能否 应该 "
    "需要 还 就 都 又 但 但是 如果 因为 所以 然后 这个 那个 一个 情况 问题 规定 有关 相关 依照 按照 本法 "
    "现在 已经 自己 别人 人家 时候".split())
_PUNCT = re.compile(r"^[\W_]+$")


class Tokenizer:
    def __init__(self, user_words: Iterable[str] = ()):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        words = sorted({w for w in user_words if 2 <= len(w) <= 16 and not re.search(r"\s", w)})
        for w in words:
            self._jieba.add_word(w, freq=2000)
        self.user_words = words

    def tokens(self, text: str) -> list[str]:
        return [t for t in self._jieba.cut_for_search(text) if t.strip() and t not in _STOP and not _PUNCT.match(t)]

    def words(self, text: str) -> list[str]:
        """Precise-mode words (no sub-word duplication), for query analysis and explanations."""
        return [t for t in self._jieba.lcut(text) if t.strip() and not _PUNCT.match(t)]


class LexicalIndex:
    def __init__(self, retriever, ids: list[str], tokenizer: Tokenizer):
        self._bm25 = retriever
        self.ids = ids
        self.tokenizer = tokenizer
        self._vocab: dict[str, int] = retriever.vocab_dict
        self._idf: dict[str, float] = {}

    @classmethod
    def build(cls, ids: list[str], texts: list[str], tokenizer: Tokenizer, k1: float = 1.2,
              b: float = 0.75) -> LexicalIndex:
        import bm25s

        corpus_tokens = [tokenizer.tokens(t) or ["∅"] for t in texts]
        retriever = bm25s.BM25(k1=k1, b=b)
        retriever.index(corpus_tokens, show_progress=False)
        return cls(retriever, list(ids), tokenizer)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(directory))
        (directory / "pufa_ids.json").write_text(json.dumps(self.ids), encoding="utf-8")
        (directory / "pufa_user_words.json").write_text(json.dumps(self.tokenizer.user_words, ensure_ascii=False),
                                                         encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25.load(str(directory))
        ids = json.loads((directory / "pufa_ids.json").read_text(encoding="utf-8"))
        words = json.loads((directory / "pufa_user_words.json").read_text(encoding="utf-8"))
        return cls(retriever, ids, Tokenizer(words))

    def scores(self, weighted_terms: dict[str, float]) -> np.ndarray:
        """BM25 score of every chunk for a bag of weighted terms (unknown terms contribute nothing)."""
        total = np.zeros(len(self.ids), dtype=np.float32)
        for term, weight in weighted_terms.items():
            tid = self._vocab.get(term)
            if tid is None or weight == 0:
                continue
            total += weight * self._bm25.get_scores_from_ids([tid])
        return total

    def top(self, weighted_terms: dict[str, float], k: int = 100) -> list[tuple[str, float]]:
        s = self.scores(weighted_terms)
        if not s.any():
            return []
        k = min(k, len(s))
        idx = np.argpartition(-s, k - 1)[:k]
        idx = idx[np.argsort(-s[idx])]
        return [(self.ids[i], float(s[i])) for i in idx if s[i] > 0]

    def has_term(self, term: str) -> bool:
        return term in self._vocab

    def idf(self, term: str) -> float:
        """Inverse document frequency over chunks; a term the corpus never uses gets the highest value."""
        cached = self._idf.get(term)
        if cached is None:
            tid = self._vocab.get(term)
            df = 0 if tid is None else int(np.count_nonzero(self._bm25.get_scores_from_ids([tid])))
            n = len(self.ids)
            cached = self._idf[term] = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return cached
