"""Load on the HTTP API over loopback: fixed-duration runs at several concurrency levels.

Usage (start the server first, with the rate limits off so the bench measures answering, not 429s):
    PUFA_LIMIT_IP_MINUTE=0 PUFA_LIMIT_IP_DAY=0 PUFA_DENSE_FILL=0 python app.py --port 7861 &
    python bench/api_load.py --url http://127.0.0.1:7861 --pid <server pid> [--levels 1,10,20,50] [--duration 20]
For each route (/api/ask, /api/search) and each level: completed requests, throughput, p50/p95/p99
latency, errors by status, and the server's RSS after the run. Writes bench/results/api_load.json.
Questions cycle through eval/questions/env_dev.jsonl, each client starting at its own offset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pufa.evaluation import load_questions  # noqa: E402
from pufa.metrics import percentile  # noqa: E402
from procinfo import rss_mb  # noqa: E402




def call(client: httpx.Client, route: str, question: str) -> httpx.Response:
    if route == "/api/ask":
        return client.post(route, json={"question": question, "persona": "public"})
    return client.get(route, params={"q": question, "k": 10})


def run(url: str, route: str, questions: list[str], concurrency: int, duration: float | None = None,
        count: int | None = None, pid: int | None = None) -> dict:
    """`concurrency` clients in threads, each sending one request after another, for `duration` s or `count` requests."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + duration if duration else None
    remaining = [count or 0]

    def client_loop(offset: int) -> None:
        i = offset
        with httpx.Client(base_url=url, timeout=120) as client:
            while True:
                with lock:
                    if count is not None:
                        if remaining[0] <= 0:
                            return
                        remaining[0] -= 1
                if deadline is not None and time.monotonic() >= deadline:
                    return
                q = questions[i % len(questions)]
                i += 1
                t0 = time.perf_counter()
                try:
                    status = str(call(client, route, q).status_code)
                except httpx.HTTPError as e:
                    status = type(e).__name__
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    statuses[status] += 1
                    if status == "200":
                        latencies.append(ms)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(k * 7,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ok = statuses.get("200", 0)
    return {"route": route, "concurrency": concurrency, "wall_s": round(wall, 2), "ok": ok,
            "errors": {k: v for k, v in statuses.items() if k != "200"},
            "throughput_rps": round(ok / wall, 2),
            "latency_ms": {p: round(percentile(latencies, int(p[1:])), 1) if latencies else None
                           for p in ("p50", "p95", "p99")},
            "server_rss_mb": rss_mb(pid)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:7860")
    ap.add_argument("--pid", type=int, help="server process id, for its RSS")
    ap.add_argument("--levels", default="1,10,20,50")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per route and level")
    ap.add_argument("--routes", default="/api/ask,/api/search")
    ap.add_argument("--set", type=Path, default=ROOT / "eval/questions/env_dev.jsonl")
    args = ap.parse_args()
    questions = [q.question for q in load_questions(args.set)]
    health = httpx.get(args.url + "/api/health", timeout=10).json()
    assert health["status"] == "ok", health
    call(httpx.Client(base_url=args.url, timeout=60), "/api/ask", "预热")
    runs = []
    load = [round(os.getloadavg()[0], 2)]
    rss_start = rss_mb(args.pid)
    for route in args.routes.split(","):
        for level in (int(x) for x in args.levels.split(",")):
            result = run(args.url, route, questions, level, duration=args.duration, pid=args.pid)
            print(json.dumps(result, ensure_ascii=False), flush=True)
            runs.append(result)
    load.append(round(os.getloadavg()[0], 2))
    doc = {"url": args.url, "duration_s": args.duration, "questions": len(questions), "server_rss_mb_start": rss_start,
           "index": health["index"], "load_average": load, "cpus": os.cpu_count(), "runs": runs}
    out = ROOT / "bench/results/api_load.json"
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
