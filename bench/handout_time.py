"""Time to build a training handout (and to export it) for three topics, one warm process.

Usage: python bench/handout_time.py [--index-dir index] [--topic 危险废物 --topic ...] [--repeat 3] [--out DIR]
Prints per topic: build seconds (median of --repeat), Markdown and docx export ms, and the handout's
size (provisions, checklist items, liability rows, quiz questions, appendix articles); writes
bench/results/handout_time.json. The first build of a process also parses the laws' liability
articles and distractor pools, so it is reported separately. Load average is shown: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pufa.assistant import Assistant  # noqa: E402
from pufa.handout import build_handout  # noqa: E402
from pufa.handout_export import to_docx, to_markdown  # noqa: E402
from pufa.settings import Settings, apply_offline_defaults  # noqa: E402

TOPICS = ("危险废物", "排污许可", "行政复议与诉讼")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index-dir", type=Path)
    ap.add_argument("--topic", action="append")
    ap.add_argument("--audience", default="enterprise")
    ap.add_argument("--length", default="standard")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()))
    args = ap.parse_args()
    apply_offline_defaults()
    t0 = time.perf_counter()
    assistant = Assistant.from_settings(Settings.from_env(index_dir=args.index_dir))
    open_s = time.perf_counter() - t0
    rows = []
    for topic in args.topic or TOPICS:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            handout = build_handout(assistant, topic, args.audience, args.length)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        markdown = to_markdown(handout)
        md_ms = (time.perf_counter() - t) * 1000
        (args.out / f"handout_{topic}.md").write_text(markdown, encoding="utf-8")
        t = time.perf_counter()
        to_docx(handout, args.out / f"handout_{topic}.docx")
        docx_ms = (time.perf_counter() - t) * 1000
        row = {"topic": topic, "first_build_s": round(times[0], 2), "build_s_median": round(statistics.median(times), 2),
               "markdown_ms": round(md_ms, 1), "docx_ms": round(docx_ms, 1),
               "provisions": sum(len(s.provisions) for s in handout.sections), "checklist": len(handout.checklist),
               "liability_rows": len(handout.liabilities), "quiz": len(handout.quiz), "appendix": len(handout.appendix)}
        rows.append(row)
        print(f"{topic:<10} build first {row['first_build_s']:.2f} s, median {row['build_s_median']:.2f} s; "
              f"md {md_ms:.0f} ms, docx {docx_ms:.0f} ms; {row['provisions']} provisions, {row['checklist']} checklist, "
              f"{row['liability_rows']} liability rows, {row['quiz']} quiz, {row['appendix']} appendix articles")
    doc = {"index_open_s": round(open_s, 2), "audience": args.audience, "length": args.length, "repeat": args.repeat,
           "loadavg": [round(x, 2) for x in os.getloadavg()], "topics": rows}
    print(f"index open {open_s:.1f} s; load average {doc['loadavg']}")
    out = ROOT / "bench" / "results" / "handout_time.json"
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
