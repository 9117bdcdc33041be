"""Choose the curated Q&A matching threshold (pufa.curated.THRESHOLD) by measurement.

Curated set: the env_dev questions that eval/questions/curated_match.jsonl paraphrases (20).
Positives: the paraphrases (40); a positive counts as matched when its best match is its own
question at or above the threshold. Negatives: every other env_dev question (100, many on the same
topics), the off-topic set (25) and hand-written hard negatives (same topic, another ask, 16);
a negative is a false match when any curated question reaches the threshold. The tokenizer and the
term weights are those of the built index, as in the app (`pufa.curated.term_weight`).

    python bench/curated_threshold.py [--index-dir index] [--out bench/results/curated_threshold.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pufa.curated import THRESHOLD, CuratedMatcher, CuratedQA, term_weight  # noqa: E402
from pufa.indexer import open_index  # noqa: E402
from pufa.settings import Settings  # noqa: E402


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "curated_threshold.json")
    args = parser.parse_args()
    settings = Settings.from_env(index_dir=args.index_dir)
    index = open_index(settings, with_dense=False)
    questions = ROOT / "eval" / "questions"
    env = {row["id"]: row for row in load(questions / "env_dev.jsonl")}
    probes = load(questions / "curated_match.jsonl")
    targets = sorted({p["target"] for p in probes if p["target"]})
    curated = [CuratedQA(i, env[t]["question"], "", (), "published", None, "", "", "") for i, t in enumerate(targets)]
    matcher = CuratedMatcher(curated, index.lexical.tokenizer.tokens, term_weight(index.lexical),
                             threshold=0.0)
    by_id = {qa.id: targets[qa.id] for qa in curated}

    positives = [(p["question"], p["target"]) for p in probes if p["target"]]
    negatives = [(p["question"], "hard_negative") for p in probes if not p["target"]]
    negatives += [(row["question"], "env_dev") for rid, row in env.items() if rid not in targets]
    negatives += [(row["question"], "offtopic") for row in load(questions / "offtopic_dev.jsonl")]

    def best(question: str):
        m = matcher.scores(question)[0]
        return by_id[m.qa.id], m.score

    pos = [(q, t, *best(q)) for q, t in positives]
    neg = [(q, kind, *best(q)) for q, kind in negatives]
    sweep = []
    for step in range(20, 91):
        t = step / 100
        hit = sum(1 for _, target, got, s in pos if got == target and s >= t)
        wrong = sum(1 for _, target, got, s in pos if got != target and s >= t)
        false = sum(1 for *_, s in neg if s >= t)
        sweep.append({"threshold": t, "recall": round(hit / len(pos), 3), "wrong_target": wrong, "false_matches": false})
    safe = [row for row in sweep if row["false_matches"] == 0 and row["wrong_target"] == 0]
    lowest_safe = safe[0]["threshold"] if safe else None
    at_setting = next(row for row in sweep if abs(row["threshold"] - THRESHOLD) < 1e-9)
    report = {
        "curated": len(curated), "positives": len(pos), "negatives": len(neg),
        "lowest_threshold_without_false_matches": lowest_safe, "threshold_in_use": THRESHOLD,
        "at_threshold_in_use": at_setting,
        "max_negative": sorted(({"question": q, "set": k, "matched": g, "score": round(s, 3)} for q, k, g, s in neg),
                               key=lambda r: -r["score"])[:8],
        "missed_positives_at_threshold": [{"question": q, "target": t, "best": g, "score": round(s, 3)}
                                          for q, t, g, s in pos if not (g == t and s >= THRESHOLD)],
        "sweep": sweep,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{len(curated)} curated, {len(pos)} paraphrases, {len(neg)} negatives")
    print("threshold  recall  wrong  false")
    for row in sweep[::5]:
        print(f"{row['threshold']:.2f}      {row['recall']:.3f}   {row['wrong_target']:>3}   {row['false_matches']:>4}")
    print(f"lowest threshold with no false or wrong match: {lowest_safe}; in use: {THRESHOLD} → {at_setting}")
    for r in report["max_negative"][:5]:
        print(f"  closest negative {r['score']:.3f} [{r['set']}] {r['question']} ~ {env[r['matched']]['question']}")


if __name__ == "__main__":
    main()
