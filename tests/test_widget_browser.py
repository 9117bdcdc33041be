"""The outreach widget in headless Chromium (Debian's chromium driven by Playwright), as the public uses it.

The real app (real Assistant, extractive) serves a small index built in a temp dir: two real laws
from the package database plus a folder guide whose title, headings, issuer and text are XSS
payloads. Host pages on other loopback ports embed the widget by iframe and by the script tag; one
of them is not an allowed origin. Screenshots go to tests/artifacts/ (or $PUFA_TEST_ARTIFACTS).
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from conftest import make_mini_db, write_config
from pufa.feedback import FeedbackStore
from test_browser import ARTIFACTS, browser, free_port, new_page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.browser

PRESETS = ["首次违法一定会被罚款吗？", "收到行政处罚决定书后多久内可以申请行政复议？", "噪声扰民可以怎么反映？",
           "对处罚不服可以申请听证吗？", "行政复议可以口头申请吗？", "行政处罚的时效是多久？"]
TITLE = '噪声投诉指南<img src=x onerror="window.__xss=11"><script>window.__xss=12</script>'
GUIDE = f"""# {TITLE}

## 投诉渠道<svg onload="window.__xss=13">

噪声扰民可以拨打投诉电话12345反映<img src=x onerror="window.__xss=21"> [点我](javascript:window.__xss=14) <a href="javascript:window.__xss=15">详情</a> </script><script>window.__xss=16</script> "><img src=x onerror=window.__xss=17> **加粗<img src=x onerror=window.__xss=18>** [1](javascript:alert(1))。

## 处理时限' onmouseover='window.__xss=19

环保部门收到噪声投诉后应当及时处理<iframe src="javascript:alert(2)"></iframe> ![x](x" onerror="window.__xss=20)。
"""
MANIFEST = f"file\ttitle\tlevel\tissuer\tstatus\n噪声投诉指南.md\t{TITLE}\t指南\t<b onmouseover=alert(3)>局</b>\t现行有效\n"
QUESTION_PAYLOADS = [
    '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"><svg onload="window.__xss=3"> 首次违法罚款吗',
    '[点我](javascript:window.__xss=4) </script><script>window.__xss=5</script> "><img src=x onerror=window.__xss=6> '
    "' onmouseover='window.__xss=7 <a href=\"javascript:window.__xss=8\">x</a> 行政复议期限",
    '**<iframe src="javascript:alert(9)">** ![x](x" onerror="alert(10)) [1](javascript:alert(1)) \\[2\\] 噪声扰民可以怎么反映',
]
HOST_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>合作网站</title></head>
<body style="font-family:sans-serif"><h1>合作网站：两个嵌入的普法助手</h1>
<iframe id="w1" src="{base}/widget" title="普法助手一" style="width:48%;height:700px;border:1px solid #999"></iframe>
<iframe id="w2" src="{base}/widget" title="普法助手二" style="width:48%;height:700px;border:1px solid #999"></iframe>
<script src="{base}/embed.js" data-label="问问普法助手" defer></script>
</body></html>"""


