"""While the dense index is still filling (about an hour after a fresh install), nothing partial is used:
the refusal check's similarity waits for the vectors of every hit, and ranking stays lexical until
every chunk has its vector."""

from __future__ import annotations

from conftest import write_config
from pufa import retrieval
from pufa.embedders import HashEmbedder
from pufa.indexer import build_index, chunks_to_embed, open_index
from pufa.retrieval import Retriever
from pufa.settings import Settings


def test_similarity_waits_for_the_vectors_of_every_hit(tmp_path, mini_db):
    emb = HashEmbedder()
    settings = Settings(index_dir=tmp_path / "index", corpus_config=write_config(tmp_path, mini_db), embedder="hash")
    build_index(settings, emb.name, emb.dim)
    index = open_index(settings, embedder=emb)
    retriever = Retriever(index.catalog, index.lexical, index.dense)
    question = "工地晚上施工噪声扰民怎么处罚"
    hits = retriever.search(question, k=3)
    assert retriever.similarity(question, hits) is None  # nothing embedded yet
    first = [c for c in index.catalog.iter_chunks()
             if (c.law_id, c.num, c.sub) == hits[0].article.key]
    index.dense.fill(first, batch=8)
    assert retriever.similarity(question, hits) is None  # one hit embedded, two not: no partial maximum
    assert retriever.similarity(question, hits[:1]) is not None
    rest = [c for c in index.catalog.iter_chunks()
            if (c.law_id, c.num, c.sub) in {h.article.key for h in hits[1:]}]
    index.dense.fill(rest, batch=8)
    assert retriever.similarity(question, hits) is not None


def test_ranking_stays_lexical_until_every_chunk_has_its_vector(tmp_path, mini_db, monkeypatch):
    monkeypatch.setattr(retrieval, "DENSE_RECHECK_SECONDS", 0.0)
    emb = HashEmbedder()
    settings = Settings(index_dir=tmp_path / "index", corpus_config=write_config(tmp_path, mini_db), embedder="hash")
    build_index(settings, emb.name, emb.dim)
    index = open_index(settings, embedder=emb)
    retriever = Retriever(index.catalog, index.lexical, index.dense)
    question = "工地晚上施工噪声扰民怎么处罚"
    lexical = [h.article.key for h in retriever.with_params(legs=("exact", "lexical")).search(question, k=5)]
    # The filler embeds some other articles first (on a real install: environmental laws, repealed ones
    # included); scored against them, the lexical hits would count as dissimilar and sink.
    todo = chunks_to_embed(index.catalog, index.dense)
    index.dense.fill([c for c in todo if (c.law_id, c.num, c.sub) not in lexical][: len(todo) // 2], batch=16)
    assert not retriever.dense_ready()
    partial = retriever.search(question, k=5)
    assert [h.article.key for h in partial] == lexical
    assert not any("dense" in h.legs for h in partial)

    index.dense.fill(chunks_to_embed(index.catalog, index.dense), batch=16)
    assert retriever.dense_ready()
    assert any("dense" in h.legs for h in retriever.search(question, k=5))
