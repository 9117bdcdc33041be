"""Grid search of the retrieval fusion parameters on the dev question sets (prints a table).

    python bench/tune_retrieval.py --set ../shared/eval-dev/stard_dev.jsonl --set eval/questions/env_dev.jsonl

Query embeddings and lexical scores are cached, so each grid point only re-runs the fusion.
Results go to bench/results/tune_retrieval.json. Tune on dev sets only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pufa.evaluation import MemoRetriever, load_questions, pufa_system, run_system  # noqa: E402
from pufa.retrieval import Retriever  # noqa: E402
from pufa.settings import Settings, apply_offline_defaults  # noqa: E402

GRID = {
    "normalise": ["max", "z"],
    "w_lexical_expanded": [0.0, 1.0],
    "w_dense": [1.5, 2.0, 3.0],
    "law_prior": [0.0, 1.0],
}


def main() -> int:
    apply_offline_defaults()
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", type=Path, action="append", required=True)
    ap.add_argument("--index-dir", type=Path)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    retriever = Retriever.from_settings(Settings.from_env(index_dir=args.index_dir))
    MemoRetriever(retriever)
    sets = {p.stem: load_questions(p)[: args.limit or None] for p in args.set}
    rows = []
    names = list(GRID)
    for values in itertools.product(*GRID.values()):
        params = dict(zip(names, values))
        r = retriever.with_params(**params)
        row = {"params": params}
        for name, questions in sets.items():
            t0 = time.perf_counter()
            s = run_system("hybrid", pufa_system(r), questions).summary(10)
            row[name] = {m: s[m] for m in ("recall@5", "recall@10", "mrr@10")} | {"s": round(time.perf_counter() - t0, 1)}
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    out = Path(__file__).with_name("results") / "tune_retrieval.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    key = lambda row: sum(row[n]["recall@10"] + row[n]["mrr@10"] for n in sets)  # noqa: E731
    best = max(rows, key=key)
    print("best:", json.dumps(best, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
