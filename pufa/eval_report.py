"""Writing evaluation results: the per-question run file, a Markdown report and a bar chart."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from .evaluation import SystemResult

METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def write_run(results: list[SystemResult], set_name: str, runs_dir: Path, params: dict) -> Path:
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = runs_dir / f"{stamp}-{set_name}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"run": stamp, "set": set_name, "params": params}, ensure_ascii=False) + "\n")
        for res in results:
            for row, ms in zip(res.per_question, res.latencies_ms):
                f.write(json.dumps({"system": res.name, "latency_ms": round(ms, 2), **row}, ensure_ascii=False) + "\n")
    return path


def write_report(results: list[SystemResult], set_name: str, reports_dir: Path, k: int, context: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports_dir.mkdir(parents=True, exist_ok=True)
    summaries = {r.name: r.summary(k) for r in results}
    lines = [f"# Retrieval evaluation: {set_name}", "",
             f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by `python -m pufa eval --compare`.",
             "", *(f"- {key}: {value}" for key, value in context.items()), "",
             "| system | n | R@1 | R@5 | R@10 (95 % CI) | MRR@10 (95 % CI) | nDCG@10 | miss@10 | p50 ms | p95 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in summaries.items():
        r10, mrr = s["ci95"]["recall@10"], s["ci95"]["mrr@10"]
        lines.append(f"| {name} | {s['n']} | {s['recall@1']:.3f} | {s['recall@5']:.3f} | "
                     f"{s['recall@10']:.3f} ({r10[0]:.3f}–{r10[1]:.3f}) | {s['mrr@10']:.3f} ({mrr[0]:.3f}–{mrr[1]:.3f}) | "
                     f"{s['ndcg@10']:.3f} | {s['miss@10']:.3f} | {s['latency_ms']['p50']:.1f} | {s['latency_ms']['p95']:.1f} |")
    best = results[0]
    if len(results) > 1:
        lines += ["", f"## {best.name} against each system, same questions (paired bootstrap, 2,000 resamples)", "",
                  "| versus | ΔR@10 | 95 % CI | p(not better) | ΔMRR@10 | 95 % CI | p(not better) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for other in results[1:]:
            d = best.versus(other)
            r, m = d["recall@10"], d["mrr@10"]
            lines.append(f"| {other.name} | {r['diff']:+.3f} | {r['ci'][0]:+.3f} to {r['ci'][1]:+.3f} | "
                         f"{r['p_not_better']:.3f} | {m['diff']:+.3f} | {m['ci'][0]:+.3f} to {m['ci'][1]:+.3f} | "
                         f"{m['p_not_better']:.3f} |")
    lines += ["", f"## Recall@10 by labelled law ({best.name})", "", "| law | questions | R@10 |", "|---|---:|---:|"]
    lines += [f"| {law} | {n} | {r:.3f} |" for law, n, r in best.per_law()]
    png = reports_dir / f"{set_name}.png"
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(summaries), 1)
    for i, (name, s) in enumerate(summaries.items()):
        ax.bar([j + i * width for j in range(len(METRICS))], [s[m] for m in METRICS], width, label=name)
    ax.set_xticks([j + width * (len(summaries) - 1) / 2 for j in range(len(METRICS))], METRICS)
    ax.set_ylim(0, 1)
    ax.set_title(f"{set_name}: systems compared on the same questions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    lines += ["", f"![systems compared]({png.name})", ""]
    path = reports_dir / f"{set_name}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
