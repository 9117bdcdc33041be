"""Line-level clean-up shared by the statute and guide parsers.

Turns raw Markdown / plain text into a list of typed lines: text, table row, Markdown heading,
blank, the LawRefBook `<!-- INFO END -->` marker. Zero-width characters, odd spaces, inline HTML
tags and `**bold**` are removed here; HTML and Markdown tables become one readable row per line.
It also recognises structural headings (编/分编/章/节) and normalises their spacing.
It deliberately knows nothing about article numbering: continuity is the statute parser's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from pufa.numerals import NUMERAL

# U+200B/C/D, U+2060 and the BOM are invisible and are not str.isspace(), so strip() keeps them.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_INLINE_TAG = re.compile(r"</?(?:p|br|b|strong|em|i|u|span|div|sup|sub|font|a)\b[^>]*>", re.I)
_COMMENT = re.compile(r"<!--(.*?)-->")
# Closing #s are stripped in code: a lazy `(.*?)\s*#*$` backtracks quadratically on a long line of
# spaces (20 KB took 10 s).
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_MD_TABLE_SEP = re.compile(r"^\|?[\s:|\-]+\|?$")
_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_HALF_ITEM = re.compile(r"^\(([一二三四五六七八九十]+)\)")

STRUCTURE_RANK = {"编": 0, "分编": 1, "章": 2, "节": 3}
_HEADING = re.compile(rf"^第\s*({NUMERAL})\s*(分编|编|章|节)(\s*)(.*)$")
# Words that follow "第X章" in running text ("第二章规定的…"), never in a heading.
_HEADING_CONTINUATION = re.compile(r"^(?:规定|所|中|的|之|第|、|和|或|至|及|以|有关)")
_SENTENCE_PUNCT = re.compile(r"[。；;，,！？?]")
_APPENDIX = re.compile(r"^(附表|附件|附录)[一二三四五六七八九十\d]*(?:\s|：|:|$)")


@dataclass(frozen=True)
class Line:
    kind: str  # "text" | "table" | "heading" | "blank" | "info_end"
    text: str
    level: int = 0  # number of '#' for Markdown headings


@dataclass(frozen=True)
class Heading:
    rank: int  # 0 编, 1 分编, 2 章, 3 节
    text: str  # normalised, e.g. "第一章 总则"


def squash_spaces(text: str) -> str:
    """Collapse any run of whitespace (full-width, thin, NBSP…) into one ASCII space."""
    return re.sub(r"\s+", " ", text).strip()


def clean_line(raw: str) -> str:
    text = raw.translate(_ZERO_WIDTH)
    text = _INLINE_TAG.sub("", text).replace("**", "")
    return text.strip()


def normalise_item(text: str) -> str:
    """'(一)' at line start → '（一）', the form the official texts use."""
    return _HALF_ITEM.sub(r"（\1）", text)


def _md_table_row(text: str) -> str | None:
    if _MD_TABLE_SEP.fullmatch(text):
        return None
    cells = [squash_spaces(c) for c in text.strip().strip("|").split("|")]
    return " | ".join(c for c in cells if c) or None


class _TableReader(HTMLParser):
    """Collects the cell text of an HTML table, row by row. Spans are not expanded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._close_cell()
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "tr"):
            self._close_cell()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def _close_cell(self) -> None:
        if self._cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append(squash_spaces("".join(self._cell)))
            self._cell = None


def html_table_rows(html: str) -> list[str]:
    reader = _TableReader()
    reader.feed(html)
    reader.close()
    reader._close_cell()  # a last <td> left open (seen in the real files) still counts
    rows = (" | ".join(c for c in row if c) for row in reader.rows)
    return [r for r in rows if r]


def prepare_lines(text: str) -> list[Line]:
    """Split raw text into typed, cleaned lines."""
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[Line] = []
    i = 0
    while i < len(raw_lines):
        raw = raw_lines[i].translate(_ZERO_WIDTH)
        i += 1
        if "<table" in raw.lower():
            block = [raw]
            while "</table>" not in block[-1].lower() and i < len(raw_lines):
                block.append(raw_lines[i].translate(_ZERO_WIDTH))
                i += 1
            joined = "\n".join(block)
            before, _, rest = joined.partition("<")
            if before.strip():
                out.append(Line("text", clean_line(before)))
            out.extend(Line("table", row) for row in html_table_rows("<" + rest))
            continue
        if "<!--" in raw:
            if "INFO END" in raw:
                out.append(Line("info_end", ""))
                continue
            raw = _COMMENT.sub("", raw)
        line = clean_line(raw)
        if not line:
            out.append(Line("blank", ""))
        elif m := _MD_HEADING.match(line):
            out.append(Line("heading", squash_spaces(m.group(2).rstrip().rstrip("#")), len(m.group(1))))
        elif line.startswith("|"):
            if (row := _md_table_row(line)) is not None:
                out.append(Line("table", row))
        else:
            out.append(Line("text", normalise_item(line)))
    return out


def _tidy_heading_name(name: str) -> str:
    # "附  则" and "总　则" are typographic padding inside a two-character name, not a word gap.
    return _SPACE_BETWEEN_CJK.sub("", squash_spaces(name))


def match_heading(text: str, *, markdown: bool) -> Heading | None:
    """A 编/分编/章/节 heading, or None. Plain-text lines must look like a heading, not a sentence."""
    m = _HEADING.match(text)
    if not m:
        return None
    numeral, kind, gap, name = m.group(1), m.group(2), m.group(3), m.group(4).strip()
    if not markdown:
        if len(text) > 40 or _SENTENCE_PUNCT.search(name):
            return None
        if not gap and _HEADING_CONTINUATION.match(name):
            return None
    label = f"第{numeral}{kind}"
    name = _tidy_heading_name(name)
    return Heading(STRUCTURE_RANK[kind], f"{label} {name}" if name else label)


def is_appendix_heading(text: str) -> bool:
    return bool(_APPENDIX.match(text)) and len(text) <= 60 and not _SENTENCE_PUNCT.search(text)
