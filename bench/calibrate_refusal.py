"""Calibrate the weak-support refusal threshold: support() on answerable vs unanswerable questions.

Usage: python bench/calibrate_refusal.py [--stard N]
Prints, for candidate thresholds, the false-refusal rate on answerable questions (env_dev + STARD
dev sample) and the refusal rate on off-topic questions; writes bench/results/refusal_calibration.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pufa.evaluation import load_questions  # noqa: E402
from pufa.refusal import RefusalPolicy, support  # noqa: E402
from pufa.retrieval import Retriever  # noqa: E402
from pufa.settings import Settings, apply_offline_defaults  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stard", type=int, default=360)
    args = ap.parse_args()
    apply_offline_defaults()
    retriever = Retriever.from_settings(Settings.from_env())
    policy = RefusalPolicy()
    sets = {
        "env_dev": load_questions(ROOT / "eval/questions/env_dev.jsonl"),
        "stard_dev": load_questions(ROOT.parent / "shared/eval-dev/stard_dev.jsonl")[: args.stard],
        "offtopic_dev": load_questions(ROOT / "eval/questions/offtopic_dev.jsonl"),
    }
    values: dict[str, list[tuple[str, float]]] = {"answerable": [], "offtopic": []}
    for name, questions in sets.items():
        for q in questions:
            if policy.evasion(q.question) or policy.out_of_scope(q.question):
                continue
            answerable = q.raw.get("answerable", True)
            if name != "offtopic_dev" and not answerable:
                continue
            analysis = retriever.analyse(q.question)
            hits = retriever.search(q.question, k=8)
            if hits and "exact" in hits[0].legs:
                s = 1.0
            else:
                s = support(list(retriever.query_terms(analysis)), hits, retriever.lexical)
            values["answerable" if answerable else "offtopic"].append((f"{name}:{q.id}", s))
    rows = []
    for t in [x / 100 for x in range(0, 80, 5)]:
        fr = sum(s < t for _, s in values["answerable"]) / len(values["answerable"])
        tr = sum(s < t for _, s in values["offtopic"]) / len(values["offtopic"])
        rows.append({"threshold": t, "false_refusal": round(fr, 4), "offtopic_refused": round(tr, 4)})
        print(f"threshold {t:.2f}: false refusal {fr:.3f}  off-topic refused {tr:.3f}")
    out = ROOT / "bench/results/refusal_calibration.json"
    out.write_text(json.dumps({"rows": rows, "n_answerable": len(values["answerable"]),
                               "n_offtopic": len(values["offtopic"]),
                               "lowest_answerable": sorted(values["answerable"], key=lambda x: x[1])[:15],
                               "highest_offtopic": sorted(values["offtopic"], key=lambda x: -x[1])[:10]},
                              ensure_ascii=False, indent=1), encoding="utf-8")
    print("lowest answerable:", sorted(values["answerable"], key=lambda x: x[1])[:10])
    print("highest off-topic:", sorted(values["offtopic"], key=lambda x: -x[1])[:8])


if __name__ == "__main__":
    main()