def _serve_dir(directory, port: int) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The app on one port; host pages on an allowed and on a blocked port."""
    from live_server import serve

    from pufa.embedders import HashEmbedder
    from pufa.indexer import build_index
    from pufa.settings import Settings
    from pufa.web.runtime import Runtime
    from pufa.web.server import create_app

    root = tmp_path_factory.mktemp("widget")
    docs = root / "docs"
    docs.mkdir()
    (docs / "噪声投诉指南.md").write_text(GUIDE, encoding="utf-8")
    (docs / "MANIFEST.tsv").write_text(MANIFEST, encoding="utf-8")
    db = make_mini_db(root / "laws.db", ("中华人民共和国行政处罚法", "中华人民共和国行政复议法"))
    presets = root / "questions.toml"
    presets.write_text("questions = [" + ", ".join(f'"{q}"' for q in PRESETS) + "]\n", encoding="utf-8")
    port, host_port, blocked_port = free_port(), free_port(), free_port()
    settings = Settings(index_dir=root / "index", corpus_config=write_config(root, db, [docs]), embedder="hash",
                        data_dir=root / "data", dense_fill=0, port=port, admin_token="widget-admin-token",
                        widget_questions=str(presets), kiosk_idle_seconds=2.0,
                        embed_origins=f"http://127.0.0.1:{host_port}", limit_session_minute=4, limit_ip_minute=500)
    emb = HashEmbedder()
    build_index(settings, emb.name, emb.dim)
    runtime = Runtime(settings, embedder=emb)  # the real Assistant
    runtime.start(background=False)
    assert runtime.ready, runtime.error
    app = create_app(settings, runtime, FeedbackStore.in_dir(root / "data"))
    base, server, _ = serve(app, port)
    pages = root / "host"
    pages.mkdir()
    (pages / "index.html").write_text(HOST_PAGE.format(base=base), encoding="utf-8")
    hosts = [_serve_dir(pages, host_port), _serve_dir(pages, blocked_port)]
    yield {"base": base, "host": f"http://127.0.0.1:{host_port}/index.html",
           "blocked": f"http://127.0.0.1:{blocked_port}/index.html", "settings": settings}
    for h in hosts:
        h.shutdown()
    server.should_exit = True


def widget_page(browser, url, width=1000, height=900):
    page = new_page(browser, width, height)
    page.goto(url)
    page.locator(".pw-preset").first.wait_for()
    return page


def ask(scope, question: str | None = None, preset: str | None = None):
    """Ask in a widget (page or frame); wait for this turn's final answer or error; the turn's locator."""
    before = scope.locator(".pw-turn").count()
    if preset:
        scope.get_by_role("button", name=preset).click()
    else:
        scope.locator("#pw-q").fill(question)
        scope.locator("#pw-send").click()
    turn = scope.locator(".pw-turn").nth(before)
    turn.locator(".pw-answer .pw-error, .pw-asof").first.wait_for()
    return turn


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_inert(page) -> None:
    for frame in page.frames:
        try:
            assert frame.evaluate("window.__xss === undefined"), f"payload ran in {frame.url}"
        except Exception as e:  # a frame refused by CSP has no script context to check
            if "payload ran" in str(e):
                raise
    assert page.dialogs == [], page.dialogs


def test_preset_question_streams_a_short_answer_with_tappable_citations(site, browser):
    page = widget_page(browser, site["base"] + "/widget")
    assert page.locator(".pw-preset").count() == len(PRESETS)
    assert "隐私说明" in page.locator(".pw-privacy").inner_text()
    shot(page, "widget_01_start")
    streamed = []
    page.on("request", lambda r: streamed.append(r.url) if r.url.endswith("/api/ask/stream") else None)
    turn = ask(page, preset="首次违法一定会被罚款吗？")
    assert streamed, "the widget did not use the streaming API"
    answer = turn.locator(".pw-answer").inner_text()
    assert "不予行政处罚" in answer and "法律依据" not in answer  # short: the sources are chips, not text
    chip = turn.locator(".pw-chip").first
    assert "《行政处罚法》第" in chip.inner_text()
    chip.click()
    article = turn.locator(".pw-article")
    assert article.is_visible() and "现行有效" in article.inner_text()
    assert article.locator("mark").count() >= 1  # the supporting sentence is highlighted
    assert article.locator("a").get_attribute("href").startswith("/article/")
    turn.locator(".pw-marker").first.click()  # an inline [n] opens/closes the same panel
    shot(page, "widget_02_answer_citation")
    # a follow-up in the same widget carries the conversation
    ask(page, "那如果是第二次呢？")
    assert len(page.evaluate("window.__pufaWidget.turns")) == 2
    assert_inert(page)


def test_qr_code_decodes_to_the_widget_url(site, browser):
    import io

    import zxingcpp
    from PIL import Image

    page = widget_page(browser, site["base"] + "/widget")
    page.locator("#pw-qr-btn").click()
    img = page.locator(".pw-qr-img")
    img.wait_for()
    png = img.screenshot()
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [r.text for r in results] == [site["base"] + "/widget"]


def test_two_embedded_widgets_keep_separate_conversations_and_the_script_tag(site, browser):
    page = new_page(browser, 1300, 1000)
    page.goto(site["host"])
    one, two = page.frame_locator("#w1"), page.frame_locator("#w2")
    one.locator(".pw-preset").first.wait_for()
    two.locator(".pw-preset").first.wait_for()
    ask(one, preset=PRESETS[0])
    ask(two, preset=PRESETS[1])
    ask(one, "行政处罚的时效是多久？")
    q1 = one.locator(".pw-question").all_inner_texts()
    q2 = two.locator(".pw-question").all_inner_texts()
    assert q1 == [PRESETS[0], "行政处罚的时效是多久？"] and q2 == [PRESETS[1]]
    frames = [f for f in page.frames if f.url.endswith("/widget")]
    sessions = {f.evaluate("window.__pufaWidget.session") for f in frames}
    assert len(frames) == 2 and len(sessions) == 2
    shot(page, "widget_03_two_iframes")
    # the floating button from embed.js opens a third, independent widget
    page.get_by_role("button", name="问问普法助手").click()
    floating = page.frame_locator(".pufa-embed-panel iframe")
    ask(floating, preset=PRESETS[4])
    assert floating.locator(".pw-turn").count() == 1
    shot(page, "widget_04_script_tag")
    page.get_by_role("button", name="关闭问问普法助手").click()
    assert not page.locator(".pufa-embed-panel").is_visible()
    assert_inert(page)


def test_a_site_not_allowed_cannot_frame_the_widget(site, browser):
    page = new_page(browser)
    page.goto(site["blocked"])
    page.wait_for_timeout(1500)
    widget_frames = [f for f in page.frames if f != page.main_frame]
    assert widget_frames, "the iframes were not created"
    for frame in widget_frames:  # refused by CSP frame-ancestors: no widget document inside
        assert frame.locator(".pw-preset").count() == 0


def test_kiosk_clears_the_conversation_after_idle_time(site, browser):
    page = widget_page(browser, site["base"] + "/widget?kiosk=1", 1280, 1024)
    assert page.locator(".pw-qr-img").is_visible()  # the QR code is on show in kiosk mode
    ask(page, preset=PRESETS[2])
    session = page.evaluate("window.__pufaWidget.session")
    shot(page, "widget_05_kiosk")
    page.wait_for_function("() => document.querySelectorAll('.pw-turn').length === 0", timeout=15_000)
    assert "下一位访客" in page.locator("#pw-status").inner_text()
    assert page.evaluate("window.__pufaWidget.turns.length") == 0
    assert page.evaluate("window.__pufaWidget.session") != session


def test_mobile_375px_layout(site, browser):
    page = widget_page(browser, site["base"] + "/widget", 375, 812)
    turn = ask(page, preset=PRESETS[1])
    turn.locator(".pw-chip").first.click()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 376, f"the widget is {width}px wide on a 375px screen"
    font = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.pw-answer')).fontSize)")
    assert font >= 17, "text too small to read"
    for box in page.locator(".pw-preset, .pw-send, .pw-chip").all()[:8]:
        assert box.bounding_box()["height"] >= 44  # finger-sized targets
    shot(page, "widget_06_mobile_375")


def test_rate_limit_shows_a_friendly_message(site, browser):
    page = widget_page(browser, site["base"] + "/widget")
    limit = site["settings"].limit_session_minute
    for i in range(limit):
        ask(page, f"行政复议可以口头申请吗？{i}")
    turn = ask(page, "行政复议可以口头申请吗？")
    message = turn.locator(".pw-error").inner_text()
    assert "您问得有点快了" in message and "秒后再试" in message
    shot(page, "widget_07_rate_limited")


def test_xss_payloads_in_questions_and_in_the_corpus_stay_text(site, browser):
    page = widget_page(browser, site["base"] + "/widget")
    for payload in QUESTION_PAYLOADS:
        turn = ask(page, payload)
        assert turn.locator(".pw-question").inner_text() == payload  # shown exactly as typed
    last = page.locator(".pw-turn").last  # the corpus guide answers the last one
    answer = last.locator(".pw-answer").inner_text()
    assert 'onerror="window.__xss=21"' in answer and "[点我](javascript:window.__xss=14)" in answer
    chip = last.locator(".pw-chip", has_text="噪声投诉指南").first
    assert TITLE in chip.inner_text()
    chip.click()
    panel = last.locator(".pw-article")
    assert "onmouseover" in panel.inner_text() or "window.__xss" in panel.inner_text()
    for el in page.locator(".pw-log *").all():  # give hover-triggered payloads their chance
        if el.is_visible():
            el.hover()
    # Only elements the widget itself creates exist in the conversation; every link is ours.
    tags = set(page.evaluate("Array.from(document.querySelectorAll('.pw-log *')).map(e => e.tagName.toLowerCase())"))
    assert tags <= {"article", "p", "div", "strong", "ul", "li", "blockquote", "button", "mark", "a"}, tags
    hrefs = page.evaluate("Array.from(document.querySelectorAll('.pw-log a')).map(a => a.getAttribute('href'))")
    assert hrefs and all(h.startswith("/article/") for h in hrefs), hrefs
    shot(page, "widget_08_xss_inert")
    assert_inert(page)
    # the API's own responses carry the payloads as JSON strings; the widget renders them as text
    assert page.evaluate("window.__xss === undefined")


def test_no_admin_routes_or_tokens_in_widget_pages(site, browser):
    page = widget_page(browser, site["base"] + "/widget?kiosk=1")
    urls = []
    page.on("request", lambda r: urls.append(r.url))
    ask(page, preset=PRESETS[0])
    html = page.content()
    token = site["settings"].admin_token
    assert "/admin" not in html and token not in html
    assert all("/admin" not in u and token not in u for u in urls + [page.url])
