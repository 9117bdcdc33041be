"""Administration pages: index status, feedback review queue (filter, mark handled, CSV) and sign-in.

Off unless `PUFA_ADMIN_TOKEN` is set (then every /admin URL answers 404). Staff sign in with the
token and their name through a form; the browser keeps HttpOnly, SameSite=Strict cookies holding an
HMAC of the token (never the token itself, never in a URL) and the name signed with it (the name goes
into the curated Q&A audit trail). Scripts may send `Authorization: Bearer <token>` and
`X-Pufa-Admin-Name` (percent-encoded UTF-8). A page without sign-in shows the login form (401); a change without it is 403.
Document uploads live in admin_documents.py, curated Q&A in admin_curated.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..feedback import REASONS, FeedbackStore
from ..settings import Settings
from .pages import page
from .render import esc
from .runtime import Runtime

COOKIE = "pufa_admin"
NAME_COOKIE = "pufa_admin_name"
DEFAULT_ACTOR = "管理员"


def _cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"pufa-admin-session", hashlib.sha256).hexdigest()


def _name_signature(token: str, name: str) -> str:
    return hmac.new(token.encode(), b"pufa-admin-name\x00" + name.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class AdminAuth:
    """Sign-in checks and the page frame shared by every admin router."""

    token: str

    def enabled(self) -> None:
        if not self.token:
            raise HTTPException(status_code=404)

    def authed(self, request: Request) -> bool:
        self.enabled()
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].encode(), self.token.encode()):
            return True
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), _cookie_value(self.token).encode())

    def require(self, request: Request) -> None:
        """For changes (POST): 404 when administration is off, 403 without sign-in."""
        if not self.authed(request):
            raise HTTPException(status_code=403, detail="未登录或登录已过期，请先登录管理页面。")

    def actor(self, request: Request) -> str:
        """Who is making a change: the name given at sign-in (signed cookie) or X-Pufa-Admin-Name for scripts."""
        if request.headers.get("authorization", "").startswith("Bearer "):
            return clean_actor(unquote(request.headers.get("x-pufa-admin-name", "")))  # percent-encoded UTF-8
        value = request.cookies.get(NAME_COOKIE, "")
        name, _, signature = value.rpartition(".")
        name = unquote(name)
        if name and hmac.compare_digest(signature.encode(), _name_signature(self.token, name).encode()):
            return clean_actor(name)
        return DEFAULT_ACTOR

    def login_page(self, message: str = "", status: int = 401) -> HTMLResponse:
        alert = f'<p role="alert" class="pufa-notice">{esc(message)}</p>' if message else ""
        body = ('<h1>管理登录</h1>' + alert +
                '<form method="post" action="/admin/login"><p><label for="pufa-token">管理口令</label><br>'
                '<input id="pufa-token" name="token" type="password" autocomplete="current-password" required></p>'
                '<p><label for="pufa-name">您的姓名（记入操作记录）</label><br>'
                '<input id="pufa-name" name="name" autocomplete="name" maxlength="40"></p>'
                '<p><button type="submit">登录</button></p></form><p><a href="/">返回问答</a></p>')
        return page("管理登录", body, status)

    @staticmethod
    def nav() -> str:
        return ('<header><nav class="pufa-crumbs" aria-label="管理">'
                '<a href="/">返回问答</a> › <a href="/admin">索引状态</a> › <a href="/admin/feedback">反馈队列</a>'
                ' › <a href="/admin/documents">文档上传</a> › <a href="/admin/qa">人工审核答复</a>'
                ' <form method="post" action="/admin/logout" style="display:inline">'
                '<button type="submit">退出</button></form></nav></header>')


def clean_actor(name: str) -> str:
    name = re.sub(r"[\x00-\x1f\x7f]", "", (name or "")).strip()[:40]
    return name or DEFAULT_ACTOR


def admin_router(settings: Settings, runtime: Runtime, store: FeedbackStore) -> APIRouter:
    from .admin_curated import curated_router
    from .admin_documents import documents_router

    router = APIRouter(prefix="/admin")
    token = settings.admin_token
    auth = AdminAuth(token)
    enabled, authed, login_page, nav = auth.enabled, auth.authed, auth.login_page, auth.nav

    @router.post("/login")
    def login(token_in: str = Form("", alias="token"), name: str = Form("")):
        enabled()
        if not hmac.compare_digest(token_in.encode(), token.encode()):
            return login_page("口令不正确。")
        response = RedirectResponse("/admin", status_code=303)
        response.set_cookie(COOKIE, _cookie_value(token), httponly=True, samesite="strict", max_age=8 * 3600)
        actor = clean_actor(name)
        response.set_cookie(NAME_COOKIE, f"{quote(actor)}.{_name_signature(token, actor)}", httponly=True,
                            samesite="strict", max_age=8 * 3600)
        return response

    @router.post("/logout")
    def logout():
        enabled()
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE)
        response.delete_cookie(NAME_COOKIE)
        return response

    @router.get("", response_class=HTMLResponse)
    def status(request: Request):
        if not authed(request):
            return login_page(status=401)
        health = runtime.health()
        rows = [("状态", health["status"])]
        if runtime.ready:
            m = runtime.services.manifest
            rows += [("法律法规", m.counts.get("laws")), ("条文", m.counts.get("articles")),
                     ("检索片段", m.counts.get("chunks")), ("向量模型", f"{m.embedder}（{m.embedder_dim} 维）"),
                     ("建立时间", m.built_at), ("建立耗时", f"{m.build_seconds} 秒"),
                     ("语料来源", "；".join(m.sources)), ("跳过的文件", "；".join(" ".join(s) for s in m.skipped) or "无"),
                     ("解析警告", m.warnings), ("数据源提示", "；".join(m.notices) or "无")]
            dense = runtime.dense_status()
            filled = "未知" if dense["embedded"] is None else f"{dense['embedded']} / {dense['chunks']}"
            rows += [("向量索引", filled + ("（后台填充中）" if dense["filling"] else "")),
                     ("向量填充错误", dense["error"] or "无")]
        counts = store.counts()
        rows += [("反馈总数", counts["total"]), ("待处理", counts["open"]), ("👎", counts["negative"])]
        table = "".join(f"<tr><th scope=\"row\">{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        return page("索引状态", nav() + f"<h1>索引状态</h1><table>{table}</table>")

    def _filters(reason: str, state: str) -> tuple[str | None, bool | None]:
        reason_f = reason if reason in REASONS else None
        handled = {"open": False, "handled": True}.get(state)
        return reason_f, handled

    @router.get("/feedback", response_class=HTMLResponse)
    def queue(request: Request, reason: str = Query(""), state: str = Query("open")):
        if not authed(request):
            return login_page(status=401)
        reason_f, handled = _filters(reason, state)
        items = store.list(reason=reason_f, handled=handled)
        opts = "".join(f'<option value="{esc(r)}"{" selected" if r == reason else ""}>{esc(r)}</option>' for r in REASONS)
        states = "".join(f'<option value="{v}"{" selected" if v == state else ""}>{label}</option>'
                         for v, label in (("open", "待处理"), ("handled", "已处理"), ("all", "全部")))
        query = urlencode({"reason": reason, "state": state})
        form = ('<form method="get" action="/admin/feedback" class="pufa-search">'
                f'<label>原因 <select name="reason"><option value="">全部</option>{opts}</select></label>'
                f'<label>状态 <select name="state">{states}</select></label>'
                f'<button type="submit">筛选</button> <a href="/admin/feedback.csv?{esc(query)}">导出 CSV</a></form>')
        rows = []
        for f in items:
            curate = f' <a href="/admin/qa/new?feedback={f.id}">转为人工审核答复</a>'
            action = "" if f.handled else (
                f'<form method="post" action="/admin/feedback/{f.id}/handled">'
                f'<input type="hidden" name="back" value="{esc(query)}"><button type="submit">标记已处理</button></form>')
            rows.append(
                f"<tr><td>{f.id}</td><td>{esc(f.created)}</td><td>{'👍' if f.rating > 0 else '👎'}</td>"
                f"<td>{esc(f.reason)}</td><td>{esc(f.comment)}</td><td>{esc(f.question)}</td>"
                f"<td>{esc('；'.join(f.citations))}</td><td>{esc(f.persona)}</td>"
                f"<td>{'已处理 ' + esc(f.handled_at) + curate if f.handled else action}</td></tr>")
        head = "".join(f'<th scope="col">{h}</th>' for h in ("#", "时间", "评价", "原因", "说明", "问题", "引用", "用户", "处理"))
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>" if rows else "<p>没有符合条件的反馈。</p>"
        return page("反馈队列", nav() + f"<h1>反馈队列（{len(items)}）</h1>{form}{table}")

    @router.post("/feedback/{feedback_id}/handled")
    def handled(request: Request, feedback_id: int, back: str = Form("")):
        auth.require(request)
        store.mark_handled(feedback_id)
        back = re.sub(r"[^A-Za-z0-9=&%._+-]", "", back)  # only a query string of ours goes back
        return RedirectResponse(f"/admin/feedback?{back}" if back else "/admin/feedback", status_code=303)

    @router.get("/feedback.csv")
    def export(request: Request, reason: str = Query(""), state: str = Query("all")):
        if not authed(request):
            return login_page(status=401)
        reason_f, handled_f = _filters(reason, state)
        text = store.to_csv(store.list(reason=reason_f, handled=handled_f, limit=100_000))
        return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="pufa-feedback.csv"'})

    router.include_router(documents_router(auth, settings, runtime))
    router.include_router(curated_router(auth, runtime, store))
    return router
