"""While the dense index is still filling (about an hour after a fresh install): the refusal check's
similarity waits for the vectors of every hit, and articles without vectors yet keep their lexical rank."""

from __future__ import annotations

from conftest import write_config
from pufa.embedders import HashEmbedder
from pufa.indexer import build_index, chunks_to_embed, open_index
from pufa.retrieval import Retriever
from pufa.settings import Settings


QUESTION = "工地晚上施工噪声扰民怎么处罚"


def _unembedded_index(tmp_path, mini_db):
    """A built index whose dense store has no vector yet, and a retriever over it."""
    emb = HashEmbedder()
    settings = Settings(index_dir=tmp_path / "index", corpus_config=write_config(tmp_path, mini_db), embedder="hash")
    build_index(settings, emb.name, emb.dim)
    index = open_index(settings, embedder=emb)
    return index, Retriever(index.catalog, index.lexical, index.dense)


def test_similarity_waits_for_the_vectors_of_every_hit(tmp_path, mini_db):
    index, retriever = _unembedded_index(tmp_path, mini_db)
    hits = retriever.search(QUESTION, k=3)
    assert retriever.similarity(QUESTION, hits) is None  # nothing embedded yet
    first = [c for c in index.catalog.iter_chunks()
             if (c.law_id, c.num, c.sub) == hits[0].article.key]
    index.dense.fill(first, batch=8)
    assert retriever.similarity(QUESTION, hits) is None  # one hit embedded, two not: no partial maximum
    assert retriever.similarity(QUESTION, hits[:1]) is not None
    rest = [c for c in index.catalog.iter_chunks()
            if (c.law_id, c.num, c.sub) in {h.article.key for h in hits[1:]}]
    index.dense.fill(rest, batch=8)
    assert retriever.similarity(QUESTION, hits) is not None


def test_articles_without_vectors_yet_are_not_buried_under_the_embedded_ones(tmp_path, mini_db):
    index, retriever = _unembedded_index(tmp_path, mini_db)
    lexical = [h.article.key for h in retriever.with_params(legs=("exact", "lexical")).search(QUESTION, k=5)]
    # The filler embeds other articles first (on a real install: environmental laws, repealed ones
    # included). Scored as dissimilar, the lexical hits sank below them (the top hit fell out of the top 5).
    todo = chunks_to_embed(index.catalog, index.dense)
    index.dense.fill([c for c in todo if (c.law_id, c.num, c.sub) not in lexical][: len(todo) // 2], batch=16)
    partial = [h.article.key for h in retriever.search(QUESTION, k=5)]
    # the lexical top 3 stay the top 3; their order may change, since the hybrid puts the legs on a common
    # scale (z-scores) and lexical alone does not
    assert set(partial[:3]) == set(lexical[:3])

    index.dense.fill(chunks_to_embed(index.catalog, index.dense), batch=16)
    assert any("dense" in h.legs for h in retriever.search(QUESTION, k=5))
