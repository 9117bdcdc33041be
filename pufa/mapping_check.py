"""Measuring the repealed-article mapping against the hand-checked sample.

The sample (eval/questions/counterparts_checked.tsv) lists repealed articles and the 法典 articles that a
person found to correspond by reading both texts; "-" means none. Metrics are pure functions of the sample
and the predictions, so they are unit-tested without an index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CheckedRow:
    law: str  # short title as people write it
    num: int
    targets: frozenset[int]  # counterpart article numbers in the repealer; empty = no counterpart
    note: str = ""


def load_checked(path: Path) -> list[CheckedRow]:
    rows: list[CheckedRow] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("law\t"):
            continue
        law, num, targets, *note = line.split("\t")
        nums = frozenset() if targets.strip() == "-" else frozenset(int(t) for t in targets.split(","))
        rows.append(CheckedRow(law.strip(), int(num), nums, note[0] if note else ""))
    return rows


def score_mapping(rows: list[CheckedRow], predict: Callable[[CheckedRow], list[int]], k: int = 3) -> dict:
    """Top-1 and any-of-top-k accuracy on rows with a counterpart; share of "none" rows left without one.

    Also the precision of every listed counterpart (top k) and the recall of the expected ones.

    `predict` returns the predicted counterpart article numbers, best first.
    """
    n = top1 = anyk = none_n = none_ok = listed = listed_ok = expected = found = 0
    misses: list[dict] = []
    for row in rows:
        predicted = predict(row)
        if not row.targets:
            none_n += 1
            none_ok += not predicted
            if predicted:
                misses.append({"law": row.law, "num": row.num, "expected": [], "predicted": predicted[:k]})
            continue
        n += 1
        hit1 = bool(predicted) and predicted[0] in row.targets
        hitk = any(p in row.targets for p in predicted[:k])
        top1 += hit1
        anyk += hitk
        listed += len(predicted[:k])
        listed_ok += sum(p in row.targets for p in predicted[:k])
        expected += len(row.targets)
        found += len(row.targets & set(predicted[:k]))
        if not hit1:
            misses.append({"law": row.law, "num": row.num, "expected": sorted(row.targets),
                           "predicted": predicted[:k]})
    return {"n": n, "top1": round(top1 / n, 4) if n else 0.0, f"any_top{k}": round(anyk / n, 4) if n else 0.0,
            "precision": round(listed_ok / listed, 4) if listed else 0.0,
            "recall": round(found / expected, 4) if expected else 0.0, "none_n": none_n, "none_correct": round(none_ok / none_n, 4) if none_n else 0.0,
            "laws": len({r.law for r in rows}), "misses": misses}
