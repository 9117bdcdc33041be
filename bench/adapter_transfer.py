"""What the query adapter learns, on the dense leg alone: does it transfer between kinds of question?

    python bench/adapter_transfer.py [--index-dir index]

On the full index, for STARD dev, env_dev, env_test and env_train (the adapter's training sets), the dense leg's
article ranking (best chunk per article, exact cosine over every chunk) is scored four ways in one process:

- raw:          the embedder's own question vector;
- stard-only:   an adapter trained on STARD dev alone (measured on the env sets: another kind of question);
- env-only:     an adapter trained on env_dev + env_test + env_train alone (measured on STARD);
- packaged:     the shipped adapter with its out-of-fold rule (each training question embedded by the fold
                adapter that never saw it), i.e. trained on both kinds, 5-fold cross-validated.

Results go to bench/results/adapter_transfer.json. Training sets only; env_test2 and env_test3 (held out) are
not read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pufa.adapter import QueryAdapter, TrainParams, adapter_for, fit  # noqa: E402
from pufa.commands_adapter import DEFAULT_SETS, training_data  # noqa: E402
from pufa.metrics import mean, recall_at_k, reciprocal_rank  # noqa: E402
from pufa.retrieval import Retriever  # noqa: E402
from pufa.settings import Settings, apply_offline_defaults  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "adapter_transfer.json"


def scores(vectors: np.ndarray, owner: np.ndarray, articles: int, q: np.ndarray) -> np.ndarray:
    """Best-chunk cosine of every article for each question (questions x articles)."""
    out = np.full((len(q), articles), -np.inf, dtype=np.float32)
    sims = q @ vectors.T
    for i in range(len(q)):
        np.maximum.at(out[i], owner, sims[i])
    return out


def metrics(article_scores: np.ndarray, labels: list[list[int]], k: int = 10) -> dict:
    ranked = [(list(np.argsort(-row)[:k]), set(wanted)) for row, wanted in zip(article_scores, labels) if wanted]
    return {"n": len(ranked),
            "recall@5": round(mean([recall_at_k(top, want, 5) for top, want in ranked]), 3),
            "recall@10": round(mean([recall_at_k(top, want, k) for top, want in ranked]), 3),
            "mrr@10": round(mean([reciprocal_rank(top, want, k) for top, want in ranked]), 3)}


def main() -> int:
    apply_offline_defaults()
    ap = argparse.ArgumentParser()
    ap.add_argument("--index-dir", type=Path)
    args = ap.parse_args()
    started = time.monotonic()
    settings = Settings.from_env(index_dir=args.index_dir, adapter="off")
    retriever = Retriever.from_settings(settings)
    vectors, owner, by_set = training_data(retriever, list(DEFAULT_SETS))
    articles = len(retriever.table.keys)
    packaged = adapter_for("auto", retriever.dense.embedder.name, retriever.dense.embedder.dim)
    if packaged is None:
        raise SystemExit("no packaged adapter for this embedder: train one with python -m pufa adapter")
    env_rows = [row for name, rows in by_set.items() if name != "stard_dev" for row in rows]
    # one (A, B) each, held as a QueryAdapter without folds so that .apply does the arithmetic
    trained = {name: QueryAdapter(packaged.embedder, a[None], b[None], {}, {}) for name, (a, b) in (
        ("stard-only", fit(vectors, owner, by_set["stard_dev"], TrainParams())),
        ("env-only", fit(vectors, owner, env_rows, TrainParams())))}
    doc: dict = {"sets": {}, "params": TrainParams().__dict__}
    for name, rows in by_set.items():
        q = np.stack([v for _, v, _ in rows]).astype(np.float32)
        labels = [lab for _, _, lab in rows]
        result = {"raw": metrics(scores(vectors, owner, articles, q), labels)}
        other = "env-only" if name == "stard_dev" else "stard-only"
        moved = np.stack([trained[other].apply(text, v) for text, v, _ in rows])
        result[f"{other} (other kind)"] = metrics(scores(vectors, owner, articles, moved), labels)
        oof = np.stack([packaged.apply(text, v) for text, v, _ in rows])
        result["packaged, out-of-fold"] = metrics(scores(vectors, owner, articles, oof), labels)
        doc["sets"][name] = result
        for system, m in result.items():
            print(f"{name:10s} {system:28s} R@5 {m['recall@5']:.3f}  R@10 {m['recall@10']:.3f}  MRR {m['mrr@10']:.3f}"
                  f"  (n={m['n']})")
    doc["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{doc['seconds']} s -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
