"""Time to the first visible answer text and to the complete answer, in headless Chromium.

Against a running app (`python app.py`): asks each question in a fresh page, as a person would
(type, Enter), and measures from the key press to (a) the first answer text on screen and (b) the
final, verified answer with its source cards. Writes bench/results/app_browser.json.

    python bench/app_browser.py --url http://127.0.0.1:7860
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

QUESTIONS = ["未批先建会罚多少？", "排污许可证过期了还能排放吗？", "收到行政处罚决定书后多久内可以申请行政复议？",
             "大气污染防治法第九十九条现在还有效吗？", "邻居装修噪声太大可以向谁投诉？", "首次违法一定会被罚款吗？"]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def main() -> int:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:7860")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "app_browser.json")
    args = p.parse_args()
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS, headless=True)
        for question in QUESTIONS:
            page = browser.new_page(viewport={"width": 1100, "height": 1000}, locale="zh-CN")
            page.set_default_timeout(120_000)
            page.goto(args.url + "/")
            box = page.get_by_label("您的问题")
            box.wait_for()
            page.locator("#pufa-building").wait_for(state="hidden")
            box.fill(question)
            t0 = time.perf_counter()
            box.press("Enter")
            page.locator("#pufa-chat .pufa-answer p:not(.pufa-pending)").first.wait_for()
            first = time.perf_counter() - t0
            page.locator("#pufa-chat .pufa-final").first.wait_for()
            rows.append({"question": question, "first_text_s": round(first, 3),
                         "complete_s": round(time.perf_counter() - t0, 3)})
            print(rows[-1])
            page.close()
        browser.close()
    doc = {"url": args.url, "questions": rows,
           "first_text_median_s": round(statistics.median(r["first_text_s"] for r in rows), 3),
           "complete_median_s": round(statistics.median(r["complete_s"] for r in rows), 3),
           "complete_max_s": max(r["complete_s"] for r in rows)}
    print(json.dumps({k: v for k, v in doc.items() if k != "questions"}, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
