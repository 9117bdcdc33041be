"""The web app without a browser: chat handlers, article pages, health, admin, first-run build."""

from __future__ import annotations

import pytest

from fake_assistant import FakeAssistant
from pufa.embedders import HashEmbedder
from pufa.feedback import FeedbackStore
from pufa.web.chat import GENERIC_ERROR, ChatHandlers
from pufa.web.runtime import Runtime

from conftest import write_config


def fake_factory(**kw):
    return lambda retriever, catalog, settings: FakeAssistant(retriever, catalog, settings=settings, **kw)


@pytest.fixture(scope="module")
def runtime(mini_index, tmp_path_factory):
    settings = mini_index.with_(dense_fill=0, data_dir=tmp_path_factory.mktemp("data"), admin_token="t0ken")
    rt = Runtime(settings, fake_factory(), embedder=HashEmbedder())
    rt.start(background=False)
    assert rt.ready
    return rt


@pytest.fixture()
def store(tmp_path):
    return FeedbackStore.in_dir(tmp_path)


@pytest.fixture(scope="module")
def client(runtime, tmp_path_factory):
    from fastapi.testclient import TestClient

    from pufa.web.server import create_app

    store = FeedbackStore.in_dir(tmp_path_factory.mktemp("fb"))
    app = create_app(runtime.settings, runtime, store)
    with TestClient(app) as c:
        c.store = store
        yield c


# ---- chat handlers ---------------------------------------------------------------------------

def run(handlers, question, persona="enterprise", messages=None, conv=None):
    outs = list(handlers.respond(question, persona, messages or [], conv or []))
    return outs, outs[-1]


def test_respond_streams_then_shows_final_answer_with_cards(runtime, store):
    handlers = ChatHandlers(runtime, store, runtime.settings)
    outs, (messages, conv, copy_text, box) = run(handlers, "大气污染防治法第九十九条 <script>x</script>")
    assert len(outs) > 3  # pending, pieces, final
    assert box == ""
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert "&lt;script&gt;" in messages[0]["content"] and "<script>" not in messages[0]["content"]
    final = messages[1]["content"]
    assert "pufa-card" in final and 'href="#pufa-src-0-1"' in final
    assert conv[0]["citations"] and copy_text.startswith("**简要回答**")


def test_follow_up_passes_history_and_new_chat_clears(runtime, store):
    handlers = ChatHandlers(runtime, store, runtime.settings)
    _, (messages, conv, _, _) = run(handlers, "未批先建怎么处罚")
    _, (messages, conv, _, _) = run(handlers, "那罚款是多少？", "public", messages, conv)
    calls = runtime.services.assistant.calls
    question, persona, history = calls[-1]
    assert question == "那罚款是多少？" and persona == "public"
    assert [t.question for t in history] == ["未批先建怎么处罚"] and history[0].answer
    assert len(messages) == 4 and len(conv) == 2
    assert handlers.new_chat() == ([], [], "", "")


@pytest.mark.parametrize("error, expected", [
    (RuntimeError("Traceback (most recent call last): boom"), GENERIC_ERROR),
    (KeyError("x"), GENERIC_ERROR),
])
def test_errors_reach_the_user_as_a_sentence(mini_index, store, error, expected):
    rt = Runtime(mini_index.with_(dense_fill=0), fake_factory(fail=error), embedder=HashEmbedder())
    rt.start(background=False)
    handlers = ChatHandlers(rt, store, rt.settings)
    _, (messages, conv, _, _) = run(handlers, "未批先建怎么处罚")
    content = messages[-1]["content"]
    assert expected in content and "Traceback" not in content and "boom" not in content
    assert 'role="alert"' in content


def test_input_error_message_is_shown_and_empty_question_ignored(runtime, store):
    handlers = ChatHandlers(runtime, store, runtime.settings)
    outs, (messages, conv, _, _) = run(handlers, "   ")
    assert messages == [] and conv == []


def test_building_state_tells_the_user_and_keeps_the_question(mini_index, store, tmp_path):
    rt = Runtime(mini_index.with_(index_dir=tmp_path / "none", dense_fill=0), fake_factory(), embedder=HashEmbedder())
    handlers = ChatHandlers(rt, store, rt.settings)
    _, (messages, conv, _, box) = run(handlers, "未批先建怎么处罚")
    assert "正在建立索引" in messages[-1]["content"] and box == "未批先建怎么处罚"
    assert rt.health()["status"] == "building"


def test_feedback_rating_then_reason_is_stored(runtime, store):
    handlers = ChatHandlers(runtime, store, runtime.settings)
    _, (messages, conv, _, _) = run(handlers, "未批先建怎么处罚")
    conv, fid, message = handlers.rate(conv, 1, liked=False)
    assert fid and "已记录" in message
    conv, fid2, _ = handlers.rate(conv, 1, liked=True)  # changing one's mind updates, not duplicates
    assert fid2 == fid and store.get(fid).rating == 1
    assert "反馈已提交" in handlers.explain(fid, "引用有误", " 第二条引错了 ")
    item = store.get(fid)
    assert item.reason == "引用有误" and item.comment == "第二条引错了" and item.question == "未批先建怎么处罚"
    assert item.citations == tuple(conv[0]["citations"])
    assert handlers.rate(conv, 7, liked=True)[1] is None  # no such answer


