"""Time to a complete extractive answer vs retrieval alone, same process, same questions.

Usage: python bench/answer_latency.py [--set eval/questions/env_dev.jsonl] [--repeat 2]
Prints p50/p95 of `Retriever.search` (k=8) and of `Assistant.ask` (retrieval + refusal check +
composing + verification) and their ratio; writes bench/results/answer_latency.json. The ratio is
what to compare across runs on a shared machine; absolute times depend on contention (load shown).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pufa.assistant import Assistant  # noqa: E402
from pufa.evaluation import load_questions  # noqa: E402
from pufa.metrics import percentile  # noqa: E402
from pufa.settings import Settings, apply_offline_defaults  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", type=Path, default=ROOT / "eval/questions/env_dev.jsonl")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    apply_offline_defaults()
    assistant = Assistant.from_settings(Settings.from_env())
    questions = [q.question for q in load_questions(args.set)]
    assistant.ask("预热")
    search_ms, ask_ms = [], []
    load_before = os.getloadavg()[0]
    dense = assistant.retriever.dense
    recent = getattr(dense.embedder, "_recent", {}) if dense is not None else {}
    for _ in range(args.repeat):
        for q in questions:
            recent.clear()  # each timed call embeds its question itself
            t0 = time.perf_counter()
            assistant.retriever.search(q, k=8)
            t1 = time.perf_counter()
            recent.clear()
            assistant.ask(q)
            t2 = time.perf_counter()
            search_ms.append((t1 - t0) * 1000)
            ask_ms.append((t2 - t1) * 1000)
    doc = {"set": args.set.name, "questions": len(questions), "repeat": args.repeat,
           "search_ms": {"p50": round(percentile(search_ms, 50), 1), "p95": round(percentile(search_ms, 95), 1)},
           "answer_ms": {"p50": round(percentile(ask_ms, 50), 1), "p95": round(percentile(ask_ms, 95), 1)},
           "answer_over_search_p50": round(percentile(ask_ms, 50) / max(percentile(search_ms, 50), 1e-9), 2),
           "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    print(json.dumps(doc, ensure_ascii=False, indent=1))
    out = ROOT / "bench/results/answer_latency.json"
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
