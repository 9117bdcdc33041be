"""Text extraction from the files a bureau drops into its corpus folder, and statute/guide dispatch.

Supported: .md/.markdown/.txt (UTF-8, BOM tolerated), .docx (python-docx: paragraphs and tables
in document order; Word heading styles become Markdown headings), .pdf (pypdf text layer) and
.html/.htm (stdlib html.parser; script/style dropped; h1–h6 become Markdown headings).

Encoding policy: text must be UTF-8. A GBK/GB18030 file raises ParseError asking to re-save it as
UTF-8 — we do not guess encodings, because a wrong guess silently puts garbage into citations.
Deliberately left out: OCR (a PDF without a text layer is an error saying so), .doc/.wps, and
layout recovery (PDF columns, headers and footers come out as pypdf gives them).
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from pathlib import Path

from pufa.errors import ParseError
from pufa.records import ParsedDocument
from pufa.statute import looks_like_statute, parse_guide, parse_statute

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".md", ".markdown", ".txt")
HTML_SUFFIXES = (".html", ".htm")
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + (".docx", ".pdf")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise ParseError(f"{path}: not a text file (binary content); is the file extension right?")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        try:
            data.decode("gb18030")
        except UnicodeDecodeError:
            raise ParseError(f"{path}: not a text file (undecodable bytes at offset {e.start}); "
                             "is the file extension right?") from e
        raise ParseError(f"{path}: the file is not UTF-8 (it looks like GBK/GB18030, common for files "
                         "saved on Chinese Windows); re-save it as UTF-8 (e.g. in Notepad: Save As → "
                         "Encoding: UTF-8) and add it again") from e
    if len(_CONTROL.findall(text)) > max(3, len(text) // 200):
        raise ParseError(f"{path}: not a text file (control characters in the content)")
    return text


def _read_docx(path: Path) -> str:
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph
    except ImportError as e:
        raise ParseError(f"{path}: reading .docx needs python-docx (pip install python-docx)") from e
    try:
        document = docx.Document(str(path))
    except Exception as e:  # python-docx raises zipfile/KeyError/PackageNotFoundError on junk
        raise ParseError(f"{path}: not a readable .docx file ({type(e).__name__}: {e})") from e
    blocks: list[str] = []
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(child, document)
            text = para.text.strip()
            if not text:
                continue
            style = (para.style.name if para.style is not None else "") or ""
            if style == "Title":
                text = f"# {text}"
            elif m := re.fullmatch(r"Heading (\d)", style):
                text = f"{'#' * min(6, int(m.group(1)) + 1)} {text}"
            blocks.append(text)
        elif tag == "tbl":
            rows = []
            for row in Table(child, document).rows:
                cells, seen = [], set()
                for cell in row.cells:  # a merged cell is returned once per grid column
                    if id(cell._tc) in seen:
                        continue
                    seen.add(id(cell._tc))
                    if value := " ".join(cell.text.split()):
                        cells.append(value)
                if cells:
                    rows.append("| " + " | ".join(cells) + " |")
            blocks.append("\n".join(rows))
    return "\n\n".join(b for b in blocks if b)


def _read_pdf(path: Path) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError as e:
        raise ParseError(f"{path}: reading .pdf needs pypdf (pip install pypdf)") from e
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError(f"{path}: the PDF is password-protected; save an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except ParseError:
        raise
    except (PyPdfError, ValueError, KeyError, OSError) as e:
        raise ParseError(f"{path}: not a readable PDF ({type(e).__name__}: {e})") from e
    text = "\n".join(pages)
    if not text.strip():
        raise ParseError(f"{path}: the PDF has no text layer (a scan?); it needs OCR before it can "
                         "be added, or add the text as .docx/.txt instead")
    return text


_ROW, _CELL = "\n\x01", "\x02"  # private markers, never present in decoded text


class _HtmlText(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "table", "section", "article", "ul", "ol", "blockquote",
              "pre", "dd", "dt", "header", "footer"}
    _SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "tr":
            self.parts.append(_ROW)
        elif tag in ("td", "th"):
            self.parts.append(_CELL)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in self._BLOCK or re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data.replace("\x01", "").replace("\x02", ""))


def _read_html(path: Path, raw: str) -> str:
    reader = _HtmlText()
    reader.feed(raw)
    reader.close()
    lines = []
    for line in "".join(reader.parts).split("\n"):
        if line.startswith(_ROW.strip("\n")):
            # A table row becomes a Markdown row, which the parsers keep as one table line.
            cells = [" ".join(c.split()) for c in line[1:].split(_CELL)]
            line = "| " + " | ".join(c for c in cells if c) + " |" if any(cells) else ""
        lines.append(" ".join(line.replace(_CELL, " ").split()))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if reader.title.strip() and not text.startswith("# "):
        text = f"# {' '.join(reader.title.split())}\n\n{text}"
    return text


def read_document(path: Path) -> str:
    """The text of one document. Raises ParseError with a message for the person adding it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ParseError(f"{path}: unsupported file type {suffix or '(none)'}; use one of {', '.join(SUFFIXES)}")
    try:
        if suffix == ".docx":
            return _read_docx(path)
        if suffix == ".pdf":
            return _read_pdf(path)
        data = path.read_bytes()
    except OSError as e:
        raise ParseError(f"{path}: cannot read the file ({e.strerror or e})") from e
    text = _decode(path, data)
    return _read_html(path, text) if suffix in HTML_SUFFIXES else text


def parse_document(path: Path, *, meta_hints: dict | None = None) -> ParsedDocument:
    """Read a file and parse it as a statute when it has numbered articles, else as a guide."""
    path = Path(path)
    text = read_document(path)
    statute = looks_like_statute(text)
    log.debug("%s: parsing as %s", path, "statute" if statute else "guide")
    if statute:
        return parse_statute(text, source=str(path), meta_hints=meta_hints)
    title = (meta_hints or {}).get("title") or None
    return parse_guide(text, source=str(path), title=title)
