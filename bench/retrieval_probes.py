"""Probes of what could still lift retrieval: how deep the labelled articles sit, and re-scorings tried.

    python bench/retrieval_probes.py --set ../shared/eval-dev/stard_dev.jsonl --set eval/questions/env_dev.jsonl

For every question the hybrid's top 100 is taken once, with the extra signals each probe needs; each
probe then re-orders that list (so a probe can only promote what the hybrid already found) and is
scored against the hybrid's own order in the same process:

- depth:      recall of the hybrid at 10/20/30/50/100, the ceiling a re-ranker of that pool could reach,
              and for the 民法典's labels by part of the code (general parts are the ones out of reach);
- clauses:    + w × z(max or mean cosine between each clause of the question and the article), for long
              lay questions whose legal point sits in one clause;
- domain:     + b for articles of environmental and administrative-procedure laws (the bureau's domain);
- in-degree:  + w × log(1 + how often other current articles cite the article / its law by name);
- companion:  insert, after each of the top-2 non-liability hits, the liability article that punishes
              it: by pufa.liability (the handout matcher; cosine ≥ 0.4), or by searching the liability
              articles of the same law with the hit's text (lexical only, as the counterpart fallback does);
- general part: when the top hit is in the 民法典's 合同编, the best article of 总则 or of 合同通则, searched
              on its own (the hybrid's lexical and dense mix over that part only), inserted at rank 5 — the
              general rules lay questions never name are mostly not in the pool at all;
- parts:      a question of several sentences ("…要办证吗？不办会罚吗？"): each sentence searched on its own and
              its best hit inserted at rank 2 unless already in the top 5.
Results go to bench/results/retrieval_probes.json. Dev sets only; nothing here is keyed on a question.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pufa.chunks import is_domain_law  # noqa: E402
from pufa.evaluation import load_questions  # noqa: E402
from pufa.liability import LiabilityIndex, is_liability  # noqa: E402
from pufa.metrics import reciprocal_rank, recall_at_k  # noqa: E402
from pufa.numerals import cn_to_int  # noqa: E402
from pufa.retrieval import Retriever, _normalised  # noqa: E402
from dev_sets import dense_retriever, parse_args  # noqa: E402

_CLAUSE = re.compile(r"[。？！?!；;，,\n]")
_SENTENCE = re.compile(r"(?<=[。？！?!])")
_NUM = "[零〇一二两三四五六七八九十百千]+"
_SAME_LAW_REF = re.compile(rf"本法第({_NUM})条")
_OTHER_LAW_REF = re.compile(rf"《(?:中华人民共和国)?([^》]{{2,30}})》(?:第({_NUM})条)?")


def clauses(question: str, shortest: int = 8) -> list[str]:
    """The question cut at punctuation, short pieces joined to the next one."""
    out, current = [], ""
    for part in (p.strip() for p in _CLAUSE.split(question)):
        if not part:
            continue
        current = f"{current}，{part}" if current else part
        if len(current) >= shortest:
            out.append(current)
            current = ""
    if current:
        out[-1:] = [f"{out[-1]}，{current}"] if out else [current]
    return out


def citation_counts(retriever: Retriever) -> tuple[Counter, Counter]:
    """How often current articles cite each article ((law short, num)) and each law by name."""
    laws = {law.law_id: law for law in retriever.catalog.laws()}
    article_in: Counter = Counter()
    law_in: Counter = Counter()
    for law_id, num, _sub, text, _chapter in retriever.catalog.all_article_texts():
        law = laws[law_id]
        if law.status != "现行有效":
            continue
        for m in _SAME_LAW_REF.finditer(text):
            n = cn_to_int(m.group(1))
            if n and n != num:
                article_in[(law.short, n)] += 1
        for m in _OTHER_LAW_REF.finditer(text):
            if m.group(1) != law.short:
                law_in[m.group(1)] += 1
                if m.group(2) and cn_to_int(m.group(2)):
                    article_in[(m.group(1), cn_to_int(m.group(2)))] += 1
    return article_in, law_in


# The 编 and 分编 of the 民法典 by first article (the database's chapter paths lack this level).
CIVIL_CODE_PARTS = ((1, "总则"), (205, "物权"), (463, "合同·通则"), (595, "合同·典型合同与准合同"), (989, "人格权"),
                    (1040, "婚姻家庭"), (1119, "继承"), (1164, "侵权责任"))
GENERAL_PARTS = ("总则", "合同·通则")


def civil_code_part(num: int) -> str:
    return [name for first, name in CIVIL_CODE_PARTS if num >= first][-1]


def _key(article) -> tuple:
    return (article.law_short, article.num, article.sub)


def general_part_best(retriever: Retriever, question: str, groups: list[int]):
    """The best article of a part of the 民法典 for the question, by the hybrid's lexical + dense mix over that
    part alone."""
    analysis = retriever.analyse(question)
    lex = retriever._lexical_leg(analysis)
    cos = retriever._stored_cosines(retriever.dense.embedder.embed_query(analysis.question), groups)
    p = retriever.params
    mix = (p.w_lexical * _normalised(np.asarray([float(lex[g]) for g in groups]), "z", "lexical")
           + p.w_dense * _normalised(np.asarray([cos.get(g, 0.0) for g in groups]), "z", "dense"))
    return retriever.catalog.article_by_key(*retriever.table.keys[groups[int(np.argmax(mix))]])


def collect(retriever: Retriever, questions, liability: LiabilityIndex) -> list[dict]:
    emb = retriever.dense.embedder
    civil = retriever.catalog.resolve_law("民法典").law_id
    keys = retriever.table.keys
    general_groups = {part: [g for g, k in enumerate(keys) if k[0] == civil and civil_code_part(k[1]) == part]
                      for part in GENERAL_PARTS}
    penalty_finder = retriever.with_params(legs=("lexical",), intent_boost=0.0, counterparts=0, require="penalty",
                                           law_prior=0.0)
    table = retriever.table
    rows = []
    for q in questions:
        if not q.labels:
            continue
        hits = retriever.search(q.question, k=100)
        parts = clauses(q.question)
        clause_vecs = [emb.embed_query(c) for c in parts] if len(parts) > 1 else []
        cands = []
        for rank, h in enumerate(hits):
            g = table.index.get(h.article.key)
            vectors = retriever.dense.vectors(table.chunk_ids[g]) if g is not None else {}
            matrix = np.asarray(list(vectors.values())) if vectors else None
            cl = [float((matrix @ v).max()) if matrix is not None else 0.0 for v in clause_vecs]
            companion = searched = None
            if rank < 2 and not is_liability(h.article):
                found = [m for p in h.article.text.split("\n") if p.strip() and (m := liability.match(h.article, p))]
                if found:
                    unit = max(found, key=lambda m: m[1])[0].article
                    companion = _key(unit)
                got = penalty_finder.search(h.article.text[:300], k=1, law=h.article.law)
                if got and got[0].article.key != h.article.key:
                    searched = _key(got[0].article)
            cands.append({"key": _key(h.article), "score": h.score,
                          "law": h.article.law_short, "clauses": cl, "companion": companion, "searched": searched})
        top = hits[0].article if hits else None
        in_contracts = top is not None and top.law_id == civil and civil_code_part(top.num).startswith("合同")
        general = {name: _key(general_part_best(retriever, q.question, groups))
                   for name, groups in general_groups.items()} if in_contracts else {}
        sentences = [s.strip() for s in _SENTENCE.split(q.question) if len(s.strip()) >= 4]
        part_best = [_key(got[0].article) for s in sentences
                     if len(sentences) > 1 and (got := retriever.search(s, k=1))]
        rows.append({"labels": q.labels, "cands": cands, "general": general, "parts": part_best})
    return rows


def civil_code_depth(rows: list[dict], hybrid: list[list]) -> dict:
    """Where the labelled 民法典 articles sit in the hybrid's top 100, by part of the code: general parts
    (总则, 合同通则) that lay questions never name are the ones a re-ranker of this pool cannot reach."""
    ranks: dict[str, list[int]] = {}
    for row, order in zip(rows, hybrid):
        for key in row["labels"]:
            if key[0] != "民法典":
                continue
            ranks.setdefault(civil_code_part(key[1]), []).append(order.index(key) + 1 if key in order else 10**6)
    return {part: {"labels": len(r), **{f"in top {k}": round(sum(x <= k for x in r) / len(r), 3) for k in (10, 30, 100)}}
            for part, r in ranks.items()}


def _z(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    z = (x - x.mean()) / (x.std() or 1.0)
    return z / z.max() if z.max() > 0 else z


def score(rows: list[dict], order_of) -> dict:
    orders = [order_of(row) for row in rows]
    n = len(rows)
    return {"recall@5": round(sum(recall_at_k(o, r["labels"], 5) for o, r in zip(orders, rows)) / n, 4),
            "recall@10": round(sum(recall_at_k(o, r["labels"], 10) for o, r in zip(orders, rows)) / n, 4),
            "mrr@10": round(sum(reciprocal_rank(o, r["labels"], 10) for o, r in zip(orders, rows)) / n, 4)}


def rescored(extra):
    """An order function: the hybrid's score plus `extra(row)` per candidate."""
    def order(row):
        s = np.asarray([c["score"] for c in row["cands"]]) + np.asarray(extra(row), dtype=float)
        return [row["cands"][i]["key"] for i in np.argsort(-s, kind="stable")]
    return order


