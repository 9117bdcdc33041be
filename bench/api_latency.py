"""Latency of POST /api/ask over loopback: N sequential requests from one client (default 50).

Usage (server started with the rate limits off, see bench/api_load.py):
    python bench/api_latency.py --url http://127.0.0.1:7861 [--n 50] [--pid <server pid>]
Writes bench/results/api_latency.json: p50/p95/p99 of the whole HTTP round trip (JSON answer
document, public persona), beside the same questions answered in-process if --compare is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from api_load import call, run  # noqa: E402
from pufa.evaluation import load_questions  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:7860")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--set", type=Path, default=ROOT / "eval/questions/env_dev.jsonl")
    args = ap.parse_args()
    questions = [q.question for q in load_questions(args.set)]
    call(httpx.Client(base_url=args.url, timeout=60), "/api/ask", "预热")
    load = [round(os.getloadavg()[0], 2)]
    doc = run(args.url, "/api/ask", questions, 1, count=args.n, pid=args.pid)
    doc |= {"n": args.n, "load_average": load + [round(os.getloadavg()[0], 2)], "cpus": os.cpu_count()}
    print(json.dumps(doc, ensure_ascii=False, indent=1))
    out = ROOT / "bench/results/api_latency.json"
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
