"""The article browser: plain, deep-linkable HTML pages (no JavaScript), escaped throughout.

    /browse?q=大气法          find a law (titles, short titles, aliases); lists all laws by level
    /law/<name>               a law: metadata, table of contents (编/章/节), every article
    /article/<law>/<num>      one article in context, with its status and, if repealed, its counterpart in force
    /?law=<law>&num=<num>     redirects to /article/<law>/<num>

Answers and training material link here, so the URLs are part of the interface.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from ..errors import NotFoundError
from ..records import LEVELS, STATUS_REPEALED, Article, Law
from .render import article_url, esc, highlight, law_url, status_badge
from .runtime import IndexBuildingError, Runtime

CSS = Path(__file__).with_name("pufa.css").read_text(encoding="utf-8")


def page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    doc = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f"<title>{esc(title)} · 普法助手</title><style>{CSS}</style></head>"
           f'<body><main class="pufa-page">{body}</main></body></html>')
    return HTMLResponse(doc, status_code=status_code)


def _search_form(value: str = "") -> str:
    return ('<form class="pufa-search" action="/browse" method="get" role="search">'
            '<label for="pufa-q" class="pufa-visually-hidden">法律名称</label>'
            f'<input id="pufa-q" name="q" value="{esc(value)}" placeholder="法律名称或简称，如 大气法、法典、行政处罚法" '
            'aria-label="法律名称或简称">'
            '<button type="submit">查找</button></form>')


def _header(crumbs: list[tuple[str, str]], search: str = "") -> str:
    links = ['<a href="/">返回问答</a>', '<a href="/browse">条文浏览</a>']
    links += [f'<a href="{esc(url)}">{esc(label)}</a>' if url else esc(label) for label, url in crumbs]
    return (f'<header><nav class="pufa-crumbs" aria-label="位置">{" › ".join(links)}</nav>'
            f"{_search_form(search)}</header>")


def _law_meta(law: Law) -> str:
    parts = [esc(law.level or "效力级别未知"), status_badge(law.status)]
    if law.effective:
        parts.append(f"施行日期 {esc(law.effective)}")
    if law.promulgated:
        parts.append(f"公布/修订 {esc(law.promulgated)}")
    if law.issuer:
        parts.append(f"制定机关 {esc(law.issuer)}")
    return f'<p class="pufa-meta">{" · ".join(parts)}</p>'


def anchor(article: Article) -> str:
    return f"a-{article.num}-{article.sub}" if article.sub else f"a-{article.num}"


def toc_html(law: Law, articles: list[Article]) -> str:
    """Nested table of contents from the articles' chapter paths (编 / 分编 / 章 / 节)."""
    root: list[dict] = []
    path: list[dict] = []  # the open node at each depth
    for article in articles:
        parts = [p.strip() for p in article.chapter.split(" / ") if p.strip()] if article.chapter else []
        depth = 0
        while depth < min(len(path), len(parts)) and path[depth]["title"] == parts[depth]:
            depth += 1
        path = path[:depth]
        for title in parts[depth:]:
            node = {"title": title, "anchor": anchor(article), "children": []}
            (path[-1]["children"] if path else root).append(node)
            path.append(node)

    def render(nodes: list[dict]) -> str:
        return "<ul>" + "".join(f'<li><a href="#{n["anchor"]}">{esc(n["title"])}</a>'
                                + (render(n["children"]) if n["children"] else "") + "</li>" for n in nodes) + "</ul>"

    if not root:
        return ""
    return f'<nav class="pufa-toc" aria-label="目录"><h2>目录</h2>{render(root)}</nav>'


def _article_block(article: Article, heading: str = "h3", link: bool = True) -> str:
    title = esc(article.article_no)
    if link:
        title = f'<a href="{esc(article_url(article))}">{title}</a>'
    return (f'<section class="pufa-article" id="{anchor(article)}"><{heading}>{title}</{heading}>'
            f'<div class="pufa-text">{highlight(article.text, ())}</div></section>')


def _not_found(message: str, suggestions: list[str], search: str) -> HTMLResponse:
    hint = ""
    if suggestions:
        hint = "<p>您要找的是不是：" + "、".join(
            f'<a href="{esc(law_url(s))}">{esc(s)}</a>' for s in suggestions if not s.startswith("第")) + "</p>"
    body = _header([("未找到", "")], search) + f'<h1>未找到</h1><p role="alert">{esc(message)}</p>{hint}'
    return page("未找到", body, 404)


def _building(runtime: Runtime) -> HTMLResponse:
    progress = f"（{esc(runtime.progress)}）" if runtime.progress else ""
    body = (_header([]) + f'<p class="pufa-building" role="status">正在建立索引{progress}，请稍候约半分钟后刷新本页。</p>')
    return page("正在建立索引", body, 503)


def _parse_num(num: str) -> tuple[str | int, int]:
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", num.strip())
    if m:
        return int(m.group(1)), int(m.group(2) or 0)
    return num, 0


