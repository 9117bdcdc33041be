"""Calibrate the weak-support refusal rule on answerable vs off-topic questions.

Usage: python bench/calibrate_refusal.py [--stard N]
For every question that reaches retrieval (not refused by a request pattern, not an exact article
lookup): the best question–article cosine of the top 3 hits (`Retriever.similarity`) and the
idf-weighted term coverage (`refusal.support`). Prints, for support = cosine + w × coverage over a
grid of w and thresholds, the false-refusal rate on answerable questions (env_dev + a STARD dev
sample) and the refusal rate on `eval/questions/offtopic_dev.jsonl`, plus coverage alone (the rule
used without vectors). Writes bench/results/refusal_calibration.json.
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
    values: dict[str, list[tuple[str, float, float | None]]] = {"answerable": [], "offtopic": []}
    for name, questions in sets.items():
        for q in questions:
            if policy.evasion(q.question) or policy.out_of_scope(q.question):
                continue
            answerable = q.raw.get("answerable", True)
            if name != "offtopic_dev" and not answerable:
                continue
            hits = retriever.search(q.question, k=8)
            if hits and "exact" in hits[0].legs:
                continue
            coverage = support(list(retriever.query_terms(retriever.analyse(q.question))), hits, retriever.lexical)
            similarity = retriever.similarity(q.question, hits[:3])
            values["answerable" if answerable else "offtopic"].append((f"{name}:{q.id}", coverage, similarity))

    def rates(score) -> tuple[float, float]:
        ans = [score(c, s) for _, c, s in values["answerable"]]
        off = [score(c, s) for _, c, s in values["offtopic"]]
        return sum(ans) / len(ans), sum(off) / len(off)

    rows = []
    for t in [x / 100 for x in range(0, 40, 5)]:
        fr, tr = rates(lambda c, s, t=t: c < t)
        rows.append({"rule": "coverage", "threshold": t, "false_refusal": round(fr, 4), "offtopic_refused": round(tr, 4)})
    if all(s is not None for _, _, s in values["answerable"] + values["offtopic"]):
        for w in (0.0, 0.03, 0.05, 0.1):
            for t in [0.85 + x / 200 for x in range(0, 13)]:
                fr, tr = rates(lambda c, s, w=w, t=t: s + w * c < t)
                rows.append({"rule": f"cosine + {w} x coverage", "threshold": round(t, 3),
                             "false_refusal": round(fr, 4), "offtopic_refused": round(tr, 4)})
    for r in rows:
        print(f"{r['rule']:26s} < {r['threshold']:.3f}: false refusal {r['false_refusal']:.3f}  "
              f"off-topic refused {r['offtopic_refused']:.3f}")
    chosen = [r for r in rows if r["rule"] == f"cosine + {policy.lexical_weight} x coverage"
              and abs(r["threshold"] - policy.dense_threshold) < 1e-9]
    print("in force (refusal.toml):", chosen)
    out = ROOT / "bench/results/refusal_calibration.json"
    out.write_text(json.dumps({"rows": rows, "in_force": chosen, "n_answerable": len(values["answerable"]),
                               "n_offtopic": len(values["offtopic"]),
                               "lowest_answerable": sorted(values["answerable"], key=lambda x: x[2] or 0)[:10],
                               "highest_offtopic": sorted(values["offtopic"], key=lambda x: -(x[2] or 0))[:10]},
                              ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
