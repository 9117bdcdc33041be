import json

import numpy as np
import pytest

from pufa.embedders import HashEmbedder
from pufa.errors import CorpusError, IndexMismatchError, IndexMissingError
from pufa.indexer import build_index, chunks_to_embed, current_build, open_index
from pufa.settings import Settings

from conftest import make_mini_db, write_config


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting how many passages it was asked to embed."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def embed_passages(self, texts):
        self.calls += len(texts)
        return super().embed_passages(texts)


def _settings(tmp_path, db, **kw) -> Settings:
    return Settings(index_dir=tmp_path / "index", corpus_config=write_config(tmp_path, db), embedder="hash", **kw)


def test_manifest_describes_the_index(mini_index):
    manifest = json.loads((current_build(mini_index.index_dir) / "manifest.json").read_text())
    assert manifest["embedder"] == HashEmbedder().name
    assert manifest["chunking"] == {"scheme": "article-v1", "max_chars": 600}
    assert manifest["counts"]["laws"] == 6  # five titles, 商标法 in two versions
    assert manifest["counts"]["articles"] > 1242
    assert len(manifest["corpus_fingerprint"]) == 40


def test_rebuild_is_incremental_and_embeds_only_changed_chunks(tmp_path):
    db = make_mini_db(tmp_path / "laws.db", ("中华人民共和国行政复议法", "中华人民共和国行政处罚法"))
    settings = _settings(tmp_path, db)
    emb = CountingEmbedder()
    first = build_index(settings, emb.name, emb.dim)
    index = open_index(settings, embedder=emb)
    index.dense.fill(chunks_to_embed(index.catalog, index.dense))
    embedded_first = emb.calls
    assert embedded_first == index.manifest.counts["chunks"]

    # unchanged corpus: the build is kept and nothing is embedded again
    again = build_index(settings, emb.name, emb.dim)
    assert again.reused and again.build == first.build
    assert chunks_to_embed(index.catalog, index.dense) == []

    # change one article: a new build is swapped in and exactly one chunk needs a vector
    import sqlite3
    conn = sqlite3.connect(db)
    conn.execute("UPDATE articles SET article_text = article_text || '（测试修改）' "
                 "WHERE law_name='中华人民共和国行政复议法' AND article_no_arabic=20")
    conn.commit()
    conn.close()
    changed = build_index(settings, emb.name, emb.dim)
    assert not changed.reused and changed.build != first.build
    reopened = open_index(settings, embedder=emb)
    todo = chunks_to_embed(reopened.catalog, reopened.dense)
    assert len(todo) == 1 and "测试修改" in todo[0].text
    assert "测试修改" in reopened.catalog.article("行政复议法", 20).text


def test_opening_with_another_embedder_is_a_clear_error(mini_index):
    with pytest.raises(IndexMismatchError, match="python -m pufa index"):
        open_index(mini_index, embedder=HashEmbedder(dim=128))


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexMissingError, match="python -m pufa index"):
        open_index(Settings(index_dir=tmp_path / "nothing", embedder="hash"))


def test_failed_build_keeps_the_previous_index(tmp_path, monkeypatch):
    db = make_mini_db(tmp_path / "laws.db", ("中华人民共和国行政复议法",))
    settings = _settings(tmp_path, db)
    emb = HashEmbedder()
    good = build_index(settings, emb.name, emb.dim)

    def broken_build(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("pufa.indexer.LexicalIndex.build", broken_build)
    with pytest.raises(OSError):
        build_index(settings, emb.name, emb.dim, force=True)
    assert current_build(settings.index_dir) == good.build
    assert open_index(settings, embedder=emb).catalog.article("行政复议法", 1).num == 1
    assert not [p for p in (settings.index_dir / "builds").iterdir() if p.name.startswith(".tmp")]


def test_empty_corpus_is_a_clear_error(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    settings = Settings(index_dir=tmp_path / "index", corpus_config=write_config(tmp_path, folders=[folder]))
    with pytest.raises(CorpusError, match="empty"):
        build_index(settings, "hash", 256)


def test_dense_topk_equals_brute_force_cosine(mini_index):
    """Oracle: Chroma's HNSW top-k equals exhaustive cosine search on a few thousand chunks."""
    emb = HashEmbedder()
    index = open_index(mini_index, embedder=emb)
    chunks = list({c.chunk_id: c for c in index.catalog.iter_chunks()}.values())
    matrix = emb.embed_passages([c.text for c in chunks])
    for question in ("未取得排污许可证排放大气污染物", "申请行政复议的期限", "听证"):
        q = emb.embed_query(question)
        brute = [chunks[i].chunk_id for i in np.argsort(-(matrix @ q))[:10]]
        got = [cid for cid, _ in index.dense.query(question, k=10)]
        assert len(set(got) & set(brute)) >= 9, (question, got, brute)


def test_background_filler_embeds_priority_first_and_stops_cleanly(tmp_path):
    from pufa.indexer import DenseFiller

    db = make_mini_db(tmp_path / "laws.db", ("中华人民共和国行政复议法", "中华人民共和国商标法"))
    settings = _settings(tmp_path, db)
    emb = HashEmbedder()
    build_index(settings, emb.name, emb.dim)
    index = open_index(settings, embedder=emb)
    todo = chunks_to_embed(index.catalog, index.dense)
    # administrative-procedure law before the others
    assert todo[0].priority == 0 and todo[-1].priority > 0

    stopped = DenseFiller(index.catalog, index.dense, batch=4)
    stopped.stop_event.set()
    stopped.start()
    stopped.join(timeout=30)
    assert index.dense.count() == 0  # a stop before any batch embeds nothing

    filler = DenseFiller(index.catalog, index.dense, batch=8)
    filler.start()
    filler.join(timeout=120)
    assert filler.error is None and filler.done == filler.total == len(todo)
    assert chunks_to_embed(index.catalog, index.dense) == []
    # a new process (re-opened store) sees the persisted vectors: the fill resumes, not restarts
    assert open_index(settings, embedder=emb).dense.count() == len(todo)


def test_the_filler_gives_the_passage_model_back_when_done(tmp_path):
    from pufa.indexer import DenseFiller

    class Releasing(HashEmbedder):
        released = 0

        def release_passage_model(self):
            self.released += 1

    db = make_mini_db(tmp_path / "laws.db", ("中华人民共和国行政复议法",))
    settings = _settings(tmp_path, db)
    emb = Releasing()
    build_index(settings, emb.name, emb.dim)
    index = open_index(settings, embedder=emb)
    filler = DenseFiller(index.catalog, index.dense, batch=16)
    filler.start()
    filler.join(timeout=120)
    assert filler.error is None and filler.done == filler.total > 0 and emb.released == 1
