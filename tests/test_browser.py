"""The real app in headless Chromium, as a person uses it (Debian's chromium driven by Playwright).

The app (real Assistant, extractive) serves a small real index built in a temp dir with the hash
embedder, from uvicorn in a thread on a free port. Screenshots and timings go to tests/artifacts/
(or $PUFA_TEST_ARTIFACTS). A missing browser is a failure with instructions, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from pufa.feedback import FeedbackStore

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("PUFA_TEST_ARTIFACTS", Path(__file__).with_name("artifacts")))
# Flags for a closed network (no background connections, no QUIC) and a root user in CI.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
TIMEOUT_MS = 60_000


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is not installed, so the browser test cannot run. Install it with "
                    "`apt-get install -y chromium fonts-noto-cjk` (.ci/run does this).", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(mini_index, tmp_path_factory):
    from live_server import serve

    from pufa.web.runtime import Runtime
    from pufa.web.server import create_app

    data = tmp_path_factory.mktemp("appdata")
    settings = mini_index.with_(dense_fill=0, data_dir=data, port=free_port(), admin_token="browser-test")
    runtime = Runtime(settings)  # the real Assistant
    runtime.start(background=False)
    assert runtime.ready, runtime.error
    store = FeedbackStore.in_dir(data)
    app = create_app(settings, runtime, store)
    base, server, thread = serve(app, settings.port)
    yield base, store
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -r requirements-dev.txt", pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def new_page(browser, width=1100, height=1000):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))  # an alert() would be XSS
    return page


def settle(page) -> None:
    """Wait until Gradio has rendered the app and run its load events (the building banner is decided)."""
    page.get_by_label("您的问题").wait_for()
    page.locator("#pufa-building").wait_for(state="hidden")


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def ask(page, question: str) -> tuple[float, float]:
    """Type a question, press Enter; seconds to the first visible answer text and to the final answer."""
    before = page.locator("#pufa-chat .pufa-final").count()
    box = page.get_by_label("您的问题")
    box.fill(question)
    t0 = time.perf_counter()
    box.press("Enter")
    page.locator("#pufa-chat .bot-row").nth(before).locator(".pufa-answer p:not(.pufa-pending)").first.wait_for()
    first = time.perf_counter() - t0
    page.locator("#pufa-chat .pufa-final").nth(before).wait_for()
    return first, time.perf_counter() - t0


def contrast(page, selector: str) -> float:
    """WCAG contrast ratio of an element's text colour against the nearest opaque background."""
    return page.eval_on_selector(selector, """(el) => {
        const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
        const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                                     return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
        let bg = null, node = el;
        while (node && node.nodeType === 1) { const c = rgb(getComputedStyle(node).backgroundColor);
            if (c.length < 4 || c[3] > 0.9) { if (c.length >= 3 && !(c.length === 4 && c[3] === 0)) { bg = c; break; } } node = node.parentElement; }
        bg = bg || [255, 255, 255];
        const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg);
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }""")


def test_chat_source_card_feedback_and_follow_up(served, browser):
    base, store = served
    page = new_page(browser)
    page.goto(base + "/")
    page.get_by_label("您的问题").wait_for()
    settle(page)
    assert "信息仅供参考，不构成法律意见" in page.inner_text("#pufa-header")
    shot(page, "01_start")

    first, complete = ask(page, "未批先建会罚多少？")
    answer = page.locator("#pufa-chat .pufa-final").first
    assert answer.locator("a.pufa-cite").count() >= 1  # inline [n] markers link to the cards
    cards = answer.locator(".pufa-card")
    assert cards.count() >= 1
    shot(page, "02_answer")

    # Open a source card from its [n] marker: the card is the link's target and opens on click.
    marker = answer.locator("a.pufa-cite").first
    target = marker.get_attribute("href").lstrip("#")
    card = page.locator(f"#{target}")
    card.locator("summary").click()
    assert card.locator("details").get_attribute("open") is not None
    assert card.locator(".pufa-text").is_visible()
    assert card.locator(".pufa-badge").inner_text() in ("现行有效", "已废止", "状态未知")
    assert card.locator("a[href^='/article/']").count() == 1
    shot(page, "03_source_card")

    # 复制最新回答: the answer's plain text with its numbered sources reaches the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.locator("#pufa-copy").click()
    page.get_by_text("已复制最新回答").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "来源：" in copied and "[1] 《" in copied and "<" not in copied

    # 👎 with a reason and a comment; the entry is in the SQLite store.
    page.locator("#pufa-chat .bot-row").first.hover()
    page.locator("#pufa-chat button[aria-label='踩'], #pufa-chat button[aria-label='Dislike']").first.click()
    page.get_by_label("引用有误").wait_for()
    page.get_by_label("引用有误").check()
    page.get_by_label("补充说明（可选）").fill("浏览器测试：第一条引用不对")
    page.locator("#pufa-fb-submit").click()
    page.get_by_text("反馈已提交").wait_for()
    items = store.list()
    assert items and items[0].rating == -1 and items[0].reason == "引用有误"
    assert items[0].comment == "浏览器测试：第一条引用不对" and items[0].question == "未批先建会罚多少？"
    shot(page, "04_feedback")

    # A follow-up keeps the conversation; 新对话 clears it.
    ask(page, "那如果是报告表呢？")
    assert page.locator("#pufa-chat .pufa-final").count() == 2
    page.locator("#pufa-new").click()
    page.wait_for_function("document.querySelectorAll('#pufa-chat .bot-row').length === 0")

    timings = {"first_text_s": round(first, 3), "complete_s": round(complete, 3), "mode": "extractive",
               "index": "mini (hash embedder)"}
    (ARTIFACTS / "browser_timings.json").write_text(json.dumps(timings, ensure_ascii=False, indent=1))
    print(f"\nbrowser timings: {timings} (screenshots in {ARTIFACTS})")
    assert page.dialogs == []


