"""Several app processes on one index: a build swapped in by another process is picked up."""

from __future__ import annotations

import time

from fake_assistant import FakeAssistant

from conftest import write_config
from pufa.embedders import HashEmbedder
from pufa.indexer import build_index, current_build
from pufa.settings import Settings
from pufa.web.runtime import Runtime

SEED = "# 青川市餐饮油烟管理办法\n\n第一条 为了减少餐饮油烟对居民生活的影响，制定本办法。\n\n第二条 餐饮服务经营者应当安装油烟净化设施。\n"
NEW = "# 青川市露天烧烤管理规定\n\n第一条 城区主干道两侧禁止露天烧烤。\n\n第二条 违反前条规定的，由城市管理部门处二千元以上二万元以下的罚款。\n"


def test_a_build_swapped_in_elsewhere_is_served_within_the_follow_interval(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "seed.md").write_text(SEED, encoding="utf-8")
    emb = HashEmbedder()
    settings = Settings(index_dir=tmp_path / "index", data_dir=tmp_path / "data", embedder="hash",
                        corpus_config=write_config(tmp_path, folders=[docs]), dense_fill=0,
                        index_follow_seconds=0.2)
    follower = Runtime(settings, lambda r, c, s: FakeAssistant(r, c, settings=s), embedder=emb)
    follower.start(background=False)
    first = follower.services.directory
    try:
        # another process (here: this test) adds a document, rebuilds and swaps CURRENT
        (docs / "new.md").write_text(NEW, encoding="utf-8")
        build_index(settings, emb.name, emb.dim)
        assert current_build(settings.index_dir) != first
        deadline = time.monotonic() + 20
        while follower.services.directory == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert follower.services.directory == current_build(settings.index_dir)
        hits = follower.services.retriever.search("露天烧烤罚多少", k=3)
        assert any("露天烧烤" in h.article.law for h in hits)
        assert follower.follow_current() is False  # already serving the current build
    finally:
        follower.stop()