def pages_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get("/browse", response_class=HTMLResponse)
    def browse(q: str = Query("", max_length=100)):
        try:
            catalog = runtime.services.catalog
        except IndexBuildingError:
            return _building(runtime)
        q = q.strip()
        if q:
            try:
                law = catalog.resolve_law(q)
                return RedirectResponse(law_url(law.short), status_code=303)
            except NotFoundError as e:
                return _not_found(f"没有找到名为“{q}”的法律法规。", e.suggestions, q)
        by_level: dict[str, list[Law]] = defaultdict(list)
        for law in catalog.laws():
            by_level[law.level or "其他"].append(law)
        order = [lv for lv in LEVELS if lv in by_level] + sorted(set(by_level) - set(LEVELS))
        sections = []
        for level in order:
            items = "".join(
                f'<li><a href="{esc(law_url(law.short if law.status != STATUS_REPEALED else law.title))}">{esc(law.title)}</a> '
                f'{status_badge(law.status)} <span class="pufa-meta">{esc(law.effective)}</span></li>'
                for law in by_level[level])
            sections.append(f'<h2>{esc(level)}（{len(by_level[level])}）</h2><ul class="pufa-law-list">{items}</ul>')
        body = _header([]) + "<h1>条文浏览</h1>" + "".join(sections)
        return page("条文浏览", body)

    @router.get("/law/{name}", response_class=HTMLResponse)
    def law_page(name: str):
        try:
            catalog = runtime.services.catalog
        except IndexBuildingError:
            return _building(runtime)
        try:
            law = catalog.resolve_law(name)
        except NotFoundError as e:
            return _not_found(f"没有找到名为“{name}”的法律法规。", e.suggestions, name)
        articles = catalog.articles_of(law.law_id)
        notice = ""
        if law.status == STATUS_REPEALED:
            notice = ('<p class="pufa-notice" role="note">本法已废止。打开其中一条，可查看现行有效的对应条文。</p>')
        body = (_header([(law.short, "")], law.short) + f"<h1>{esc(law.title)}</h1>{_law_meta(law)}{notice}"
                f'<p class="pufa-meta">共 {len(articles)} 条</p>' + toc_html(law, articles)
                + "".join(_article_block(a) for a in articles))
        return page(law.short, body)

    @router.get("/article/{law}/{num}", response_class=HTMLResponse)
    def article_page(law: str, num: str):
        try:
            services = runtime.services
        except IndexBuildingError:
            return _building(runtime)
        catalog = services.catalog
        number, sub = _parse_num(num)
        try:
            if isinstance(number, int):
                found = catalog.resolve_law(law)
                article = catalog.article_of(found, number, sub)
            else:
                article = catalog.article(law, number)
                found = catalog.law(article.law_id)
        except NotFoundError as e:
            return _not_found(f"没有找到《{law}》{num}。", e.suggestions, law)
        return page(article.citation(), article_body(services, found, article))

    return router


def article_body(services, law: Law, article: Article) -> str:
    """One article with its law's metadata, its chapter, neighbours and (if repealed) counterparts."""
    articles = services.catalog.articles_of(law.law_id)
    pos = next((i for i, a in enumerate(articles) if a.key == article.key), -1)
    prev_a = articles[pos - 1] if pos > 0 else None
    next_a = articles[pos + 1] if 0 <= pos < len(articles) - 1 else None
    chapter = f'<p class="pufa-chapter">{esc(article.chapter)}</p>' if article.chapter else ""
    counterpart = ""
    if law.status == STATUS_REPEALED:
        hits = services.retriever.counterparts(article, k=2)
        if hits:
            items = "".join(
                f'<section class="pufa-article"><h3><a href="{esc(article_url(h.article))}">{esc(h.article.citation())}</a> '
                f'{status_badge(h.article.status)} <span class="pufa-meta">施行 {esc(h.article.effective)}</span></h3>'
                f'<div class="pufa-text">{highlight(h.article.text, ())}</div></section>' for h in hits)
            counterpart = (f'<h2>现行对应条文</h2><p class="pufa-notice" role="note">本条所在的《{esc(law.short)}》已废止，'
                           f"以下是现行有效的对应条文（按内容匹配，仅供参考）：</p>{items}")
        else:
            counterpart = '<p class="pufa-notice" role="note">本条已废止，未找到现行对应条文。</p>'
    pager = '<nav class="pufa-pager" aria-label="上一条和下一条">'
    pager += f'<a href="{esc(article_url(prev_a))}">← {esc(prev_a.article_no)}</a>' if prev_a else "<span></span>"
    pager += f'<a href="{esc(law_url(law.short))}#{anchor(article)}">在全文中查看</a>'
    pager += f'<a href="{esc(article_url(next_a))}">{esc(next_a.article_no)} →</a>' if next_a else "<span></span>"
    pager += "</nav>"
    return (_header([(law.short, law_url(law.short)), (article.article_no, "")], law.short)
            + f"<h1>{esc(article.citation())}</h1>{_law_meta(law)}{chapter}"
            + f'<section class="pufa-article" id="{anchor(article)}"><div class="pufa-text">{highlight(article.text, ())}</div></section>'
            + counterpart + pager)


def deep_link(law: str, num: str) -> str:
    return f"/article/{quote(law, safe='')}/{quote(num, safe='')}" if num else law_url(law)
