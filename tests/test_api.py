"""The public HTTP API and the widget's server side, through FastAPI's TestClient.

Every route, every error status with its JSON shape, the SSE stream's order, 503 while building,
429 with Retry-After, CORS and CSP headers (default and configured), usage counters without
personal data, and no trace of the administration pages in anything the public gets.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fake_assistant import FakeAssistant
from pufa.embedders import HashEmbedder
from pufa.errors import ConfigError, NotFoundError
from pufa.feedback import FeedbackStore
from pufa.web.limits import DAY, MINUTE, RateLimiter, Rule
from pufa.web.api import create_api
from pufa.web.runtime import IndexBuildingError, Runtime
from pufa.web.security import widget_headers
from pufa.web.server import create_app
from pufa.web.widget import widget_router

ADMIN_TOKEN = "s3cret-admin-token"
ANSWER_KEYS = {"answer", "citations", "refused", "refusal_reason", "as_of", "mode", "notices", "persona", "question",
               "resolved_question"}


def fake_factory(**kw):
    return lambda retriever, catalog, settings: FakeAssistant(retriever, catalog, settings=settings, **kw)


@pytest.fixture(scope="module")
def base_settings(mini_index, tmp_path_factory):
    return mini_index.with_(dense_fill=0, data_dir=tmp_path_factory.mktemp("data"), admin_token=ADMIN_TOKEN)


@pytest.fixture(scope="module")
def runtime(base_settings):
    rt = Runtime(base_settings, fake_factory(), embedder=HashEmbedder())
    rt.start(background=False)
    assert rt.ready
    return rt


@pytest.fixture(scope="module")
def client(runtime, tmp_path_factory):
    """The whole app as app.py serves it (Gradio included)."""
    with TestClient(create_app(runtime.settings, runtime, FeedbackStore.in_dir(tmp_path_factory.mktemp("fb")))) as c:
        yield c


class StubRuntime:
    """The part of Runtime the API uses (`services`, `state`), to swap the assistant without reopening the index."""

    def __init__(self, services=None, state="ok"):
        self._services, self.state = services, state

    @property
    def services(self):
        if self._services is None:
            raise IndexBuildingError("正在建立索引，请稍候再试（首次启动约需半分钟）。")
        return self._services


def api_client(settings, runtime, **fake) -> TestClient:
    """The API and widget as create_app mounts them, without building the Gradio UI (fast variations)."""
    if fake:
        s = runtime.services
        runtime = StubRuntime(replace(s, assistant=FakeAssistant(s.retriever, s.catalog, **fake)))
    app = FastAPI()
    app.mount("/api", create_api(settings, runtime))
    app.include_router(widget_router(settings))
    return TestClient(app)


def usage_of(c: TestClient) -> dict:
    api = next(r.app for r in c.app.routes if getattr(r, "path", "") == "/api")
    return api.state.usage.snapshot()["counts"]


def error_of(r, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert set(doc) == {"error"} and set(doc["error"]) >= {"code", "message"}
    assert doc["error"]["code"] == code
    return doc["error"]["message"]


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# ---- routes ----------------------------------------------------------------------------------

def test_ask_returns_the_answer_document(client):
    r = client.post("/api/ask", json={"question": "未批先建怎么处罚", "persona": "public"})
    assert r.status_code == 200
    doc = r.json()
    assert set(doc) == ANSWER_KEYS
    assert doc["persona"] == "public" and doc["citations"] and doc["citations"][0]["n"] == 1
    assert {"law", "article_no", "text", "status", "quotes"} <= set(doc["citations"][0])


def test_ask_passes_history_and_defaults_to_enterprise(client):
    client.post("/api/ask", json={"question": "那罚款是多少？", "history": [{"question": "未批先建怎么处罚"},
                                                                      {"question": "还有呢", "answer": "……"}]})
    question, persona, history = _last_call(client)
    assert question == "那罚款是多少？" and persona == "enterprise"
    assert [t.question for t in history] == ["未批先建怎么处罚", "还有呢"] and history[1].answer == "……"


def _last_call(client):
    # the FakeAssistant behind the app: reach it through the runtime that create_app closed over
    api = next(r.app for r in client.app.routes if getattr(r, "path", "") == "/api")
    return api.state.runtime.services.assistant.calls[-1]


def test_stream_sends_sources_then_text_then_final(client):
    r = client.post("/api/ask/stream", json={"question": "未批先建怎么处罚"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "final" and "text" in kinds
    assert set(kinds[1:-1]) == {"text"}
    text = "".join(d["text"] for k, d in events if k == "text")
    final = events[-1][1]
    assert set(final) == ANSWER_KEYS and final["answer"] == text
    assert [c["n"] for c in events[0][1]["citations"]] == [c["n"] for c in final["citations"]]


def test_stream_failure_midway_is_an_error_event(base_settings, runtime):
    with api_client(base_settings, runtime, fail=RuntimeError("Traceback: secret detail")) as c:
        r = c.post("/api/ask/stream", json={"question": "未批先建怎么处罚"})
    events = sse_events(r.text)
    assert [k for k, _ in events] == ["sources", "error"]
    assert events[1][1]["error"]["code"] == "internal" and "secret" not in r.text


def test_article_and_search(client):
    doc = client.get("/api/article", params={"law": "大气法", "num": "99"}).json()
    assert doc["law_short"] == "大气污染防治法" and doc["article_no"] == "第九十九条" and doc["status"] == "已废止"
    assert {"text", "effective_date", "chapter", "promulgated", "issuer"} <= set(doc)
    assert client.get("/api/article", params={"law": "行政处罚法", "num": "第三十三条"}).json()["article_num"] == 33
    hits = client.get("/api/search", params={"q": "排污许可", "k": 3}).json()["hits"]
    assert 1 <= len(hits) <= 3 and {"law", "article_no", "score", "text", "status"} <= set(hits[0])
    only = client.get("/api/search", params={"q": "罚款", "k": 5, "law": "行政处罚法"}).json()["hits"]
    assert only and {h["law_short"] for h in only} == {"行政处罚法"}


# ---- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, code, says", [
    ({"question": ""}, "empty_question", "空"),
    ({"question": "   "}, "empty_question", "空"),
    ({"question": "问" * 501}, "question_too_long", "500 字以内"),
    ({}, "bad_input", "question"),
    ({"question": 3}, "bad_input", "question"),
    ({"question": "未批先建", "persona": "admin"}, "bad_input", "persona"),
    ({"question": "未批先建", "extra": 1}, "bad_input", "extra"),
    ({"question": "未批先建", "history": [{"answer": "x"}]}, "bad_input", "history"),
    ({"question": "未批先建", "history": [{"question": "q"}] * 11}, "bad_input", "history"),
])
@pytest.mark.parametrize("route", ["/api/ask", "/api/ask/stream"])
def test_bad_input_is_400_with_a_message(client, route, body, code, says):
    assert says in error_of(client.post(route, json=body), 400, code)


def test_malformed_json_and_oversized_body(client):
    error_of(client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"}), 400,
             "bad_input")
    big = json.dumps({"question": "x" * 200_000})
    assert "128 KB" in error_of(client.post("/api/ask", content=big, headers={"content-type": "application/json"}),
                                413, "body_too_large")


@pytest.mark.parametrize("params, says", [
    ({"law": "不存在的法", "num": "1"}, "不存在的法"),
    ({"law": "行政处罚法", "num": "9999"}, "行政处罚法"),
    ({"law": "行政处罚法", "num": "第一万条"}, "行政处罚法"),
])
def test_unknown_law_or_article_is_404(client, params, says):
    assert says in error_of(client.get("/api/article", params=params), 404, "not_found")


def test_search_errors(client):
    error_of(client.get("/api/search", params={"q": "罚款", "law": "不存在的法"}), 404, "not_found")
    error_of(client.get("/api/search", params={"q": " "}), 400, "empty_question")
    error_of(client.get("/api/search", params={"q": "罚" * 501}), 400, "question_too_long")
    error_of(client.get("/api/search", params={"q": "罚款", "k": 0}), 400, "bad_input")
    error_of(client.get("/api/search", params={"q": "罚款", "k": "many"}), 400, "bad_input")
    error_of(client.get("/api/search"), 400, "bad_input")
    error_of(client.get("/api/article", params={"law": "行政处罚法"}), 400, "bad_input")


def test_not_found_from_the_assistant_and_unknown_routes(base_settings, runtime, client):
    with api_client(base_settings, runtime, fail=NotFoundError("No law named X")) as c:
        assert "没有找到" in error_of(c.post("/api/ask", json={"question": "X法第3条"}), 404, "not_found")
    error_of(client.get("/api/nothing-here"), 404, "not_found")
    error_of(client.get("/api/ask"), 405, "bad_request")


def test_unexpected_failure_is_500_without_details(base_settings, runtime):
    with api_client(base_settings, runtime, fail=KeyError("internal detail")) as c:
        message = error_of(TestClient(c.app, raise_server_exceptions=False).post(
            "/api/ask", json={"question": "未批先建"}), 500, "internal")
    assert "internal detail" not in message and "抱歉" in message


def test_503_while_the_index_is_building(base_settings, tmp_path):
    settings = base_settings.with_(index_dir=tmp_path / "no-index")
    rt = Runtime(settings, fake_factory(), embedder=HashEmbedder())  # not started: "building"
    with TestClient(create_app(settings, rt, FeedbackStore.in_dir(tmp_path))) as c:
        for r in (c.post("/api/ask", json={"question": "未批先建"}), c.post("/api/ask/stream", json={"question": "未批先建"}),
                  c.get("/api/article", params={"law": "大气法", "num": "99"}), c.get("/api/search", params={"q": "罚款"})):
            assert "正在建立索引" in error_of(r, 503, "index_building")
            assert r.headers["retry-after"] == "10"
        assert c.get("/api/health").json()["status"] == "building"


def test_503_when_the_build_failed(base_settings):
    with api_client(base_settings, StubRuntime(None, state="error")) as c:
        message = error_of(c.post("/api/ask", json={"question": "未批先建"}), 503, "index_error")
    assert "disk full" not in message


# ---- rate limits ---------------------------------------------------------------------------------

def test_limiter_windows_per_ip_and_session():
    now = [1000.0]
    limiter = RateLimiter([Rule("ip", MINUTE, 5), Rule("session", MINUTE, 2), Rule("session", DAY, 3)], lambda: now[0])
    assert limiter.hit("1.1.1.1", "s1").allowed and limiter.hit("1.1.1.1", "s1").allowed
    refused = limiter.hit("1.1.1.1", "s1")
    assert not refused.allowed and refused.scope == "session" and refused.retry_after == 60
    assert limiter.hit("1.1.1.1", "s2").allowed  # another widget on the same kiosk is not affected
    now[0] += 59.5
    assert limiter.hit("1.1.1.1", "s1").retry_after == 1
    now[0] += 1
    assert limiter.hit("1.1.1.1", "s1").allowed  # a new minute
    day = limiter.hit("1.1.1.1", "s1")  # the fourth of the day for s1
    assert not day.allowed and day.window == DAY and day.retry_after > 3600
    for _ in range(4):  # requests 2..5 from this IP in the new minute
        assert limiter.hit("1.1.1.1", "").allowed
    ip = limiter.hit("1.1.1.1", "s3")
    assert not ip.allowed and ip.scope == "ip"
    assert limiter.hit("2.2.2.2", "s3").allowed  # refused requests were not counted against s3


def test_429_with_retry_after_and_a_chinese_message(base_settings, runtime):
    settings = base_settings.with_(limit_session_minute=2, limit_ip_minute=5)
    with api_client(settings, runtime) as c:
        s1 = {"X-Pufa-Session": "widget-one-0001"}
        for _ in range(2):
            assert c.post("/api/ask", json={"question": "未批先建"}, headers=s1).status_code == 200
        r = c.post("/api/ask/stream", json={"question": "未批先建"}, headers=s1)
        message = error_of(r, 429, "rate_limited")
        assert 1 <= int(r.headers["retry-after"]) <= 60 and "秒后再试" in message
        assert c.get("/api/search", params={"q": "罚款"}, headers={"X-Pufa-Session": "widget-two-0002"}).status_code == 200
        for _ in range(2):  # the IP's minute allowance (5) runs out whatever the session
            c.get("/api/article", params={"law": "大气法", "num": "99"})
        r = c.get("/api/article", params={"law": "大气法", "num": "99"})
        error_of(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        counts = usage_of(c)
        assert counts["rate_limited"] == 2 and counts["status_429"] == 2


# ---- headers: CORS and CSP ----------------------------------------------------------------------

def test_default_same_origin_only(client):
    r = client.get("/widget")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and csp.rstrip().endswith("frame-ancestors 'self'")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    pre = client.options("/api/ask", headers={"Origin": "https://partner.example.org",
                                              "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    r = client.post("/api/ask", json={"question": "未批先建"}, headers={"Origin": "https://partner.example.org"})
    assert "access-control-allow-origin" not in r.headers


def test_configured_origins(base_settings, runtime):
    settings = base_settings.with_(embed_origins="https://www.partner.gov.cn, http://127.0.0.1:8123",
                                   cors_origins="https://www.partner.gov.cn")
    with api_client(settings, runtime) as c:
        csp = c.get("/widget").headers["content-security-policy"]
        assert "frame-ancestors 'self' https://www.partner.gov.cn http://127.0.0.1:8123" in csp
        pre = c.options("/api/ask/stream", headers={"Origin": "https://www.partner.gov.cn",
                                                    "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "content-type,x-pufa-session"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://www.partner.gov.cn"
        r = c.post("/api/ask", json={"question": "未批先建"}, headers={"Origin": "https://www.partner.gov.cn"})
        assert r.headers["access-control-allow-origin"] == "https://www.partner.gov.cn"
        other = c.post("/api/ask", json={"question": "未批先建"}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("bad", ["partner.gov.cn", "https://a.example/path", "javascript:alert(1)", "'unsafe-inline'"])
def test_bad_origin_settings_are_config_errors(base_settings, runtime, bad):
    with pytest.raises(ConfigError, match="origin"):
        widget_headers(base_settings.with_(embed_origins=bad))
    with pytest.raises(ConfigError, match="origin"):
        create_api(base_settings.with_(cors_origins=bad), runtime)


# ---- docs, widget, privacy -------------------------------------------------------------------------

def test_openapi_docs_cover_the_api_only(client):
    schema = client.get("/api/openapi.json").json()
    assert set(schema["paths"]) == {"/ask", "/ask/stream", "/article", "/search"}
    assert schema.get("servers", [{}])[0].get("url") == "/api"
    text = json.dumps(schema, ensure_ascii=False)
    assert "admin" not in text.lower() and "AskIn" in text
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/api/openapi.json" in docs.text
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text  # assets come from this server
    assert client.get("/api/docs-static/swagger-ui-bundle.js").status_code == 200


def test_widget_page_presets_qr_and_no_admin_trace(client):
    import tomllib
    from pufa.web.widget import DEFAULT_QUESTIONS

    presets = tomllib.loads(DEFAULT_QUESTIONS.read_text(encoding="utf-8"))["questions"]
    assert 6 <= len(presets) <= 10
    page = client.get("/widget").text
    assert all(q in page for q in presets)
    assert 'src="data:image/svg+xml;base64,' in page and "http://testserver/widget" in page
    assert "隐私说明" in page and 'lang="zh-CN"' in page and 'maxlength="500"' in page
    assert "<script>" not in page and "http" not in page.split("<body", 1)[1].replace("http://testserver/widget", "")
    for url in ("/widget", "/widget?kiosk=1", "/widget/widget.js", "/widget/widget.css", "/embed.js"):
        body = client.get(url).text
        assert "/admin" not in body and ADMIN_TOKEN not in body and "pufa_admin" not in body, url
    assert '"kiosk": true' in client.get("/widget?kiosk=1").text


def test_widget_url_setting_and_questions_file(base_settings, runtime, tmp_path):
    from pufa.web.widget import load_questions

    good = tmp_path / "q.toml"
    good.write_text("questions = [" + ",".join(f'"问题{i}"' for i in range(6)) + "]\n", encoding="utf-8")
    settings = base_settings.with_(widget_url="https://pufa.example.gov.cn/widget", widget_questions=str(good))
    with api_client(settings, runtime) as c:
        page = c.get("/widget").text
    assert "https://pufa.example.gov.cn/widget" in page and "问题5" in page
    for bad in ("questions = []", "questions = ['a', 'b']", "nope = 1", "questions = [" + ",".join(['"x"'] * 11) + "]"):
        good.write_text(bad, encoding="utf-8")
        with pytest.raises(ConfigError):
            load_questions(settings)


def test_usage_counters_hold_no_personal_data(base_settings, runtime, tmp_path, caplog):
    with TestClient(create_app(base_settings, runtime, FeedbackStore.in_dir(tmp_path))) as c:
        c.post("/api/ask", json={"question": "我叫张三电话13800000000未批先建"}, headers={"X-Pufa-Session": "abcdef123456"})
        c.post("/api/ask", json={"question": ""})
        health = c.get("/api/health").json()
    counts = health["usage"]["counts"]
    assert counts["requests"] == 2 and counts["ask"] == 1 and counts["answered"] == 1 and counts["status_400"] == 1
    dump = json.dumps(health, ensure_ascii=False) + caplog.text
    assert "张三" not in dump and "13800000000" not in dump and "abcdef123456" not in dump and "testclient" not in dump


def test_request_logging_only_when_turned_on(base_settings, runtime, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="pufa.web.api")
    with api_client(base_settings.with_(log_requests=1), runtime) as c:
        c.post("/api/ask", json={"question": "未批先建要罚多少"})
    assert "未批先建要罚多少" in caplog.text and "ip=testclient" in caplog.text