def test_article_lookup_repealed_shows_counterpart(runtime, store):
    handlers = ChatHandlers(runtime, store, runtime.settings)
    html = handlers.lookup("大气法", "99")
    assert "《大气污染防治法》第九十九条" in html and "已废止" in html and "《生态环境法典》" in html
    assert "没有找到" in handlers.lookup("不存在的法", "1")
    assert "/law/" in handlers.lookup("行政处罚法", "")


# ---- HTTP: health, article pages, deep links, admin ------------------------------------------

def test_health(client):
    doc = client.get("/api/health").json()
    assert doc["status"] == "ok" and doc["index"]["laws"] >= 5 and doc["index"]["articles"] > 100
    assert doc["index"]["built_at"]


def test_gradio_page_served_at_root(client):
    r = client.get("/")
    assert r.status_code == 200 and "gradio" in r.text.lower()


def test_article_page_repealed_with_counterpart(client):
    r = client.get("/article/大气法/99")
    assert r.status_code == 200
    assert "《大气污染防治法》第九十九条" in r.text and "已废止" in r.text and "现行对应条文" in r.text
    assert "/article/%E7%94%9F%E6%80%81%E7%8E%AF%E5%A2%83%E6%B3%95%E5%85%B8/" in r.text  # link to the 法典 article
    assert client.get("/article/行政处罚法/第三十三条").status_code == 200
    missing = client.get("/article/行政处罚法/9999")
    assert missing.status_code == 404 and "没有找到" in missing.text


def test_deep_link_query_redirects(client):
    r = client.get("/?law=大气污染防治法&num=99", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].startswith("/article/")
    assert client.get("/?law=大气污染防治法&num=99").status_code == 200


def test_law_page_has_toc_and_articles(client):
    r = client.get("/law/行政处罚法")
    assert r.status_code == 200
    assert 'class="pufa-toc"' in r.text and "第一章" in r.text and 'id="a-33"' in r.text
    assert client.get("/browse?q=大气法", follow_redirects=False).status_code == 303
    listing = client.get("/browse")
    assert listing.status_code == 200 and "行政复议法" in listing.text
    assert client.get("/browse?q=没有这部法").status_code == 404


def test_page_escapes_query_text(client):
    r = client.get("/browse", params={"q": '<script>alert(1)</script>'})
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text


def test_admin_requires_token_and_manages_feedback(client):
    store = client.store
    fid = store.add(-1, question="问题<b>", reason="内容过时", citations=["《大气法》第九十九条"])
    assert client.get("/admin/feedback").status_code == 401
    assert client.post("/admin/login", data={"token": "wrong"}).status_code == 401
    r = client.post("/admin/login", data={"token": "t0ken"}, follow_redirects=False)
    assert r.status_code == 303 and "t0ken" not in r.headers.get("set-cookie", "")
    page = client.get("/admin/feedback?reason=内容过时&state=open")
    assert page.status_code == 200 and "问题&lt;b&gt;" in page.text
    assert client.post(f"/admin/feedback/{fid}/handled", data={"back": "state=open"},
                       follow_redirects=False).status_code == 303
    assert store.get(fid).handled
    csv_text = client.get("/admin/feedback.csv").text
    assert "内容过时" in csv_text and csv_text.startswith("\ufeffid,")
    status = client.get("/admin")
    assert "hash" in status.text and "建立时间" in status.text
    # the law database's known defect is shown to staff, with what to do about it
    assert "数据源提示" in status.text and "第一千一百二十条" in status.text and "corpus folder" in status.text
    client.cookies.clear()
    assert client.get("/admin", headers={"Authorization": "Bearer t0ken"}).status_code == 200


def test_admin_off_without_token(mini_index, tmp_path):
    from fastapi.testclient import TestClient

    from pufa.web.server import create_app

    rt = Runtime(mini_index.with_(dense_fill=0), fake_factory(), embedder=HashEmbedder())
    app = create_app(rt.settings, rt, FeedbackStore.in_dir(tmp_path))
    with TestClient(app) as c:
        assert c.get("/admin").status_code == 404
        assert c.get("/api/health").json()["status"] == "building"  # not started: nothing open yet
        assert c.get("/article/大气法/99").status_code == 503


# ---- first run: build in the background, then serve ------------------------------------------

def test_first_run_builds_the_index_in_the_background(mini_db, tmp_path):
    from pufa.settings import Settings

    settings = Settings(index_dir=tmp_path / "index", corpus_config=write_config(tmp_path, mini_db), embedder="hash",
                        dense_fill=1, data_dir=tmp_path / "data")
    rt = Runtime(settings, fake_factory(), embedder=HashEmbedder())
    rt.start(background=True)
    assert rt.wait_ready(120), rt.error
    health = rt.health()
    assert health["status"] == "ok" and health["index"]["laws"] >= 5
    rt.filler.join(60)  # the dense index was filled behind the serving index
    assert rt.dense_status()["embedded"] == rt.dense_status()["chunks"]
    rt.stop()


def test_default_factory_wires_the_llm_backend_when_configured(runtime):
    from pufa.web.runtime import default_assistant_factory

    services = runtime.services
    plain = default_assistant_factory(services.retriever, services.catalog, runtime.settings)
    assert plain.backend is None
    llm_settings = runtime.settings.with_(llm_base_url="http://127.0.0.1:9/v1", llm_model="stub")
    with_llm = default_assistant_factory(services.retriever, services.catalog, llm_settings)
    assert with_llm.backend is not None and with_llm.prompts is not None
