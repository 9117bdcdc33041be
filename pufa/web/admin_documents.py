"""Admin: upload documents into the corpus folder, rebuild the index in the background, list what changed.

GET /admin/documents shows the upload form (file + metadata), the rebuild's progress (the page
refreshes itself while it runs), the last change list (added / changed / removed articles) and the
folder's documents with a delete button. Uploads are validated by `pufa.uploads` before anything is
written; every accepted change starts `Runtime.rebuild`, and the old index serves until the swap.
`GET /admin/documents/status.json` gives the same state to scripts.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..changes import ArticleChange, CatalogChanges
from ..errors import PufaError
from ..settings import Settings
from ..uploads import ALLOWED, LEVELS, MAX_BYTES, META_LABELS, STATUSES, DocumentFolder
from .pages import deep_link, page
from .render import esc
from .runtime import RebuildStatus, Runtime

log = logging.getLogger(__name__)

LIST_LIMIT = 200  # rows per change kind shown on the page (the counts are always complete)
STATE_LABELS = {"idle": "尚未在本次运行中更新", "running": "正在后台更新索引", "done": "已完成", "error": "失败"}


def documents_router(auth, settings: Settings, runtime: Runtime, max_bytes: int | None = None) -> APIRouter:
    router = APIRouter()

    def folder() -> DocumentFolder:
        kw = {} if max_bytes is None else {"max_bytes": max_bytes}
        return DocumentFolder.from_config(settings.corpus_config, **kw)

    def render(message: str = "", error: str = "", status_code: int = 200) -> HTMLResponse:
        status = runtime.rebuild_status
        refresh = '<meta http-equiv="refresh" content="3">' if status.state == "running" else ""
        notice = (f'<p role="alert" class="pufa-notice">{esc(error)}</p>' if error else "") + (
            f'<p role="status">{esc(message)}</p>' if message else "")
        try:
            docs_folder = folder()
            listing = _listing(docs_folder)
            where = f"<p>文件保存在语料目录 <code>{esc(docs_folder.path)}</code>，元数据写入其中的 MANIFEST.tsv。</p>"
        except PufaError as e:
            listing, where = "", f'<p role="alert" class="pufa-notice">{esc(e)}</p>'
        body = (auth.nav() + refresh + "<h1>文档上传与索引更新</h1>" + notice + _status_html(status)
                + "<h2>上传文档</h2>" + where + _form(max_bytes or MAX_BYTES)
                + "<h2>语料目录中的文档</h2>" + listing)
        return page("文档上传", body, status_code)

    @router.get("/documents", response_class=HTMLResponse)
    def documents_page(request: Request, done: str = Query("", max_length=300)):
        if not auth.authed(request):
            return auth.login_page(status=401)
        return render(message=done)

    @router.get("/documents/status.json")
    def status_json(request: Request):
        auth.require(request)
        return JSONResponse(status_doc(runtime.rebuild_status))

    @router.post("/documents")
    async def upload(request: Request, file: UploadFile = File(...), title: str = Form(""), level: str = Form(""),
                     issuer: str = Form(""), region: str = Form(""), effective: str = Form(""),
                     promulgated: str = Form(""), status: str = Form("")):
        auth.require(request)
        try:
            docs_folder = folder()
            data = await file.read(docs_folder.max_bytes + 1)  # never more than the cap into memory
            meta = {"title": title, "level": level, "issuer": issuer, "region": region, "effective": effective,
                    "promulgated": promulgated, "status": status}
            # parsing a large PDF takes a while: off the event loop, so chat and pages keep answering
            name, replaced = await run_in_threadpool(docs_folder.save, file.filename or "", data, meta)
        except PufaError as e:
            return render(error=f"上传失败：{e}", status_code=400)
        finally:
            await file.close()
        log.info("admin %s uploaded %s (%d bytes)", auth.actor(request), name, len(data))
        started = runtime.rebuild(reason=f"{'替换' if replaced else '上传'} {name}")
        return _back(f"已{'替换' if replaced else '保存'}“{name}”，" + _rebuild_note(started))

    @router.post("/documents/delete")
    def delete(request: Request, name: str = Form("")):
        auth.require(request)
        try:
            folder().delete(name)
        except PufaError as e:
            return render(error=f"删除失败：{e}", status_code=400)
        log.info("admin %s deleted %s", auth.actor(request), name)
        started = runtime.rebuild(reason=f"删除 {name}")
        return _back(f"已删除“{name}”，" + _rebuild_note(started))

    @router.post("/reindex")
    def reindex(request: Request):
        auth.require(request)
        started = runtime.rebuild(reason="手动更新")
        return _back(_rebuild_note(started))

    return router


def _rebuild_note(started: bool) -> str:
    return ("正在后台更新索引；更新完成前，问答仍使用原索引。" if started
            else "当前有一次索引更新正在进行，完成后会再更新一次以包含这次改动。")


def _back(message: str) -> RedirectResponse:
    return RedirectResponse("/admin/documents?done=" + quote(message), status_code=303)


def status_doc(status: RebuildStatus) -> dict:
    doc = {"state": status.state, "progress": status.progress, "started": status.started,
           "finished": status.finished, "seconds": status.seconds, "reason": status.reason,
           "reused": status.reused, "error": status.error, "skipped": [list(s) for s in status.skipped]}
    if status.changes is not None:
        doc["changes"] = status.changes.to_json()
    return doc


def _form(max_bytes: int) -> str:
    level_opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in LEVELS)
    status_opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in STATUSES)

    def text(name: str, hint: str = "", kind: str = "text") -> str:
        return (f'<p><label for="up-{name}">{META_LABELS[name]}{hint}</label><br>'
                f'<input id="up-{name}" name="{name}" type="{kind}" maxlength="200"></p>')

    cap = f"，单个文件不超过 {max_bytes // 1048576} MB" if max_bytes else ""
    return ('<form method="post" action="/admin/documents" enctype="multipart/form-data">'
            f'<p><label for="up-file">文件（{"、".join(ALLOWED)}{cap}）</label><br>'
            f'<input id="up-file" name="file" type="file" accept="{",".join(ALLOWED)}" required></p>'
            + text("title", "（可选，默认取文件中的标题）")
            + f'<p><label for="up-level">{META_LABELS["level"]}</label><br><select id="up-level" name="level">'
              f'<option value="">（不填）</option>{level_opts}</select></p>'
            + text("issuer") + text("region", "（如 某某市）") + text("effective", "（YYYY-MM-DD）", "date")
            + text("promulgated", "（YYYY-MM-DD）", "date")
            + f'<p><label for="up-status">{META_LABELS["status"]}（不确定请留空）</label><br>'
              f'<select id="up-status" name="status"><option value="">（不填）</option>{status_opts}</select></p>'
            + '<p><button type="submit">上传并更新索引</button></p></form>'
            + '<form method="post" action="/admin/reindex"><p><button type="submit">仅重新建立索引</button>'
              '（手动修改语料目录后使用）</p></form>')


def _listing(docs_folder: DocumentFolder) -> str:
    docs = docs_folder.documents()
    if not docs:
        return "<p>语料目录中还没有文档。</p>"
    rows = []
    for d in docs:
        meta = "；".join(f"{META_LABELS.get(k, k)}：{v}" for k, v in d.meta.items())
        rows.append(f"<tr><td>{esc(d.name)}</td><td>{d.size / 1024:.0f} KB</td><td>{esc(meta)}</td><td>"
                    '<form method="post" action="/admin/documents/delete">'
                    f'<input type="hidden" name="name" value="{esc(d.name)}">'
                    f'<button type="submit" aria-label="删除 {esc(d.name)}">删除</button></form></td></tr>')
    head = "".join(f'<th scope="col">{h}</th>' for h in ("文件", "大小", "元数据", "操作"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _status_html(status: RebuildStatus) -> str:
    parts = ["<h2>索引更新</h2>",
             f'<p role="status" id="pufa-rebuild-state">状态：{esc(STATE_LABELS.get(status.state, status.state))}'
             + (f"（{esc(status.progress)}）" if status.progress else "")
             + (f"；原因：{esc(status.reason)}" if status.reason else "") + "</p>"]
    if status.state == "running":
        parts.append("<p>更新完成前，问答继续使用原来的索引；本页每 3 秒自动刷新。</p>")
    if status.state == "error":
        parts.append(f'<p role="alert" class="pufa-notice">索引更新失败：{esc(status.error)}。原索引仍在使用。</p>')
    if status.finished and status.state != "running":
        parts.append(f"<p>完成于 {esc(status.finished)}，用时 {status.seconds} 秒。</p>")
    if status.skipped:
        items = "".join(f"<li>{esc(f)}：{esc(r)}</li>" for f, r in status.skipped)
        parts.append(f"<p>以下文件无法读取，已跳过（其余文件已编入索引）：</p><ul>{items}</ul>")
    if status.state == "done":
        parts.append(_changes_html(status.changes, status.reused))
    return "".join(parts)


def _changes_html(changes: CatalogChanges | None, reused: bool) -> str:
    if changes is None:
        return "<p>没有可比较的原索引。</p>"
    if reused or changes.empty:
        return '<p id="pufa-changes">语料没有变化，索引保持不变。</p>'
    out = ['<div id="pufa-changes"><h3>本次更新的条文变化</h3>']
    if changes.laws_added:
        out.append(f"<p>新增法规/文件：{esc('、'.join(changes.laws_added))}</p>")
    if changes.laws_removed:
        out.append(f"<p>移除法规/文件：{esc('、'.join(changes.laws_removed))}</p>")
    for label, items, link in (("新增", changes.added, True), ("修改", changes.changed, True),
                               ("删除", changes.removed, False)):
        out.append(f"<h4>{label}条文（{len(items)}）</h4>")
        if items:
            out.append("<ul>" + "".join(_change_li(c, link) for c in items[:LIST_LIMIT]) + "</ul>")
            if len(items) > LIST_LIMIT:
                out.append(f"<p>……另有 {len(items) - LIST_LIMIT} 条未列出。</p>")
    out.append("</div>")
    return "".join(out)


def _change_li(change: ArticleChange, link: bool) -> str:
    if not link:
        return f"<li>{esc(change.citation())}</li>"
    url = deep_link(change.law, str(change.num)) if change.num > 0 else deep_link(change.law, "")
    return f'<li><a href="{esc(url)}">{esc(change.citation())}</a></li>'
