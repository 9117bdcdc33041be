"""Retrieval quality while the dense index fills (a fresh install embeds for about an hour).

    python bench/partial_dense.py --set ../shared/eval-dev/stard_dev.jsonl --set eval/questions/env_dev.jsonl

On the full index, each fill level is simulated by hiding every vector past that share of the filler's
order (pufa.indexer.chunks_to_embed: environmental and administrative laws first); the dense leg then
searches the rest exactly. Lexical alone is the baseline, run in the same process. To see another
version of the ranking code, run this script from that checkout. Results go to
bench/results/partial_dense.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pufa.evaluation import MemoRetriever, load_questions, pufa_system, run_system  # noqa: E402
from pufa.retrieval import Retriever  # noqa: E402
from dev_sets import dense_retriever, parse_args  # noqa: E402

LEVELS = (0.07, 0.25, 0.5, 0.75, 0.95, 1.0)


def hide_vectors_past(retriever: Retriever, fill_order: list[str], vectors: dict, share: float) -> None:
    """Make the dense index look filled up to `share` of `fill_order`."""
    shown = fill_order[: int(len(fill_order) * share)]
    visible = set(shown)
    matrix = np.asarray([vectors[i] for i in shown], dtype=np.float32)

    def query_vector(vec: np.ndarray, k: int = 50) -> list[tuple[str, float]]:
        sims = matrix @ vec
        top = np.argpartition(-sims, min(k, len(sims) - 1))[:k]
        return [(shown[i], float(sims[i])) for i in top[np.argsort(-sims[top])]]

    retriever.dense.query_vector = query_vector  # type: ignore[method-assign]
    retriever.dense.vectors = lambda ids: {i: vectors[i] for i in ids if i in visible}  # type: ignore[method-assign]


def main() -> int:
    args = parse_args()
    retriever = dense_retriever(args)
    MemoRetriever(retriever)
    fill_order = list(dict.fromkeys(c.chunk_id for c in sorted(retriever.catalog.iter_chunks(), key=lambda c: c.priority)))
    vectors = retriever.dense.vectors(fill_order)
    if len(vectors) < len(fill_order):
        raise SystemExit(f"the dense index is not full ({len(vectors)} of {len(fill_order)}): python -m pufa index")
    sets = {p.stem: load_questions(p) for p in args.set}
    keep = ("recall@5", "recall@10", "mrr@10")
    results: dict = {"when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "levels": {}}
    lexical = retriever.with_params(legs=("exact", "lexical"))
    results["lexical"] = {n: {m: run_system("lexical", pufa_system(lexical), q).summary(10)[m] for m in keep}
                          for n, q in sets.items()}
    print("lexical alone:", json.dumps(results["lexical"]), flush=True)
    for share in LEVELS:
        hide_vectors_past(retriever, fill_order, vectors, share)
        row = {n: {m: run_system("hybrid", pufa_system(retriever), q).summary(10)[m] for m in keep}
               for n, q in sets.items()}
        results["levels"][f"{share:.2f}"] = row
        print(f"{share:4.0%} embedded:", json.dumps(row), flush=True)
    out = Path(__file__).with_name("results") / "partial_dense.json"
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
