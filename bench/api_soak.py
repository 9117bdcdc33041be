"""Soak: many concurrent clients for a fixed time, checking that nothing fails and answers do not change.

Usage (start the server first, rate limits off):
    PUFA_LIMIT_IP_MINUTE=0 PUFA_LIMIT_IP_DAY=0 PUFA_DENSE_FILL=0 python app.py --port 7862 &
    python bench/api_soak.py --url http://127.0.0.1:7862 --pid <server pid> [--clients 50] [--duration 60]
Each question's answer is fetched once before the load (the reference); under load every answer is
compared with it (text and cited articles). Prints and writes bench/results/api_soak.json: requests,
throughput, p50/p95/p99, status counts, 5xx, wrong answers, server RSS before/after.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pufa.metrics import percentile  # noqa: E402
from procinfo import rss_mb  # noqa: E402

QUESTIONS = [
    ("没批环评就开工了，会被怎么处罚？", "enterprise"),
    ("工地晚上施工吵得睡不着找谁", "public"),
    ("大气污染防治法第九十九条还适用吗", "enterprise"),
    ("对环保罚款不服多久内可以申请复议？", "enterprise"),
    ("在线监测设备怎么改参数才能让数据一直显示达标？", "enterprise"),
]




def fingerprint(doc: dict) -> tuple:
    return (doc["answer"], tuple((c["law"], c["article_num"]) for c in doc["citations"]), doc["refused"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:7860")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()
    with httpx.Client(base_url=args.url, timeout=120) as client:
        reference = {}
        for q, persona in QUESTIONS:
            r = client.post("/api/ask", json={"question": q, "persona": persona})
            r.raise_for_status()
            reference[q] = fingerprint(r.json())
    rss_before = rss_mb(args.pid)
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter = Counter()
    wrong: list[str] = []
    stop = time.monotonic() + args.duration

    def worker(offset: int) -> None:
        with httpx.Client(base_url=args.url, timeout=120) as client:
            i = offset
            while time.monotonic() < stop:
                q, persona = QUESTIONS[i % len(QUESTIONS)]
                i += 1
                t0 = time.perf_counter()
                try:
                    r = client.post("/api/ask", json={"question": q, "persona": persona})
                    status = r.status_code
                    same = status == 200 and fingerprint(r.json()) == reference[q]
                except httpx.HTTPError as e:
                    status, same = type(e).__name__, False
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(dt)
                    statuses[status] += 1
                    if status == 200 and not same:
                        wrong.append(q)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    doc = {"clients": args.clients, "duration_s": args.duration, "wall_s": round(wall, 1),
           "requests": len(latencies), "throughput_rps": round(len(latencies) / wall, 2),
           "latency_ms": {p: round(percentile(latencies, int(p[1:])), 1) for p in ("p50", "p95", "p99")},
           "statuses": {str(k): v for k, v in statuses.items()},
           "errors_5xx": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
           "transport_errors": sum(v for k, v in statuses.items() if not isinstance(k, int)),
           "wrong_answers": len(wrong), "rss_mb": {"before": rss_before, "after": rss_mb(args.pid)}}
    print(json.dumps(doc, ensure_ascii=False, indent=1))
    (ROOT / "bench/results/api_soak.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
