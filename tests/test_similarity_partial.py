"""The refusal check's similarity is only given when every hit has its vectors (dense index still filling)."""

from __future__ import annotations

from conftest import write_config
from pufa.embedders import HashEmbedder
from pufa.indexer import build_index, open_index
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