def test_xss_payload_renders_as_text(served, browser):
    base, _ = served
    page = new_page(browser)
    page.goto(base + "/")
    page.get_by_label("您的问题").wait_for()
    settle(page)
    payload = '<img src=x onerror="window.__pufa_xss=1"> [x](javascript:window.__pufa_xss=2) 未批先建'
    ask(page, payload)
    assert page.evaluate("window.__pufa_xss === undefined")
    assert '<img src=x onerror="window.__pufa_xss=1">' in page.locator("#pufa-chat .user-row").first.inner_text()
    assert page.dialogs == []


def test_article_browser_by_url(served, browser):
    base, _ = served
    page = new_page(browser)
    page.goto(base + "/?law=大气污染防治法&num=99")
    assert "/article/" in page.url
    assert page.locator("h1").inner_text() == "《大气污染防治法》第九十九条"
    assert page.get_by_text("已废止").first.is_visible()
    assert page.get_by_role("heading", name="现行对应条文").is_visible()
    shot(page, "05_article_repealed")
    page.get_by_role("link", name="在全文中查看").click()
    page.wait_for_url("**/law/**")
    assert page.locator(".pufa-toc").is_visible()
    page.get_by_role("textbox", name="法律名称或简称").fill("处罚法")
    page.get_by_role("button", name="查找").click()
    page.wait_for_url("**/law/**")
    assert "行政处罚法" in page.locator("h1").inner_text()
    shot(page, "06_law_toc")


def test_accessibility_basics_keyboard_labels_contrast_and_375px(served, browser):
    base, _ = served
    page = new_page(browser, width=375, height=812)
    page.goto(base + "/")
    page.get_by_label("您的问题").wait_for()
    settle(page)
    # Keyboard only: Tab reaches the question box; Enter sends; the card summary opens with Enter.
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.closest('#pufa-question') !== null"):
            break
    else:
        pytest.fail("the question box cannot be reached with Tab")
    page.keyboard.type("排污许可证过期了还能排放吗？")
    page.keyboard.press("Enter")
    page.locator("#pufa-chat .pufa-final").first.wait_for()
    summary = page.locator("#pufa-chat .pufa-card summary").first
    summary.focus()
    page.keyboard.press("Enter")
    assert page.locator("#pufa-chat .pufa-card details").first.get_attribute("open") is not None
    # Labels: every text field and the persona choice have an accessible name.
    for label in ("您的问题", "企业", "公众"):
        assert page.get_by_label(label).count() >= 1, label
    # 375 px: nothing wider than the screen.
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 376, f"page is {overflow}px wide at 375px"
    shot(page, "07_mobile_375")
    for selector in ("#pufa-send", "#pufa-header .pufa-disclaimer", "#pufa-chat .pufa-card .pufa-meta",
                     "#pufa-chat .pufa-card .pufa-badge", "#pufa-chat .pufa-cite"):
        if page.locator(selector).count():
            ratio = contrast(page, selector)
            assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f}"
    page.goto(base + "/article/大气法/99")
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    shot(page, "08_article_375")