def with_companions(field: str):
    def order_of(row) -> list:
        order = [c["key"] for c in row["cands"]]
        for c in row["cands"][:2]:
            if c[field] and c[field] not in order[:5]:
                if c[field] in order:
                    order.remove(c[field])
                order.insert(order.index(c["key"]) + 1, c[field])
        return order
    return order_of


def inserted(picks_of, at: int):
    """An order function: the articles `picks_of(row)` gives, not already in the top 5, placed at rank `at`."""
    def order_of(row) -> list:
        order = [c["key"] for c in row["cands"]]
        picks = [k for k in dict.fromkeys(picks_of(row)) if k not in order[:5]]
        rest = [k for k in order if k not in picks]
        return rest[: at - 1] + picks + rest[at - 1:]
    return order_of


def probes(article_in: Counter, law_in: Counter) -> dict:
    domain = is_domain_law
    out = {"hybrid": lambda row: [c["key"] for c in row["cands"]],
           "companion (top-2, liability match)": with_companions("companion"),
           "companion (top-2, penalty search)": with_companions("searched"),
           "parts: each sentence's best at 2": inserted(lambda row: row["parts"], 2)}
    for part in GENERAL_PARTS:
        out[f"general part: {part} best at 5"] = inserted(
            lambda row, part=part: [row["general"][part]] if part in row["general"] else [], 5)
    for w in (0.25, 0.5, 1.0):
        for name, pool in (("max", max), ("mean", np.mean)):
            out[f"clauses {name} w={w}"] = rescored(
                lambda row, w=w, pool=pool: w * _z([pool(c["clauses"]) for c in row["cands"]])
                if row["cands"] and row["cands"][0]["clauses"] else [0.0] * len(row["cands"]))
    for b in (0.2, 0.5):
        out[f"domain law b={b}"] = rescored(lambda row, b=b: [b * domain(c["law"]) for c in row["cands"]])
    for w in (0.1, 0.4):
        out[f"article in-degree w={w}"] = rescored(
            lambda row, w=w: [w * math.log1p(article_in.get(c["key"][:2], 0)) for c in row["cands"]])
        out[f"law in-degree w={w}"] = rescored(
            lambda row, w=w: [w * math.log1p(law_in.get(c["law"], 0)) for c in row["cands"]])
    return out


