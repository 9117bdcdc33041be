"""LLM backend under faults: 1,000 failing calls per fault against the loopback OpenAI stub, then open
file descriptors, threads and RSS compared with before (prints them; writes bench/results/llm_faults.json).

    python bench/llm_faults.py              # 1,000 per fast fault, 20 per slow one
    python bench/llm_faults.py -n 200 --slow 5

Fast faults (down, HTTP 500, garbage JSON, garbage SSE, stream cut, empty reply) alternate complete() and
stream() on one long-lived backend, as the assistant uses it. Slow faults (sleep past the timeout, a
trickle of bytes) measure how far past the deadline a call ends. Every call must raise LLMError.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from openai_stub import Fault, OpenAIStub, unused_port  # noqa: E402

from pufa.answer import Message  # noqa: E402
from pufa.errors import LLMError  # noqa: E402
from pufa.llm import OpenAICompatibleBackend  # noqa: E402
from pufa.metrics import percentile  # noqa: E402
from pufa.settings import Settings  # noqa: E402

MESSAGES = [Message("system", "只依据来源回答。[1] ……"), Message("user", "未取得排污许可证排放大气污染物怎么处罚？")]
FAST = {"down": None, "http_500": Fault("http", status=500), "garbage": Fault("garbage"),
        "garbage_sse": Fault("garbage_sse"), "cut": Fault("cut", after=2), "empty": Fault("empty")}
SLOW = {"slow": Fault("slow", delay=30), "trickle": Fault("trickle", step=1, interval=0.02)}
EXPECTED = {"down": "down", "http_500": "http", "garbage": "garbage", "garbage_sse": "garbage", "cut": "cut",
            "empty": "empty", "slow": "timeout", "trickle": "timeout"}


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return round(kb / 1024, 1)


def settle(threads: int, wait: float = 3.0) -> int:
    end = time.monotonic() + wait
    while threading.active_count() > threads and time.monotonic() < end:
        time.sleep(0.02)
    return threading.active_count()


def run(backend, stub, fault, n: int) -> dict:
    times, kinds = [], {}
    for i in range(n):
        if fault is not None:
            stub.script(fault)
        start = time.perf_counter()
        try:
            if i % 2:
                "".join(backend.stream(MESSAGES))
            else:
                backend.complete(MESSAGES)
        except LLMError as e:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        else:
            kinds["no error!"] = kinds.get("no error!", 0) + 1
        times.append((time.perf_counter() - start) * 1000)
    return {"calls": n, "kinds": kinds, "ms_p50": round(percentile(times, 50), 1),
            "ms_p95": round(percentile(times, 95), 1), "ms_max": round(max(times), 1)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000, help="calls per fast fault")
    ap.add_argument("--slow", type=int, default=20, help="calls per slow fault")
    ap.add_argument("--timeout", type=float, default=0.3, help="PUFA_LLM_TIMEOUT for the slow faults")
    args = ap.parse_args()
    logging.getLogger("pufa.llm").setLevel(logging.ERROR)  # one warning per failure is the point, not output

    out: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                 "command": "python bench/llm_faults.py " + " ".join(sys.argv[1:]), "faults": {}}
    with OpenAIStub() as stub:
        def backend(url: str, timeout: float) -> OpenAICompatibleBackend:
            return OpenAICompatibleBackend(Settings(llm_base_url=url, llm_model="m", llm_api_key="sk-bench",
                                                    llm_timeout=timeout))

        # fast faults get a generous deadline, so a busy machine does not turn them into timeouts
        up, slow = backend(stub.base_url, 10.0), backend(stub.base_url, args.timeout)
        down = backend(f"http://127.0.0.1:{unused_port()}/v1", 10.0)
        for name, fault in FAST.items():  # warm up: imports, pools, the watchdog thread
            run(down if fault is None else up, stub, fault, 4)
        run(slow, stub, SLOW["trickle"], 2)
        up.complete(MESSAGES)
        before = {"fds": fds(), "threads": settle(threading.active_count()), "rss_mb": rss_mb()}
        for name, fault in FAST.items():
            out["faults"][name] = run(down if fault is None else up, stub, fault, args.n)
            print(f"{name:12s} {json.dumps(out['faults'][name], ensure_ascii=False)}  fds={fds()} "
                  f"threads={threading.active_count()} rss={rss_mb()} MB", flush=True)
        for name, fault in SLOW.items():
            result = run(slow, stub, fault, args.slow)
            result["ms_past_deadline_max"] = round(result["ms_max"] - args.timeout * 1000, 1)
            out["faults"][name] = result
            print(f"{name:12s} {json.dumps(result, ensure_ascii=False)}", flush=True)
        stub.stop()  # ends the slow handlers still sleeping, so their threads can be counted out
        after = {"fds": fds(), "threads": settle(before["threads"]), "rss_mb": rss_mb()}
        for b in (up, slow, down):
            b.close()
    out.update(before=before, after=after, timeout_s=args.timeout,
               max_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    out["load_average"] = os.getloadavg()
    out["ok"] = (all(r["kinds"] == {EXPECTED[name]: r["calls"]} for name, r in out["faults"].items())
                 and after["fds"] <= before["fds"] + 6 and after["threads"] <= before["threads"] + 6)
    print(json.dumps({k: out[k] for k in ("before", "after", "max_rss_mb", "ok")}, ensure_ascii=False))
    dest = ROOT / "bench" / "results" / "llm_faults.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
