"""Optional cross-encoder reranking of the retrieved articles (sentence-transformers CrossEncoder).

Off by default: no reranker weights can be downloaded on these machines. Configure a local model
folder (or a hub name where a hub is reachable), e.g. `PUFA_RERANKER=/models/bge-reranker-v2-m3`.
Only the fused candidates are reranked; articles the question cites explicitly stay on top.
"""

from __future__ import annotations

from dataclasses import replace

from .errors import ConfigError
from .records import Hit


class CrossEncoderReranker:
    def __init__(self, model: str, depth: int = 20, max_chars: int = 400):
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as e:
            raise ConfigError("Reranking needs sentence-transformers: pip install -r requirements.txt") from e
        try:
            self._model = CrossEncoder(model, device="cpu")
        except Exception as e:  # the library raises many types for a missing or broken model
            raise ConfigError(
                f"Cannot load the reranker {model!r}: {e}. Give a local CrossEncoder folder or unset PUFA_RERANKER.") from e
        self.depth = depth
        self._max_chars = max_chars

    def passage(self, hit: Hit) -> str:
        return f"{hit.article.citation()} {hit.article.text[: self._max_chars]}"

    def scores(self, question: str, hits: list[Hit]) -> list[float]:
        if not hits:
            return []
        return [float(s) for s in self._model.predict([(question, self.passage(h)) for h in hits],
                                                        show_progress_bar=False)]

    def __call__(self, question: str, hits: list[Hit]) -> list[Hit]:
        pinned = [h for h in hits if "exact" in h.legs or "counterpart" in h.legs]
        rest = [h for h in hits if h not in pinned]
        scored = sorted(zip(self.scores(question, rest), range(len(rest)), rest), key=lambda x: (-x[0], x[1]))
        reranked = [replace(h, score=s, legs={**h.legs, "rerank": i})
                    for i, (s, _, h) in enumerate(scored, 1)]
        return pinned + reranked
