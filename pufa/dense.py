"""The dense index: chunk vectors in Chroma, keyed by chunk content hash.

Chroma is contained here. The collection is named after the embedder, and its ids are chunk
content hashes, so the store doubles as the embedding cache: a rebuild, or a new index version,
never recomputes an unchanged chunk, and an interrupted fill resumes where it stopped.
The store is embedded (a folder under the index dir) or a Chroma server (`http://host:port`).

Left out on purpose: Chroma's own embedding functions (the default one downloads a model); we
always hand Chroma our vectors.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .embedders import Embedder
from .errors import ConfigError
from .records import Chunk

log = logging.getLogger(__name__)


def collection_name(embedder_name: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9._-]", "-", embedder_name).strip("-._") or "embedder"
    return f"pufa-{slug}"[:120]


class _OurEmbeddingFunction:
    """Chroma EF that wraps our embedder, so Chroma never falls back to its downloading default."""

    def __init__(self, embedder: Embedder | None):
        # None when Chroma rebuilds the function from a stored config: we always pass vectors, so
        # it is never called then, and if it were, it says so instead of downloading a model.
        self._embedder = embedder

    def _require(self) -> Embedder:
        if self._embedder is None:
            raise RuntimeError("Pufa passes its own vectors to Chroma; open the index through pufa.dense")
        return self._embedder

    def __call__(self, input):  # noqa: A002 - Chroma's parameter name
        return [v for v in self._require().embed_passages(list(input))]

    def embed_query(self, input):  # noqa: A002
        return [self._require().embed_query(t) for t in input]

    @staticmethod
    def name() -> str:
        return "pufa"

    def get_config(self) -> dict:
        return {"embedder": self._embedder.name if self._embedder else ""}

    @staticmethod
    def build_from_config(config: dict) -> _OurEmbeddingFunction:
        return _OurEmbeddingFunction(None)

    def is_legacy(self) -> bool:
        return False

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]


def open_client(store: str, path: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if store == "embedded":
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    m = re.fullmatch(r"(https?)://([^:/]+):(\d+)/?", store)
    if not m:
        raise ConfigError(f"PUFA_DENSE_STORE={store!r}: use 'embedded' or 'http://host:port' of a Chroma server")
    try:
        return chromadb.HttpClient(host=m.group(2), port=int(m.group(3)), ssl=m.group(1) == "https",
                                   settings=chroma_settings)
    except ValueError as e:  # chromadb's "Could not connect to a Chroma server"
        raise ConfigError(
            f"Cannot reach the Chroma server at {store} ({e}). Start it with: chroma run --path DIR "
            f"--host {m.group(2)} --port {m.group(3)}, or set PUFA_DENSE_STORE=embedded") from e


class DenseIndex:
    """Vectors for chunks; `missing` + `add` fill it, `query` searches it."""

    def __init__(self, embedder: Embedder, store: str, path: Path):
        self.embedder = embedder
        self._client = open_client(store, path)
        self._collection = self._client.get_or_create_collection(
            collection_name(embedder.name),
            embedding_function=_OurEmbeddingFunction(embedder),
            configuration={"hnsw": {"space": "cosine", "ef_search": 100, "ef_construction": 100}},
            metadata={"embedder": embedder.name, "dim": embedder.dim},
        )
        self._lock = threading.Lock()

    def count(self) -> int:
        return self._collection.count()

    def missing(self, chunk_ids: list[str], batch: int = 5000) -> list[str]:
        """The ids among `chunk_ids` that have no vector yet."""
        have: set[str] = set()
        unique = list(dict.fromkeys(chunk_ids))  # identical texts share one id (and one vector)
        for i in range(0, len(unique), batch):
            got = self._collection.get(ids=unique[i:i + batch], include=[])
            have.update(got["ids"])
        return [c for c in unique if c not in have]

    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        with self._lock:
            self._collection.upsert(
                ids=[c.chunk_id for c in chunks],
                embeddings=[v.astype(np.float32) for v in vectors],
                metadatas=[{"law_id": c.law_id, "num": c.num, "sub": c.sub, "part": c.part} for c in chunks],
            )

    def fill(self, chunks: Iterable[Chunk], batch: int = 16,
             progress: Callable[[int], None] | None = None, stop: threading.Event | None = None,
             window: int = 512) -> int:
        """Embed and store the given chunks (already filtered to missing ones). Returns how many.

        Chunks are read `window` at a time and embedded in batches of similar length, so a batch is
        little padding (measured with the torch twin on random corpus chunks: 10 → 22 passages/s). The
        order of the input holds between windows; `stop` is checked before each batch.
        """
        done = 0
        source = iter(chunks)
        while not (stop is not None and stop.is_set()):
            pending = sorted(itertools.islice(source, window), key=lambda c: len(c.text))
            if not pending:
                break
            for i in range(0, len(pending), batch):
                if stop is not None and stop.is_set():
                    return done
                part = pending[i:i + batch]
                self.add(part, self.embedder.embed_passages([c.text for c in part]))
                done += len(part)
                if progress:
                    progress(len(part))
        return done

    def vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the given chunks (those embedded so far)."""
        if not chunk_ids:
            return {}
        try:
            got = self._collection.get(ids=list(dict.fromkeys(chunk_ids)), include=["embeddings"])
        except Exception as e:  # a store error must degrade to lexical scores, not fail the question
            log.warning("dense store could not return vectors (%s); scoring without them", e)
            return {}
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])}

    def query(self, text: str, k: int = 50) -> list[tuple[str, float]]:
        """(chunk_id, cosine similarity) best first. Empty when nothing is embedded yet."""
        return self.query_vector(self.embedder.embed_query(text), k)

    def query_vector(self, vec: np.ndarray, k: int = 50) -> list[tuple[str, float]]:
        try:
            if self.count() == 0:
                return []
            res = self._collection.query(query_embeddings=[vec.astype(np.float32)], n_results=k,
                                         include=["distances"])
        except Exception as e:  # a Chroma server down or restarting: answer from the lexical leg meanwhile
            log.warning("dense store query failed (%s: %s); answering without it", type(e).__name__, e)
            return []
        ids = res["ids"][0]
        dists = res["distances"][0]
        return [(i, 1.0 - float(d)) for i, d in zip(ids, dists)]
