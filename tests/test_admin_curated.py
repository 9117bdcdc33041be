"""Curated Q&A through the admin pages: from a handled feedback item to a published answer users see first."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from fake_assistant import FakeAssistant
from pufa.curated import LABEL
from pufa.embedders import HashEmbedder
from pufa.feedback import FeedbackStore
from pufa.web.chat import ChatHandlers
from pufa.web.runtime import Runtime

QUESTION = "大气污染防治法第九十九条规定的无证排放大气污染物怎么处罚？"
ANSWER = "未依法取得排污许可证排放大气污染物的，由生态环境主管部门责令改正或者限制生产、停产整治，并处十万元以上一百万元以下的罚款。"


@pytest.fixture(scope="module")
def client(mini_index, tmp_path_factory):
    from fastapi.testclient import TestClient

    from pufa.web.server import create_app

    settings = mini_index.with_(dense_fill=0, data_dir=tmp_path_factory.mktemp("data"), admin_token="t0ken")
    rt = Runtime(settings, lambda r, c, s: FakeAssistant(r, c, settings=s), embedder=HashEmbedder())
    rt.start(background=False)
    store = FeedbackStore.in_dir(settings.data_dir)
    with TestClient(create_app(settings, rt, store)) as c:
        c.runtime, c.store = rt, store
        yield c


def test_feedback_to_published_curated_answer_shown_first(client):
    rt, store = client.runtime, client.store
    fid = store.add(-1, question=QUESTION, answer="旧回答", reason="没有回答问题")
    store.mark_handled(fid)
    assert client.post("/admin/login", data={"token": "t0ken", "name": "张三"}, follow_redirects=False).status_code == 303
    queue = client.get("/admin/feedback?state=handled").text
    assert f"/admin/qa/new?feedback={fid}" in queue
    form = client.get(f"/admin/qa/new?feedback={fid}").text
    assert "大气污染防治法第九十九条规定的无证排放大气污染物怎么处罚？" in form and "旧回答" in form
    r = client.post("/admin/qa", data={"question": QUESTION, "answer": ANSWER, "feedback_id": str(fid),
                                        "refs": "《大气污染防治法》第九百条"}, follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"]
    qa_id = int(url.rsplit("/", 1)[1])
    # a citation to an article the catalog does not hold: publishing is refused, with the reason
    r = client.post(f"{url}/publish")
    assert r.status_code == 400 and "第九百条 在条文库中不存在" in r.text
    assert rt.curated.get(qa_id).status == "draft"
    assert client.post(url, data={"question": QUESTION, "answer": ANSWER, "refs": "大气法 99"},
                       follow_redirects=False).status_code == 303
    assert client.post(f"{url}/publish", follow_redirects=False).status_code == 303
    page = client.get(url).text
    assert "已发布" in page and LABEL in page and "pufa-card" in page  # preview with the source card
    audit = re.search(r'<table id="pufa-audit">(.*?)</table>', page, re.S).group(1)
    assert audit.count("张三") == 3 and "创建" in audit and "修改" in audit and "发布" in audit
    assert "第九百条 → 《大气法》第99条" in audit
    assert "已发布" in client.get("/admin/qa").text

    handlers = ChatHandlers(rt, store, rt.settings)
    *_, (messages, conv, copy_text, _) = handlers.respond("大气污染防治法第九十九条规定的无证排放怎么处罚", "public", [], [])
    html = messages[-1]["content"]
    assert html.index(LABEL) < html.index("系统检索答复")
    assert 'href="#pufa-src-0-1"' in html and copy_text.startswith(f"**{LABEL}**")
    *_, (messages, _, _, _) = handlers.respond("行政复议申请期限是多久", "public", [], [])
    assert LABEL not in messages[-1]["content"]

    assert client.post(f"{url}/unpublish", follow_redirects=False).status_code == 303
    *_, (messages, _, _, _) = handlers.respond("大气污染防治法第九十九条规定的无证排放怎么处罚", "public", [], [])
    assert LABEL not in messages[-1]["content"]
    assert [a.action for a in rt.curated.audit(qa_id)] == ["create", "edit", "publish", "unpublish"]


def test_scripts_name_themselves_and_pages_need_sign_in(client):
    from fastapi.testclient import TestClient

    headers = {"Authorization": "Bearer t0ken", "X-Pufa-Admin-Name": quote("批处理脚本")}
    with TestClient(client.app) as anonymous:
        assert anonymous.get("/admin/qa").status_code == 401
        assert anonymous.get("/admin/qa/new").status_code == 401
        r = anonymous.post("/admin/qa", data={"question": "问", "answer": "答", "refs": "大气法 99"}, headers=headers,
                           follow_redirects=False)
        assert r.status_code == 303
        qa_id = int(r.headers["location"].rsplit("/", 1)[1])
        assert client.runtime.curated.audit(qa_id)[0].actor == "批处理脚本"
        # a forged name cookie is not believed
        anonymous.cookies.set("pufa_admin", client.cookies.get("pufa_admin"))
        anonymous.cookies.set("pufa_admin_name", "%E5%86%92%E5%90%8D.0000")
        r = anonymous.post(f"/admin/qa/{qa_id}", data={"question": "问题", "answer": "答", "refs": "大气法 99"},
                           follow_redirects=False)
        assert r.status_code == 303 and client.runtime.curated.audit(qa_id)[-1].actor == "管理员"
