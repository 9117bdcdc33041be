"""Cold start: process start → first answer, with an existing index.

Usage: python bench/cold_start.py [--index-dir index] [--runs 3] [--no-copy]

Each run starts a fresh Python process that imports Pufa, opens the index (catalog, lexical index,
dense store with the configured embedder), builds the answer pipeline and answers one question;
the child reports when each stage ended, measured from just before the parent spawned it. Two
paths are timed: `assistant` (what `python -m pufa ask` does: `Assistant.from_settings`) and
`runtime` (what `python app.py` does before the HTTP server: `Runtime.start()`, which opens the
index at once and checks the corpus in a background thread, dense filling off).

The index is copied to a temp dir first (unless --no-copy), so the source index is never written
(the app's background check may rebuild a changed corpus, Chroma may touch its files); the copy
also means the files are in the page cache: a warm-disk cold start. Prints a table and writes
bench/results/cold_start.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "企业没有排污许可证就排放废气怎么处罚"

CHILD = r"""
import json, sys, time
marks = {}
def mark(name):
    marks[name] = time.time()
mark("interpreter")
from pufa.settings import Settings, apply_offline_defaults
apply_offline_defaults()
settings = Settings.from_env(index_dir=sys.argv[2], dense_fill=0)
if sys.argv[1] == "assistant":
    from pufa.assistant import Assistant
    mark("imported")
    assistant = Assistant.from_settings(settings)
else:
    from pufa.web.runtime import Runtime
    mark("imported")
    runtime = Runtime(settings)
    runtime.start(background=True)
    if not runtime.wait_ready(timeout=600):
        raise SystemExit(f"runtime not ready: {runtime.state} {runtime.error}")
    assistant = runtime.services.assistant
mark("index_open")
answer = assistant.ask(sys.argv[3])
mark("first_answer")
second = time.time()
assistant.ask(sys.argv[3])
marks["second_answer_ms"] = (time.time() - second) * 1000
# VmHWM of this process (ru_maxrss would carry the parent's peak across fork+exec)
marks["rss_mb"] = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
marks["citations"] = len(answer.citations)
marks["refused"] = answer.refused
print(json.dumps(marks))
"""

STAGES = ("interpreter", "imported", "index_open", "first_answer")


def run_once(path: str, index_dir: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, path, str(index_dir), QUESTION], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"{path} run failed:\n{out.stderr[-3000:]}")
    marks = json.loads(out.stdout.strip().splitlines()[-1])
    row = {stage: round(marks[stage] - started, 2) for stage in STAGES}
    row.update(second_answer_ms=round(marks["second_answer_ms"], 1), peak_rss_mb=round(marks["rss_mb"]),
               citations=marks["citations"], refused=marks["refused"])
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index-dir", type=Path, default=ROOT / "index")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--paths", default="assistant,runtime")
    ap.add_argument("--no-copy", action="store_true", help="open the index in place (the app may write to it)")
    args = ap.parse_args()
    source = args.index_dir.resolve()
    if not (source / "CURRENT").exists():
        raise SystemExit(f"no index in {source}; build it with: python -m pufa index")
    tmp = None
    index_dir = source
    if not args.no_copy:
        tmp = Path(tempfile.mkdtemp(prefix="pufa-cold-"))
        index_dir = tmp / "index"
        current = (source / "CURRENT").read_text(encoding="utf-8").strip()
        shutil.copytree(source / "builds" / current, index_dir / "builds" / current)
        shutil.copy2(source / "CURRENT", index_dir / "CURRENT")
        if (source / "dense").exists():
            shutil.copytree(source / "dense", index_dir / "dense")
    load = os.getloadavg()
    results: dict[str, list[dict]] = {}
    try:
        for _ in range(args.runs):
            for path in args.paths.split(","):
                row = run_once(path, index_dir)
                results.setdefault(path, []).append(row)
                print(f"{path:9} " + "  ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = {path: {k: statistics.median(r[k] for r in rows) for k in (*STAGES, "second_answer_ms", "peak_rss_mb")}
               for path, rows in results.items()}
    print("\nmedian over runs, seconds from process spawn (second answer in ms, peak RSS in MB):")
    print(f"{'path':10}{'python up':>10}{'imports':>9}{'index open':>12}{'1st answer':>12}{'2nd (ms)':>10}{'RSS':>7}")
    for path, s in summary.items():
        print(f"{path:10}{s['interpreter']:>10}{s['imported']:>9}{s['index_open']:>12}{s['first_answer']:>12}"
              f"{s['second_answer_ms']:>10}{s['peak_rss_mb']:>7}")
    manifest = json.loads((source / "builds" / (source / "CURRENT").read_text().strip() / "manifest.json").read_text())
    record = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "question": QUESTION, "runs": args.runs,
        "index": {"source": str(source), "copied": not args.no_copy, "embedder": manifest["embedder"],
                  "counts": manifest["counts"]},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_before": [round(x, 2) for x in load],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "median": summary, "runs_detail": results,
    }
    out = ROOT / "bench" / "results" / "cold_start.json"
    out.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