def main() -> int:
    args = parse_args()
    retriever = dense_retriever(args)
    liability = LiabilityIndex(retriever.catalog)
    article_in, law_in = citation_counts(retriever)
    results: dict = {"when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sets": {}}
    for path in args.set:
        t0 = time.perf_counter()
        rows = collect(retriever, load_questions(path), liability)
        hybrid = [[c["key"] for c in row["cands"]] for row in rows]
        depth = {f"recall@{k}": round(sum(recall_at_k(o, r["labels"], k) for o, r in zip(hybrid, rows)) / len(rows), 4)
                 for k in (10, 20, 30, 50, 100)}
        table = {name: score(rows, fn) for name, fn in probes(article_in, law_in).items()}
        parts = civil_code_depth(rows, hybrid)
        results["sets"][path.stem] = {"n": len(rows), "depth": depth, "civil_code_depth": parts, "probes": table,
                                      "collect_s": round(time.perf_counter() - t0, 1)}
        base = table["hybrid"]
        print(f"\n{path.stem} (n={len(rows)})  hybrid depth: " + "  ".join(f"{k} {v:.3f}" for k, v in depth.items()))
        for part, d in parts.items():
            print(f"  民法典 {part}: {d['labels']} labels, in top 10/30/100: "
                  f"{d['in top 10']:.2f} / {d['in top 30']:.2f} / {d['in top 100']:.2f}")
        print(f"{'probe':40s} {'R@5':>7s} {'R@10':>7s} {'MRR':>7s}   ΔR@10   ΔMRR")
        for name, m in table.items():
            print(f"{name:40s} {m['recall@5']:7.3f} {m['recall@10']:7.3f} {m['mrr@10']:7.3f}"
                  f"  {m['recall@10'] - base['recall@10']:+.3f}  {m['mrr@10'] - base['mrr@10']:+.3f}", flush=True)
    out = Path(__file__).with_name("results") / "retrieval_probes.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
