"""Guides, FAQs and other non-statute documents → sections shaped like articles.

With Markdown headings, each heading starts a section (label = heading, chapter = heading path).
Without headings, blank-line paragraphs are grouped into sections of about SECTION_CHARS
characters, labelled 第N段. Sections are numbered 1.. in document order (num), sub is 0.
Deliberately left out: any notion of legal force; a guide cites nothing and is level 指南.
"""

from __future__ import annotations

import re
from pathlib import Path

from pufa.errors import ParseError
from pufa.records import LawMeta, ParsedArticle, ParsedDocument
from pufa.statute_text import Line, prepare_lines

SECTION_CHARS = 600


def _sections_by_heading(lines: list[Line], doc_title: str) -> list[tuple[str, tuple[str, ...], list[str]]]:
    sections: list[tuple[str, tuple[str, ...], list[str]]] = []
    path: list[tuple[int, str]] = []
    current: list[str] = []
    label = ""
    for line in lines:
        if line.kind == "heading":
            if current:
                sections.append((label, tuple(h for _, h in path), current))
            current = []
            if line.level == 1 and line.text == doc_title:
                path, label = [], ""
                continue
            path = [(lvl, h) for lvl, h in path if lvl < line.level] + [(line.level, line.text)]
            label = line.text
        elif line.kind in ("text", "table"):
            current.append(line.text)
    if current:
        sections.append((label, tuple(h for _, h in path), current))
    return sections


def _sections_by_paragraph(lines: list[Line]) -> list[list[str]]:
    paragraphs: list[str] = []
    run: list[str] = []
    for line in lines + [Line("blank", "")]:
        if line.kind in ("text", "table"):
            run.append(line.text)
        elif run:
            paragraphs.append("\n".join(run))
            run = []
    groups: list[list[str]] = []
    size = 0
    for para in paragraphs:
        if groups and size + len(para) <= SECTION_CHARS:
            groups[-1].append(para)
            size += len(para)
        else:
            groups.append([para])
            size = len(para)
    return groups


def parse_guide(text: str, *, source: str, title: str | None = None) -> ParsedDocument:
    """Parse a guide/FAQ into sections. Raises ParseError when there is no text at all."""
    lines = prepare_lines(text)
    first_h1 = next((ln.text for ln in lines if ln.kind == "heading" and ln.level == 1), None)
    doc_title = title or first_h1 or re.sub(r"_\d{4}-\d{2}-\d{2}$", "", Path(source).stem) or "未命名文档"
    articles: list[ParsedArticle] = []
    if any(ln.kind == "heading" for ln in lines):
        for label, chapter, body in _sections_by_heading(lines, first_h1 or ""):
            n = len(articles) + 1
            articles.append(ParsedArticle(n, 0, label or f"第{n}段", "\n".join(body), chapter))
    else:
        for group in _sections_by_paragraph(lines):
            n = len(articles) + 1
            articles.append(ParsedArticle(n, 0, f"第{n}段", "\n".join(group)))
    if not articles:
        raise ParseError(f"{source or '<text>'}: the document has no text to index")
    meta = LawMeta(title=doc_title, level="指南", source=source, kind="guide")
    return ParsedDocument(meta=meta, articles=tuple(articles))
