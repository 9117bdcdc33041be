"""Simultaneous chat sessions against a running app (`python app.py`), through the Gradio API.

Each session is its own gradio_client (its own Gradio session) and asks a question and a follow-up,
all sessions starting together. Prints latency percentiles, errors and the server's RSS, and writes
bench/results/app_sessions.json. Run it against servers started with different
PUFA_QUEUE_CONCURRENCY values to choose the queue setting.

    python app.py --port 7871 &            # PUFA_QUEUE_CONCURRENCY=1|2|4|8
    python bench/app_sessions.py --url http://127.0.0.1:7871 --sessions 20 --pid <server pid>
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pufa.settings import apply_offline_defaults  # noqa: E402
from procinfo import rss_mb  # noqa: E402

QUESTIONS = [("未批先建会罚多少？", "那如果是报告表呢？"), ("排污许可证过期了还能排放吗？", "会罚多少钱？"),
             ("收到行政处罚决定书后多久内可以申请行政复议？", "可以直接起诉吗？"),
             ("大气污染防治法第九十九条现在还有效吗？", "现在对应哪一条？"), ("邻居装修噪声太大可以向谁投诉？", "晚上几点以后不能施工？")]




def session(url: str, i: int, barrier: threading.Barrier, out: list) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    first, follow = QUESTIONS[i % len(QUESTIONS)]
    barrier.wait()
    history: list = []
    for question in (first, follow):
        t0 = time.perf_counter()
        try:
            job = client.submit(question, "enterprise" if i % 2 == 0 else "public", history, api_name="/chat")
            result = job.result(timeout=300)
            elapsed = time.perf_counter() - t0
            messages = result[0]
            content = json.dumps(messages[-1]["content"], ensure_ascii=False) if messages else ""
            ok = "pufa-final" in content and "pufa-error" not in content
            history = messages
            out.append({"session": i, "question": question, "seconds": elapsed, "ok": ok,
                        "error": None if ok else content[:300]})
        except Exception as e:  # counted, reported
            out.append({"session": i, "question": question, "seconds": time.perf_counter() - t0, "ok": False,
                        "error": f"{type(e).__name__}: {e}"[:300]})


def main() -> int:
    apply_offline_defaults()  # gradio_client looks up huggingface.co unless HF_HUB_OFFLINE=1
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:7860")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--pid", type=int, help="server process id, for its RSS")
    p.add_argument("--label", default="", help="e.g. the queue concurrency of the server")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "app_sessions.json")
    args = p.parse_args()
    rss_before = rss_mb(args.pid)
    results: list = []
    barrier = threading.Barrier(args.sessions)
    threads = [threading.Thread(target=session, args=(args.url, i, barrier, results)) for i in range(args.sessions)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    times = sorted(r["seconds"] for r in results)
    q = statistics.quantiles(times, n=20) if len(times) > 1 else times * 19
    doc = {"label": args.label, "sessions": args.sessions, "requests": len(results),
           "errors": sum(not r["ok"] for r in results), "wall_s": round(wall, 2),
           "p50_s": round(statistics.median(times), 3), "p95_s": round(q[18], 3), "max_s": round(times[-1], 3),
           "server_rss_mb_before": rss_before, "server_rss_mb_after": rss_mb(args.pid),
           "error_samples": [r["error"] for r in results if not r["ok"]][:5]}
    print(json.dumps(doc, ensure_ascii=False, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.out.read_text()) if args.out.exists() else []
    existing = [r for r in existing if r.get("label") != args.label or not args.label] + [doc]
    args.out.write_text(json.dumps(existing, ensure_ascii=False, indent=1))
    return 1 if doc["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
