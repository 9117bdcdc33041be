"""Admin: curated Q&A — write an answer for a (handled) feedback question, attach articles, publish.

Pages: /admin/qa (list), /admin/qa/new?feedback=N (form prefilled from a feedback item),
/admin/qa/<id> (edit, preview as users will see it, publish / unpublish, audit trail). Publishing
checks every attached article against the serving catalog and the text with `citations.verify`
(pufa.curated); a failure is shown to staff and nothing is published. Every change is recorded with
the signed-in name. The store is `Runtime.curated`, the one the serving assistant matches against.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..curated import (LABEL, PUBLISHED, STATUS_LABELS, THRESHOLD, CuratedError, CuratedQA, CuratedStore,
                       checked_prefix)
from ..errors import PufaError
from ..feedback import FeedbackStore
from . import render
from .pages import page
from .render import esc
from .runtime import Runtime

ACTIONS = {"create": "创建", "edit": "修改", "publish": "发布", "unpublish": "撤下"}


def curated_router(auth, runtime: Runtime, feedback: FeedbackStore) -> APIRouter:
    router = APIRouter()
    store: CuratedStore = runtime.curated

    @router.get("/qa", response_class=HTMLResponse)
    def qa_list(request: Request):
        if not auth.authed(request):
            return auth.login_page(status=401)
        items = store.list()
        rows = "".join(
            f'<tr><td>{q.id}</td><td><a href="/admin/qa/{q.id}">{esc(q.question)}</a></td>'
            f"<td>{esc(STATUS_LABELS.get(q.status, q.status))}</td><td>{esc('；'.join(q.refs))}</td>"
            f"<td>{esc(q.updated)}</td></tr>" for q in items)
        head = "".join(f'<th scope="col">{h}</th>' for h in ("#", "问题", "状态", "依据条文", "更新时间"))
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>" if items else "<p>还没有人工审核答复。</p>"
        intro = (f"<p>已发布的答复会在用户提问与其问题足够相近时（相似度 ≥ {THRESHOLD}）显示在回答最前面，标注"
                 f"{esc(LABEL)}。在<a href=\"/admin/feedback?state=handled\">已处理的反馈</a>中点“转为人工审核答复”，"
                 '或<a href="/admin/qa/new">直接新建</a>。</p>')
        return page("人工审核答复", auth.nav() + f"<h1>人工审核答复（{len(items)}）</h1>{intro}{table}")

    @router.get("/qa/new", response_class=HTMLResponse)
    def qa_new(request: Request, feedback_id: int | None = Query(None, alias="feedback")):
        if not auth.authed(request):
            return auth.login_page(status=401)
        item = feedback.get(feedback_id) if feedback_id else None
        context = ""
        if item is not None:
            context = (f"<h2>来自反馈 #{item.id}</h2><p>原因：{esc(item.reason or '无')}；说明：{esc(item.comment or '无')}</p>"
                       f"<details><summary>当时的回答</summary>{render.text_html(item.answer)}</details>")
        return _form_page(auth, None, question=item.question if item else "", answer="", refs="",
                          feedback_id=item.id if item else None, extra=context)

    @router.post("/qa")
    def qa_create(request: Request, question: str = Form(""), answer: str = Form(""), refs: str = Form(""),
                  feedback_id: str = Form("")):
        auth.require(request)
        fid = int(feedback_id) if feedback_id.isdigit() else None
        try:
            qa_id = store.create(question, answer, refs.splitlines(), auth.actor(request), feedback_id=fid)
        except CuratedError as e:
            return _form_page(auth, None, question=question, answer=answer, refs=refs, feedback_id=fid,
                              error=str(e), status_code=400)
        if fid and feedback.get(fid) is not None and not feedback.get(fid).handled:
            feedback.mark_handled(fid)
        return RedirectResponse(f"/admin/qa/{qa_id}", status_code=303)

    @router.get("/qa/{qa_id}", response_class=HTMLResponse)
    def qa_page(request: Request, qa_id: int):
        if not auth.authed(request):
            return auth.login_page(status=401)
        qa = store.get(qa_id)
        if qa is None:
            return page("未找到", auth.nav() + "<h1>未找到</h1><p>没有这条人工审核答复。</p>", 404)
        return _edit_page(auth, runtime, store, qa)

    @router.post("/qa/{qa_id}")
    def qa_save(request: Request, qa_id: int, question: str = Form(""), answer: str = Form(""), refs: str = Form("")):
        auth.require(request)
        try:
            store.edit(qa_id, auth.actor(request), question=question, answer=answer, refs=refs.splitlines())
        except CuratedError as e:
            qa = store.get(qa_id)
            if qa is None:
                return page("未找到", auth.nav() + f"<p>{esc(e)}</p>", 404)
            return _edit_page(auth, runtime, store, qa, error=str(e), status_code=400,
                              draft=(question, answer, refs))
        return RedirectResponse(f"/admin/qa/{qa_id}", status_code=303)

    @router.post("/qa/{qa_id}/publish")
    def qa_publish(request: Request, qa_id: int):
        auth.require(request)
        try:
            store.publish(qa_id, auth.actor(request), runtime.services.catalog)
        except PufaError as e:  # CuratedError, or the index still building
            qa = store.get(qa_id)
            if qa is None:
                return page("未找到", auth.nav() + f"<p>{esc(e)}</p>", 404)
            return _edit_page(auth, runtime, store, qa, error=f"未能发布：{e}", status_code=400)
        return RedirectResponse(f"/admin/qa/{qa_id}", status_code=303)

    @router.post("/qa/{qa_id}/unpublish")
    def qa_unpublish(request: Request, qa_id: int):
        auth.require(request)
        try:
            store.unpublish(qa_id, auth.actor(request))
        except CuratedError as e:
            qa = store.get(qa_id)
            if qa is None:
                return page("未找到", auth.nav() + f"<p>{esc(e)}</p>", 404)
            return _edit_page(auth, runtime, store, qa, error=str(e), status_code=400)
        return RedirectResponse(f"/admin/qa/{qa_id}", status_code=303)

    return router


def _fields(question: str, answer: str, refs: str) -> str:
    return ('<p><label for="qa-question">用户问题</label><br>'
            f'<textarea id="qa-question" name="question" rows="2" cols="80" maxlength="500" required>{esc(question)}</textarea></p>'
            '<p><label for="qa-answer">答复（可用 [1]、[2] 标注所依据的条文；不标注则在末尾列出全部依据）</label><br>'
            f'<textarea id="qa-answer" name="answer" rows="8" cols="80" maxlength="5000" required>{esc(answer)}</textarea></p>'
            '<p><label for="qa-refs">依据条文（每行一条，如《大气污染防治法》第九十九条）</label><br>'
            f'<textarea id="qa-refs" name="refs" rows="4" cols="80">{esc(refs)}</textarea></p>')


def _alert(error: str) -> str:
    return f'<p role="alert" class="pufa-notice">{esc(error)}</p>' if error else ""


def _form_page(auth, qa_id: int | None, *, question: str, answer: str, refs: str, feedback_id: int | None,
               extra: str = "", error: str = "", status_code: int = 200) -> HTMLResponse:
    hidden = f'<input type="hidden" name="feedback_id" value="{feedback_id}">' if feedback_id else ""
    body = (auth.nav() + "<h1>新建人工审核答复</h1>" + _alert(error) + extra
            + f'<form method="post" action="/admin/qa">{hidden}{_fields(question, answer, refs)}'
              '<p><button type="submit">保存草稿</button></p></form>')
    return page("新建人工审核答复", body, status_code)


def _edit_page(auth, runtime: Runtime, store: CuratedStore, qa: CuratedQA, error: str = "",
               status_code: int = 200, draft: tuple[str, str, str] | None = None) -> HTMLResponse:
    question, answer, refs = draft or (qa.question, qa.answer, "\n".join(qa.refs))
    status = f"<p>状态：<strong>{esc(STATUS_LABELS.get(qa.status, qa.status))}</strong>"
    if qa.published_at and qa.status == PUBLISHED:
        status += f"（发布于 {esc(qa.published_at)}）"
    if qa.feedback_id:
        status += f"；来自反馈 #{qa.feedback_id}"
    status += "</p>"
    if qa.status == PUBLISHED:
        action = (f'<form method="post" action="/admin/qa/{qa.id}/unpublish"><button type="submit">撤下</button>'
                  "（用户将不再看到这条答复）</form>")
    else:
        action = (f'<form method="post" action="/admin/qa/{qa.id}/publish"><button type="submit">核验并发布</button>'
                  "（逐条核对所附条文和答复中的数额、期限）</form>")
    body = (auth.nav() + f"<h1>人工审核答复 #{qa.id}</h1>" + _alert(error) + status + action
            + "<h2>预览</h2>" + _preview(runtime, qa)
            + f'<h2>修改</h2><form method="post" action="/admin/qa/{qa.id}">{_fields(question, answer, refs)}'
              "<p><button type=\"submit\">保存修改</button>（已发布的答复修改后需重新发布）</p></form>"
            + "<h2>操作记录</h2>" + _audit_table(store, qa.id))
    return page(f"人工审核答复 #{qa.id}", body, status_code)


def _preview(runtime: Runtime, qa: CuratedQA) -> str:
    try:
        text, citations = checked_prefix(qa, runtime.services.catalog)
    except PufaError as e:
        return f'<p class="pufa-notice">预览不可用：{esc(e)}</p>'
    return render.answer_html(text, citations, 0)


def _audit_table(store: CuratedStore, qa_id: int) -> str:
    rows = []
    for entry in store.audit(qa_id):
        changes = "；".join(_describe(k, v) for k, v in entry.detail.items())
        rows.append(f"<tr><td>{esc(entry.at)}</td><td>{esc(entry.actor)}</td>"
                    f"<td>{esc(ACTIONS.get(entry.action, entry.action))}</td><td>{esc(changes)}</td></tr>")
    head = "".join(f'<th scope="col">{h}</th>' for h in ("时间", "操作人", "操作", "内容"))
    return f'<table id="pufa-audit"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


_FIELD_LABELS = {"question": "问题", "answer": "答复", "refs": "依据条文", "status": "状态", "feedback_id": "反馈"}


def _describe(key: str, value) -> str:
    label = _FIELD_LABELS.get(key, key)

    def show(v) -> str:
        if isinstance(v, list):
            return "、".join(str(x) for x in v) or "（无）"
        v = STATUS_LABELS.get(v, v) if key == "status" else v
        text = str(v)
        return text if len(text) <= 60 else text[:60] + "…"

    if isinstance(value, list) and len(value) == 2 and key != "refs" or key == "refs" and value and isinstance(value[0], list):
        return f"{label}：{show(value[0])} → {show(value[1])}"
    return f"{label}：{show(value)}"
