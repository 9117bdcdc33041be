"""Commands beyond index/article/search: `eval` (and later `ask`, `map`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .settings import REPO_ROOT, Settings

log = logging.getLogger("pufa")


def cmd_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .eval_report import write_report, write_run
    from .evaluation import MemoRetriever, load_questions, peer_system, pufa_system, run_system
    from .retrieval import Retriever

    settings = Settings.from_env(index_dir=args.index_dir)
    questions = load_questions(args.set)
    if args.limit:
        questions = questions[: args.limit]
    set_name = args.set.stem
    if args.answers:
        return _eval_answers(args, settings, questions, set_name)
    retriever = Retriever.from_settings(settings)
    if args.compare or args.sweep:
        MemoRetriever(retriever)
    systems = [("pufa-hybrid", pufa_system(retriever))]
    if args.compare:
        systems += [("lexical-only", pufa_system(retriever.with_params(legs=("lexical",)))),
                    ("dense-only", pufa_system(retriever.with_params(legs=("dense",)))),
                    ("peer-china-law-mcp", peer_system())]
    results = []
    for name, system in systems:
        with tqdm(total=len(questions), desc=name, file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
            results.append(run_system(name, system, questions, k=args.k, progress=bar.update))
    main = results[0].summary(args.k)
    dense_done, dense_total = (retriever.dense.count() if retriever.dense else 0), retriever.catalog.counts()["chunks"]
    doc = main | {"systems": {r.name: r.summary(args.k) for r in results},
                  "dense_coverage": round(min(dense_done / max(dense_total, 1), 1.0), 4)}
    adapter = _adapter_use(retriever, questions)
    if adapter:
        doc["adapter"] = adapter
    if len(results) > 1:
        doc["versus"] = {f"{results[0].name} - {r.name}": results[0].versus(r) for r in results[1:]}
    if args.compare:
        params = retriever.params.__dict__ | {"dense_vectors": dense_done, "chunks": dense_total}
        run = write_run(results, set_name, REPO_ROOT / "eval" / "runs", params)
        report = write_report(results, set_name, REPO_ROOT / "eval" / "reports", args.k,
                              {"questions": str(args.set), "index": str(settings.index_dir),
                               "dense coverage": f"{dense_done}/{dense_total} chunks",
                               "params": json.dumps(retriever.params.__dict__, ensure_ascii=False)}
                              | ({"query adapter": adapter["note"]} if adapter else {}))
        log.info("wrote %s and %s", run, report)
    if args.json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    else:
        if adapter:
            print(f"query adapter: {adapter['note']}")
        for name, s in doc["systems"].items():
            print(f"{name:20s} n={s['n']} R@1={s['recall@1']:.3f} R@5={s['recall@5']:.3f} R@10={s['recall@10']:.3f} "
                  f"MRR@10={s['mrr@10']:.3f} nDCG@10={s['ndcg@10']:.3f} miss@10={s['miss@10']:.3f} "
                  f"p50={s['latency_ms']['p50']:.1f}ms p95={s['latency_ms']['p95']:.1f}ms "
                  f"(R@10 95% CI {s['ci95']['recall@10'][0]:.3f}-{s['ci95']['recall@10'][1]:.3f})")
        for pair, diffs in doc.get("versus", {}).items():
            print(f"{pair}: " + "  ".join(f"{m} {d['diff']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] "
                                          f"p(not better)={d['p_not_better']:.3f}" for m, d in diffs.items()))
    return 0


def _adapter_use(retriever, questions: list) -> dict | None:
    """How the query adapter met this set: questions it was trained on are embedded out-of-fold."""
    adapter = retriever.adapter
    if adapter is None or not retriever.params.adapt:
        return None
    seen = sum(adapter.which(q.question) < adapter.folds for q in questions)
    note = (f"{seen} of {len(questions)} questions were in its training data and were embedded by the fold adapter "
            f"that did not see them ({adapter.folds}-fold, out-of-fold figures); "
            f"the other {len(questions) - seen} by the full adapter") if seen else \
        f"none of the {len(questions)} questions were in its training data (held out)"
    return {"trained_on": seen, "questions": len(questions), "folds": adapter.folds,
            "sources": adapter.meta.get("sources", []), "note": note}


def _eval_answers(args: argparse.Namespace, settings: Settings, questions: list, set_name: str) -> int:
    import time

    from tqdm import tqdm

    from .answer_eval import answer_metrics, run_answers
    from .assistant import Assistant

    assistant = Assistant.from_settings(settings)
    assistant.ask("预热", "enterprise")  # load lazy parts (tokenizer dictionaries) outside the timings
    with tqdm(total=len(questions), desc="answers", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        records = run_answers(assistant.ask, questions, progress=bar.update)
    metrics = answer_metrics(records)
    runs = REPO_ROOT / "eval" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{set_name}-answers.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"id": r.question.id, "seconds": round(r.seconds, 4)} | r.answer.to_json(),
                               ensure_ascii=False) + "\n")
    log.info("wrote %s", path)
    adapter = _adapter_use(assistant.retriever, questions)
    if args.json:
        sys.stdout.write(json.dumps({"set": set_name, "answers": metrics} | ({"adapter": adapter} if adapter else {}),
                                    ensure_ascii=False) + "\n")
    else:
        if adapter:
            print(f"query adapter: {adapter['note']}")
        print(json.dumps(metrics, ensure_ascii=False, indent=2))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("eval", parents=[common], help="measure retrieval on a question set")
    s.add_argument("--set", type=Path, required=True, help="question set (JSONL)")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--limit", type=int, default=0, help="only the first N questions")
    s.add_argument("--compare", action="store_true",
                   help="also run lexical-only, dense-only and the peer baseline; write eval/runs and eval/reports")
    s.add_argument("--answers", action="store_true",
                   help="evaluate whole answers: must_mention facts, citation precision, refusals, latency")
    s.add_argument("--sweep", action="store_true", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_eval)
