"""Tests for pufa.documents: every supported format built inside the test, plus the failure modes."""

from __future__ import annotations

import pytest

from pufa.documents import parse_document, read_document
from pufa.errors import ParseError

STATUTE = "# 示例管理条例\n\n第一条 为了示例，制定本条例。\n\n第二条 本条例适用于示例。\n\n第三条 本条例自2022年1月1日起施行。\n"


def _minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with ASCII text in the standard Helvetica font, with a correct xref table."""
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops += [f"({escaped}) Tj", "T*"]
    ops.append("ET")
    stream = "\n".join(ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.mark.parametrize(("name", "payload"), [
    ("law.md", STATUTE.encode("utf-8")),
    ("law.txt", b"\xef\xbb\xbf" + STATUTE.encode("utf-8")),  # BOM is dropped
    ("law.markdown", STATUTE.replace("\n", "\r\n").encode("utf-8")),
])
def test_utf8_text_files(tmp_path, name, payload):
    path = tmp_path / name
    path.write_bytes(payload)
    text = read_document(path)
    assert text.startswith("# 示例管理条例")
    doc = parse_document(path)
    assert [a.label for a in doc.articles] == ["第一条", "第二条", "第三条"]
    assert doc.meta.title == "示例管理条例" and doc.meta.effective == "2022-01-01"
    assert doc.meta.source == str(path)


def test_gbk_file_is_rejected_with_advice(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes(STATUTE.encode("gbk"))
    with pytest.raises(ParseError, match="not UTF-8.*re-save it as UTF-8") as excinfo:
        read_document(path)
    assert "gbk.txt" in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize("payload", [
    bytes(range(256)) * 8,  # NUL bytes
    b"\x89PNG\r\n\x1a\n" + bytes([0x80 + (i * 7) % 120 for i in range(500)]),  # not UTF-8, not GB18030
    ("正文" + "\x01\x02\x03\x04" * 20).encode("utf-8"),  # valid UTF-8 full of control characters
])
def test_binary_junk_renamed_md_is_a_parse_error(tmp_path, payload):
    path = tmp_path / "junk.md"
    path.write_bytes(payload)
    with pytest.raises(ParseError, match="junk.md"):
        parse_document(path)


def test_docx_paragraphs_and_tables_in_order(tmp_path):
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_heading("示例管理条例", level=0)
    document.add_heading("第一章　总则", level=1)
    document.add_paragraph("第一条　为了示例，制定本条例。")
    document.add_paragraph("第二条　收费标准如下：")
    table = document.add_table(rows=2, cols=3)
    for r, row in enumerate((("项目", "标准", "备注"), ("甲", "1元", ""))):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(1, 1).merge(table.cell(1, 2))
    table.cell(1, 1).text = "1元"
    document.add_paragraph("第三条　本条例自2022年1月1日起施行。")
    path = tmp_path / "rules.docx"
    document.save(str(path))

    text = read_document(path)
    assert text.index("收费标准") < text.index("项目 | 标准 | 备注") < text.index("第三条")
    assert "| 甲 | 1元 |" in text  # merged cell once
    doc = parse_document(path)
    assert doc.meta.title == "示例管理条例"
    assert [a.label for a in doc.articles] == ["第一条", "第二条", "第三条"]
    assert doc.articles[1].text == "收费标准如下：\n项目 | 标准 | 备注\n甲 | 1元"
    assert doc.articles[0].chapter == ("第一章 总则",)


def test_corrupt_docx_is_a_parse_error(tmp_path):
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ParseError, match="broken.docx"):
        read_document(path)


def test_pdf_with_text_layer(tmp_path):
    path = tmp_path / "notice.pdf"
    path.write_bytes(_minimal_pdf(["Discharge permit notice", "Apply within (30) days."]))
    text = read_document(path)
    assert "Discharge permit notice" in text and "Apply within (30) days." in text
    doc = parse_document(path)
    assert doc.meta.kind == "guide" and "Discharge permit notice" in doc.articles[0].text


def test_pdf_without_text_layer_needs_ocr(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    path = tmp_path / "scan.pdf"
    with open(path, "wb") as f:
        writer.write(f)
    with pytest.raises(ParseError, match="no text layer.*OCR"):
        read_document(path)


def test_not_a_pdf_is_a_parse_error(tmp_path):
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"hello, I am not a PDF")
    with pytest.raises(ParseError, match="fake.pdf"):
        read_document(path)


def test_html_drops_script_and_style_and_keeps_structure(tmp_path):
    html = """<!doctype html><html><head><title>排污许可常见问题</title>
    <style>p { color: red }</style><script>var x = "第一条 伪造";</script></head>
    <body><h1>排污许可常见问题</h1><h2>一、申请</h2><p>问：何时申请？</p><p>答：投产前&nbsp;申请。</p>
    <table><tr><th>材料</th><th>份数</th></tr><tr><td>申请表</td><td>1</td></tr></table></body></html>"""
    path = tmp_path / "faq.html"
    path.write_text(html, encoding="utf-8")
    text = read_document(path)
    assert "color" not in text and "伪造" not in text
    assert "| 材料 | 份数 |" in text
    doc = parse_document(path)
    assert doc.meta.kind == "guide" and doc.meta.title == "排污许可常见问题"
    section = doc.articles[0]
    assert section.label == "一、申请" and section.chapter == ("一、申请",)
    assert section.text == "问：何时申请？\n答：投产前 申请。\n材料 | 份数\n申请表 | 1"


def test_html_statute_is_parsed_as_statute(tmp_path):
    body = "".join(f"<p>{line}</p>" for line in STATUTE.splitlines()[2:] if line)
    path = tmp_path / "law.htm"
    path.write_text(f"<html><head><title>示例管理条例</title></head><body>{body}</body></html>", encoding="utf-8")
    doc = parse_document(path)
    assert doc.meta.title == "示例管理条例" and len(doc.articles) == 3


@pytest.mark.parametrize("name", ["old.doc", "archive.zip", "noext"])
def test_unsupported_types(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"x")
    with pytest.raises(ParseError, match="unsupported file type"):
        read_document(path)


def test_missing_file(tmp_path):
    with pytest.raises(ParseError, match="cannot read"):
        read_document(tmp_path / "gone.md")
