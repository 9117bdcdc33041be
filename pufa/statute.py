"""Statute parsing: text of a law → ParsedDocument of articles (条) with their chapter paths.

Reads LawRefBook-style Markdown (`# title`, revision lines, `<!-- INFO END -->`, `##`… headings
for 编/分编/章/节) and plain text with chapter lines like "第一章　总则". An article starts only
at the beginning of a line with 第…条, and only when the number fits the numbering so far, so
cross-references ("第二十六条规定的…") never split an article. Paragraphs (款) are kept as lines;
items (项) stay inside their article. Appendix tables (附表) are attached to the article citing them.

Deliberately left out: article-level cross-reference resolution, 款/项 as separate records,
preambles (序言 is skipped, it is not an article) and any lookup of metadata the text doesn't state.
Guides and FAQs go through `parse_guide` (see pufa/statute_guide.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from pufa.errors import ParseError
from pufa.numerals import NUMERAL, article_label, cn_to_int
from pufa.records import ParsedArticle, ParsedDocument
from pufa.statute_guide import parse_guide
from pufa.statute_meta import build_meta
from pufa.statute_text import Line, is_appendix_heading, match_heading, prepare_lines, squash_spaces

__all__ = ["parse_statute", "parse_guide", "looks_like_statute", "match_article_start"]

log = logging.getLogger(__name__)

_START = re.compile(rf"^第\s*({NUMERAL})\s*条(?:\s*之\s*({NUMERAL}))?(\s*)")
# What follows "第X条" directly (no space) in running text, never at the start of an article body.
_CONTINUATION = re.compile(r"^(?:第|规定|所|中的|中|的|、|，|,|和|或|至|及|以及|与|关于|有关|项|款|之规定)")
_ITEM_START = re.compile(r"^(?:（[一二三四五六七八九十\d]+）|[一二三四五六七八九十]+、|\d+[.、．]|[①-⑳])")
# A line ending in one of these ends a sentence or a list entry; anything else may be a stray break.
_LINE_END = set("。；;：:！!？?，,、”’」』）)】》>")
_MAX_GAP = 10  # a numbering gap larger than this is treated as a cross-reference, not an article


@dataclass
class _Article:
    num: int
    sub: int
    chapter: tuple[str, ...]
    lines: list[Line] = field(default_factory=list)


def match_article_start(text: str, last: tuple[int, int] | None) -> tuple[int, int, str, bool] | None:
    """(num, sub, body, expected) if `text` starts an article given the last article number."""
    m = _START.match(text)
    if not m:
        return None
    try:
        num = cn_to_int(m.group(1))
        sub = cn_to_int(m.group(2)) if m.group(2) else 0
    except ValueError:
        return None
    body = text[m.end():]
    spaced = bool(m.group(3)) or not body
    if not spaced and _CONTINUATION.match(body):
        return None
    if last is None:
        expected = (num, sub) == (1, 0)
    else:
        expected = (num, sub) == (last[0] + 1, 0) or (num == last[0] and sub == last[1] + 1)
    if expected:
        return num, sub, body, True
    # Off the expected number: only an explicitly spaced label counts, and only near the numbering.
    if not spaced:
        return None
    if last is None or (last[0] - _MAX_GAP <= num <= last[0] + _MAX_GAP):
        return num, sub, body, False
    return None


def _join_stray_breaks(texts: list[str]) -> tuple[list[str], int]:
    """Join a line that stops mid-sentence with the next one unless that starts a 项."""
    # Pieces are joined once at the end: appending to a growing string is quadratic on a long
    # document without sentence punctuation (1 MB took 9 s).
    out: list[list[str]] = []
    tail = ""  # last character of the paragraph being built
    joined = 0
    for text in texts:
        if tail and tail not in _LINE_END and tail != "\u0000" and not _ITEM_START.match(text):
            out[-1].append(text)
            joined += 1
        else:
            out.append([text])
            tail = ""
        tail = text[-1] if text else tail
    return ["".join(parts) for parts in out], joined


def _article_text(lines: list[Line]) -> tuple[str, int]:
    """Body text: 款 per line, table rows per line, stray breaks inside sentences joined."""
    paragraphs: list[str] = []
    run: list[str] = []
    joined = 0
    for line in lines:
        if line.kind == "table":
            done, n = _join_stray_breaks(run)
            paragraphs += done
            joined += n
            run = []
            paragraphs.append(line.text)
        else:
            run.append(line.text)
    done, n = _join_stray_breaks(run)
    return "\n".join(p for p in paragraphs + done if p), joined + n


def _split_header(lines: list[Line]) -> tuple[str, tuple[str, ...], list[Line]]:
    """(title, revision lines, body lines)."""
    title = ""
    start = 0
    for i, line in enumerate(lines):
        if line.kind == "blank":
            continue
        if line.kind == "heading" and line.level == 1:
            title, start = line.text, i + 1
        elif line.kind == "text" and len(line.text) <= 60 and not match_article_start(line.text, None) \
                and not match_heading(line.text, markdown=False) and line.text[-1] not in "。；：" \
                and not re.match(r"^[（(]?\d{4}年", line.text):
            title, start = line.text, i + 1  # plain text: the first short line names the law
        break
    end = next((i for i, ln in enumerate(lines) if ln.kind == "info_end"), None)
    if end is not None:
        revisions = tuple(squash_spaces(ln.text) for ln in lines[start:end] if ln.kind == "text")
        return title, revisions, lines[end + 1:]
    # No marker: dated 通过/公布/施行 lines before the first article are the revision lines.
    revisions: list[str] = []
    for line in lines[start:]:
        if line.kind == "text" and match_article_start(line.text, None):
            break
        if line.kind == "text" and re.search(r"\d{4}\s*年.*(通过|修订|修正|公布|发布|施行)", line.text):
            revisions.append(squash_spaces(line.text))
    return title, tuple(revisions), lines[start:]


def _attach_appendices(
    articles: list[_Article], appendices: list[tuple[str, list[Line]]], warnings: list[str], source: str
) -> None:
    """An appendix (附表) goes into the article that cites it by name, else into the last article."""
    names = [re.sub(r"^(附表|附件|附录)[一二三四五六七八九十\d]*[\s：:]*", "", h) for h, _ in appendices]
    for (heading, lines), name in zip(appendices, names):
        def cites(art: _Article, title: str) -> bool:
            return any(f"《{title}》" in ln.text for ln in art.lines)

        citing = [a for a in articles if name and cites(a, name)]
        # Prefer the article that cites only this appendix (第六条 "依照本法所附《税目税额表》执行")
        # over a definitions article that lists every appendix.
        citing.sort(key=lambda a: sum(cites(a, other) for other in names if other))
        target = citing[0] if citing else articles[-1]
        target.lines.append(Line("text", heading + "\u0000"))  # NUL: never joined with the next line
        target.lines.extend(lines)
        where = "cites it" if citing else "is the last article"
        warnings.append(f"{source}: '{heading}' has no article number; kept inside "
                        f"{article_label(target.num, target.sub)}, which {where}")


def parse_statute(text: str, *, source: str = "", meta_hints: dict | None = None) -> ParsedDocument:
    """Parse a statute. Raises ParseError when no article is found."""
    name = source or "<text>"
    title, revisions, body = _split_header(prepare_lines(text))
    warnings: list[str] = []
    path: dict[int, str] = {}
    articles: list[_Article] = []
    appendices: list[tuple[str, list[Line]]] = []
    in_appendix = False
    last: tuple[int, int] | None = None

    for line in body:
        if line.kind in ("blank", "info_end"):
            continue
        if line.kind == "heading" or (line.kind == "text" and match_heading(line.text, markdown=False)):
            heading = match_heading(line.text, markdown=line.kind == "heading")
            if heading is not None:
                path = {r: h for r, h in path.items() if r < heading.rank} | {heading.rank: heading.text}
                in_appendix = False
                continue
            if articles and is_appendix_heading(line.text):
                appendices.append((line.text, []))
                in_appendix = True
                continue
            if not articles:
                continue  # 序言 and similar headings before the first article are not articles
            warnings.append(f"{name}: heading '{line.text}' is not 编/分编/章/节; kept in the text")
        if line.kind == "text" and (start := match_article_start(line.text, last)) is not None:
            num, sub, rest, expected = start
            if not expected:
                label = article_label(num, sub)
                if last is None:
                    warnings.append(f"{name}: numbering starts at {label}, not 第一条")
                elif (num, sub) <= last:
                    warnings.append(f"{name}: {label} duplicates or goes back from "
                                    f"{article_label(*last)}")
                else:
                    warnings.append(f"{name}: numbering gap: {article_label(*last)} is followed by {label}")
            chapter = tuple(path[r] for r in sorted(path))
            articles.append(_Article(num, sub, chapter, [Line("text", rest.strip())] if rest.strip() else []))
            last, in_appendix = (num, sub), False
            continue
        if line.kind == "text" and not in_appendix and is_appendix_heading(line.text) and articles \
                and articles[-1].lines:
            appendices.append((line.text, []))
            in_appendix = True
            continue
        if in_appendix:
            appendices[-1][1].append(line)
        elif articles:
            articles[-1].lines.append(line)
        # Text before the first article (preamble, table of contents) is not part of any article.

    if not articles:
        raise ParseError(f"{name}: no articles (lines starting with 第…条) found; "
                         "if this is a guide or FAQ, parse it with parse_guide")
    if appendices:
        _attach_appendices(articles, appendices, warnings, name)

    parsed: list[ParsedArticle] = []
    joined_total = 0
    for art in articles:
        body_text, joined = _article_text(art.lines)
        body_text = body_text.replace("\u0000", "")
        joined_total += joined
        if not body_text:
            warnings.append(f"{name}: {article_label(art.num, art.sub)} has no text")
        parsed.append(ParsedArticle(art.num, art.sub, article_label(art.num, art.sub), body_text, art.chapter))
    if joined_total:
        warnings.append(f"{name}: joined {joined_total} line break(s) that fell inside a sentence")
    if not title:
        title = re.sub(r"[_（(]\d{4}-\d{2}-\d{2}[)）]?$", "", Path(source).stem) if source else ""
        warnings.append(f"{name}: no title line; using '{title}' from the file name")
    meta = build_meta(title, revisions, tuple(parsed), source=source, hints=meta_hints, warnings=warnings)
    for w in warnings:
        log.debug(w)
    return ParsedDocument(meta=meta, articles=tuple(parsed), warnings=tuple(warnings))


def looks_like_statute(text: str) -> bool:
    """True when the text has a run of numbered articles starting at 第一条 at line starts."""
    last: tuple[int, int] | None = None
    count = 0
    for raw in text.splitlines():
        line = raw.strip().replace("\u200b", "").replace("\ufeff", "").replace("**", "")
        if (start := match_article_start(line, last)) is not None and start[3]:
            last, count = (start[0], start[1]), count + 1
    return count >= 3 or (count >= 1 and len(text.strip()) < 400)
