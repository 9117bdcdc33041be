"""HTML for answers and source cards. Every piece of text is escaped here, nowhere else.

Answers, questions, corpus text and titles are untrusted (a corpus document can contain anything),
so the rendering never passes text through as markup: answer text is escaped first and only a tiny,
fixed subset of Markdown is recognised afterwards (paragraphs, "- " lists, **bold**, [n] markers).
Links are only ever built by us (article URLs, in-page anchors), never taken from the text.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from ..answer import Answer, Citation
from ..records import STATUS_CURRENT, STATUS_REPEALED, Article

_MARKER = re.compile(r"\[(\d{1,3})\]")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
# The answer text escapes Markdown syntax in quoted law text with a backslash (extractive.md_escape).
_ESCAPED = re.compile(r"\\([\\`*_\[\]()<>#|~!])")
_STASHED = re.compile(r"\x00(\d+)\x00")


def esc(text: object) -> str:
    return html.escape(str(text if text is not None else ""), quote=True)


def article_url(article: Article) -> str:
    """Deep link to an article in the browser (law short title and number, sub-article as 20-1)."""
    num = f"{article.num}-{article.sub}" if article.sub else str(article.num)
    return f"/article/{quote(article.law_short, safe='')}/{num}"


def law_url(title_or_short: str) -> str:
    return f"/law/{quote(title_or_short, safe='')}"


def status_badge(status: str) -> str:
    if status == STATUS_CURRENT:
        cls = "ok"
    elif status == STATUS_REPEALED:
        cls = "gone"
    else:
        cls = "other"
    return f'<span class="pufa-badge pufa-badge-{cls}">{esc(status or "状态未知")}</span>'


def highlight(text: str, quotes: tuple[str, ...] | list[str]) -> str:
    """Escaped text with every occurrence of the quotes wrapped in <mark> (overlaps merged)."""
    spans: list[tuple[int, int]] = []
    for q in quotes:
        q = q.strip()
        if not q:
            continue
        start = text.find(q)
        while start >= 0:
            spans.append((start, start + len(q)))
            start = text.find(q, start + len(q))
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, pos = [], 0
    for s, e in merged:
        out.append(esc(text[pos:s]))
        out.append(f"<mark>{esc(text[s:e])}</mark>")
        pos = e
    out.append(esc(text[pos:]))
    return "".join(out).replace("\n", "<br>")


def _inline(line: str, anchors: dict[int, str]) -> str:
    """One escaped line: **bold** and [n] markers that have a source become links to the card."""
    stash: list[str] = []

    def keep(m: re.Match) -> str:
        stash.append(m.group(1))
        return f"\x00{len(stash) - 1}\x00"

    text = esc(_ESCAPED.sub(keep, line.replace("\x00", "")))
    text = _BOLD.sub(r"<strong>\1</strong>", text)

    def marker(m: re.Match) -> str:
        n = int(m.group(1))
        if n in anchors:
            return (f'<a class="pufa-cite" href="#{anchors[n]}" aria-label="来源{n}">[{n}]</a>')
        return m.group(0)

    text = _MARKER.sub(marker, text)
    return _STASHED.sub(lambda m: esc(stash[int(m.group(1))]), text)


def text_html(text: str, anchors: dict[int, str] | None = None) -> str:
    """A small, safe Markdown subset: paragraphs, '- ' / '1. ' lists, '> ' quotes, headings as bold lines."""
    anchors = anchors or {}
    blocks: list[str] = []
    items: list[str] = []
    list_tag = ""

    def flush() -> None:
        nonlocal items, list_tag
        if items and list_tag == "blockquote":
            blocks.append("<blockquote>" + "".join(f"<p>{i}</p>" for i in items) + "</blockquote>")
        elif items:
            blocks.append(f"<{list_tag}>" + "".join(f"<li>{i}</li>" for i in items) + f"</{list_tag}>")
        items, list_tag = [], ""

    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            flush()
            continue
        quote_line = re.match(r"^>\s?(.*)$", line)
        if quote_line:
            if list_tag and list_tag != "blockquote":
                flush()
            list_tag = "blockquote"
            items.append(_inline(quote_line.group(1), anchors))
            continue
        bullet = re.match(r"^[-*•]\s+(.*)$", line)
        ordered = re.match(r"^\d{1,2}[.、)]\s*(.*)$", line)
        if bullet or ordered:
            tag = "ul" if bullet else "ol"
            if list_tag and list_tag != tag:
                flush()
            list_tag = tag
            items.append(_inline((bullet or ordered).group(1), anchors))
            continue
        flush()
        heading = re.match(r"^#{1,6}\s*(.*)$", line)
        if heading:
            blocks.append(f'<p class="pufa-h">{_inline(heading.group(1), anchors)}</p>')
        else:
            blocks.append(f"<p>{_inline(line, anchors)}</p>")
    flush()
    return "".join(blocks)


def card_html(citation: Citation, anchor: str, open_: bool = False) -> str:
    a = citation.article
    meta = [esc(a.level or "效力级别未知"), status_badge(a.status)]
    if a.effective:
        meta.append(f"施行 {esc(a.effective)}")
    replaces = ""
    if citation.replaces:
        replaces = (f'<p class="pufa-replaces">{status_badge(STATUS_REPEALED)} {esc(citation.replaces)} → '
                    f'现行对应条文 {esc(a.citation())}</p>')
    chapter = f'<p class="pufa-chapter">{esc(a.chapter)}</p>' if a.chapter else ""
    return (
        f'<div class="pufa-card" id="{esc(anchor)}">'
        f'<details{" open" if open_ else ""}><summary><span class="pufa-n">[{citation.n}]</span> '
        f'<span class="pufa-title">{esc(a.citation())}</span> '
        f'<span class="pufa-meta">{" · ".join(meta)}</span></summary>'
        f"{replaces}{chapter}"
        f'<div class="pufa-text">{highlight(a.text, citation.quotes)}</div>'
        f'<p><a href="{esc(article_url(a))}" target="_blank" rel="noopener">在条文浏览器中打开 {esc(a.citation())}</a></p>'
        f"</details></div>")


def answer_html(text: str, citations: tuple[Citation, ...] | list[Citation], turn: int, *,
                notices: tuple[str, ...] = (), refused: bool = False, pending: bool = False, final: bool = False) -> str:
    """An assistant message: the answer with [n] links, notices, then the source cards.

    No blank lines in the output: the chat component treats the message as one HTML block.
    """
    anchors = {c.n: f"pufa-src-{turn}-{c.n}" for c in citations}
    classes = "pufa-answer" + (" pufa-refused" if refused else "") + (" pufa-final" if final else "")
    parts = [f'<div class="{classes}">']
    if text:
        parts.append(text_html(text, anchors))
    elif pending:
        parts.append('<p class="pufa-pending">正在检索相关条文…</p>')
    for notice in notices:
        parts.append(f'<p class="pufa-notice">{esc(notice)}</p>')
    if citations:
        parts.append(f'<div class="pufa-sources" role="group" aria-label="来源条文"><p class="pufa-sources-h">来源条文（{len(citations)}）</p>')
        parts.extend(card_html(c, anchors[c.n]) for c in citations)
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def final_answer_html(answer: Answer, turn: int) -> str:
    return answer_html(answer.answer, answer.citations, turn, notices=answer.notices, refused=answer.refused,
                       final=True)


def plain_text(answer: Answer) -> str:
    """The answer as plain text for copying: the text, then the numbered sources."""
    lines = [answer.answer.strip()]
    if answer.citations:
        lines.append("")
        lines.append("来源：")
        for c in answer.citations:
            a = c.article
            extra = f"（{c.replaces} 的现行对应条文）" if c.replaces else ""
            lines.append(f"[{c.n}] {a.citation()}{extra}（{a.status or '状态未知'}，施行 {a.effective or '未知'}）")
    return "\n".join(lines)


def error_html(message: str) -> str:
    return f'<div class="pufa-answer pufa-error" role="alert"><p>{esc(message)}</p></div>'
