"""Bad input to the document parser: random text, deep headings, 1 MB inputs, binary files, PDFs
without text, a statute with 10,000 articles. The parser either returns a document or raises
ParseError (which FolderSource turns into a skip naming the file and the problem); it never
crashes, and time and memory stay bounded (no quadratic paths: two were found and fixed here).
"""

from __future__ import annotations

import random
import time
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pufa.chunks import chunk_article
from pufa.documents import parse_document
from pufa.errors import ParseError
from pufa.numerals import article_label, int_to_cn
from pufa.sources import FolderSource, SourceReport
from pufa.statute import looks_like_statute, parse_guide, parse_statute
from pufa.statute_text import prepare_lines

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def _parse_any(text: str):
    """What FolderSource does with a text: statute or guide; only ParseError may come out."""
    prepare_lines(text)
    try:
        if looks_like_statute(text):
            doc = parse_statute(text, source="fuzz.md")
            for a in doc.articles:
                assert a.label == article_label(a.num, a.sub)
        else:
            doc = parse_guide(text, source="fuzz.md")
    except ParseError:
        return None
    assert doc.articles and all(isinstance(a.text, str) for a in doc.articles)
    return doc


# ---- random and structured text ------------------------------------------------------------------

@FUZZ
@given(st.text(max_size=3000))
def test_random_unicode_parses_or_is_a_parse_error(text):
    _parse_any(text)


_numbers = st.integers(min_value=0, max_value=12000)
_line = st.one_of(
    _numbers.map(lambda n: f"第{int_to_cn(n) if n else '零'}条　排污单位应当遵守本法。"),
    st.tuples(_numbers, st.integers(1, 3)).map(lambda t: f"第{int_to_cn(t[0] or 1)}条之{int_to_cn(t[1])} 补充规定"),
    st.tuples(st.integers(1, 9), st.sampled_from(["编", "分编", "章", "节"]), st.integers(0, 8)).map(
        lambda t: "#" * t[2] + (" " if t[2] else "") + f"第{int_to_cn(t[0])}{t[1]} 名称"),
    st.sampled_from(["<!-- INFO END -->", "<table><tr><td>甲", "</td></tr></table>", "| a | b |", "|---|---|",
                     "附表一 税目税额表", "（一）第一项", "1. 项目", "**加粗**", "<p>段落</p>", "", "　", "\u200b",
                     "2020年1月1日通过", "<!--", "-->", "# 标题", "###### 深", "####### 太深", "\x00\x07\x1b"]),
    st.text(max_size=80),
)


@FUZZ
@given(st.lists(_line, max_size=60))
def test_statute_shaped_text_parses_or_is_a_parse_error(lines):
    _parse_any("\n".join(lines))


@FUZZ
@given(st.lists(st.tuples(st.integers(1, 8), st.text(min_size=1, max_size=20)), min_size=1, max_size=300))
def test_deeply_nested_markdown_headings(headings):
    text = "\n".join(f"{'#' * level} {title}\n正文{i}" for i, (level, title) in enumerate(headings))
    doc = _parse_any(text)
    if doc is not None:
        assert all(len(a.chapter) <= 6 for a in doc.articles)  # a path, never one entry per heading seen


def test_thousands_of_nested_headings_and_structure_lines_stay_fast():
    levels = [1 + (i * 7919) % 6 for i in range(5_000)]
    guide = "\n".join(f"{'#' * lv} 标题{i}\n内容{i}" for i, lv in enumerate(levels))
    started = time.perf_counter()
    doc = parse_guide(guide, source="deep.md")
    assert len(doc.articles) == 5_000 and max(len(a.chapter) for a in doc.articles) <= 6
    structure = "\n".join(f"第{int_to_cn(i)}{kind} 名称" for i in range(1, 1000) for kind in ("编", "章", "节"))
    doc = parse_statute(structure + "\n第一条 内容\n第二条 内容", source="deep.md")
    assert len(doc.articles) == 2 and len(doc.articles[0].chapter) <= 4
    assert time.perf_counter() - started < 15


# ---- pathological lines (regressions) -------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "# a" + " " * 200_000 + "###b",            # was a quadratic heading regex: 20 KB took 10 s
    "# " + "# " * 200_000 + "x",
    "第一条 " + "甲" * 1_000_000,
    "<table>" + "<tr><td>格</td>" * 10_000,
    "<!--" + "注" * 500_000,
])
def test_pathological_lines_parse_in_bounded_time(text):
    started = time.perf_counter()
    _parse_any(text)
    assert time.perf_counter() - started < 10


def test_lines_without_punctuation_join_in_linear_time():
    # Every line continues the sentence of the one before; joining them was quadratic (9 s for 1 MB).
    from pufa.statute import _join_stray_breaks

    started = time.perf_counter()
    joined, n = _join_stray_breaks(["开始"] + ["无标点文字"] * 200_000)
    assert time.perf_counter() - started < 3  # ~0.1 s
    assert n == 200_000 and joined == ["开始" + "无标点文字" * 200_000]


# ---- files: 1 MB, binary, PDFs without text, 10,000 articles --------------------------------------

def _folder_docs(folder):
    report = SourceReport()
    docs = list(FolderSource(folder).documents(report))
    return docs, report


_READ_FOLDER = """
import sys, time
from pathlib import Path
from pufa.sources import FolderSource, SourceReport
started = time.perf_counter()
report = SourceReport()
docs = list(FolderSource(Path(sys.argv[1])).documents(report))
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork+exec, so it would report pytest's own peak.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(len(docs), len(report.skipped), sum(len(d.articles) for d in docs), time.perf_counter() - started, hwm // 1024)
"""


def test_one_megabyte_documents_bounded_time_and_memory(tmp_path):
    """Three 1 MB files (statute, plain-text guide, HTML) read in a fresh process: time and peak RSS."""
    import subprocess
    import sys
    from pathlib import Path

    rnd = random.Random(8)
    words = ["排污单位", "应当", "依法", "取得", "排污许可证", "。", "，", "生态环境主管部门", "责令改正", "罚款"]
    body = "".join(rnd.choice(words) for _ in range(250_000))
    folder = tmp_path / "docs"
    folder.mkdir()
    statute = "# 一兆条例\n" + "\n".join(f"{article_label(i + 1)}　{body[i * 1000:(i + 1) * 1000]}" for i in range(1000))
    (folder / "statute.md").write_text(statute, encoding="utf-8")
    (folder / "guide.txt").write_text("\n\n".join(body[i:i + 500] for i in range(0, len(body), 500)), "utf-8")
    (folder / "page.html").write_text("<html><title>页</title><body>" + "".join(
        f"<div><h2>节{i}</h2><p>{body[i * 900:(i + 1) * 900]}</p></div>" for i in range(1000)) + "</body></html>",
        encoding="utf-8")
    assert all(p.stat().st_size > 1_000_000 for p in folder.iterdir())
    out = subprocess.run([sys.executable, "-c", _READ_FOLDER, str(folder)], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    n_docs, n_skipped, n_articles, seconds, peak_mb = out.stdout.split()
    assert (int(n_docs), int(n_skipped)) == (3, 0) and int(n_articles) >= 1000 + 2 * 1000 // 2
    assert float(seconds) < 30, seconds  # ~3 s idle; generous for a contended machine
    assert int(peak_mb) < 400, f"peak RSS {peak_mb} MB for 3 MB of input"  # ~100 MB measured


def _image_only_pdf(path):
    from PIL import Image

    Image.new("L", (60, 80), color=128).save(path, "PDF")


def _blank_pdf(path):
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    with open(path, "wb") as f:
        writer.write(f)


def test_bad_files_are_skipped_with_a_message_naming_them(tmp_path):
    rnd = random.Random(3)
    (tmp_path / "good.md").write_text("# 好的条例\n第一条 应当遵守。\n第二条 依法处罚。\n第三条 自公布之日起施行。",
                                      encoding="utf-8")
    (tmp_path / "binary.md").write_bytes(bytes(rnd.randrange(256) for _ in range(5000)))
    (tmp_path / "no-nul.md").write_bytes(bytes(rnd.randrange(128, 256) for _ in range(5000)))
    (tmp_path / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with zipfile.ZipFile(tmp_path / "word.md", "w") as z:  # a .docx renamed .md
        z.writestr("word/document.xml", "<w:document/>")
    (tmp_path / "gbk.txt").write_bytes("第一条 排污单位应当依法取得排污许可证。".encode("gb18030"))
    (tmp_path / "controls.txt").write_text("\x01\x02\x03\x04" * 100, encoding="utf-8")
    _blank_pdf(tmp_path / "blank.pdf")
    _image_only_pdf(tmp_path / "scan.pdf")
    (tmp_path / "cut.pdf").write_bytes((tmp_path / "scan.pdf").read_bytes()[:300])
    (tmp_path / "fake.docx").write_bytes(b"not a zip at all")
    (tmp_path / "empty.md").write_bytes(b"")

    docs, report = _folder_docs(tmp_path)
    assert [d.meta.title for d in docs] == ["好的条例"]
    skipped = dict(report.skipped)
    assert set(map(lambda p: p.rsplit("/", 1)[-1], skipped)) == {
        "binary.md", "no-nul.md", "image.md", "word.md", "gbk.txt", "controls.txt", "blank.pdf", "scan.pdf",
        "cut.pdf", "fake.docx", "empty.md"}
    for file, reason in skipped.items():
        assert file in reason and not reason.startswith("unexpected"), reason  # a ParseError, not a parser crash
    assert "UTF-8" in skipped[str(tmp_path / "gbk.txt")]
    assert "text layer" in skipped[str(tmp_path / "blank.pdf")]
    assert "text layer" in skipped[str(tmp_path / "scan.pdf")]


@settings(max_examples=60, deadline=2000)
@given(st.binary(min_size=1, max_size=4000))
def test_random_bytes_renamed_md_are_a_parse_error_or_text(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bin") / "random.md"
    path.write_bytes(data)
    try:
        doc = parse_document(path)
    except ParseError as e:
        assert "random.md" in str(e)
    else:
        assert doc.articles


def test_statute_with_ten_thousand_articles(tmp_path):
    lines = ["# 一万条条例", ""]
    for i in range(1, 10_001):
        if i % 100 == 1:
            lines.append(f"## 第{int_to_cn(i // 100 + 1)}章 第{i}条起")
        lines.append(f"{article_label(i)}　排污单位违反第{int_to_cn(max(1, i - 1))}条规定的，处一万元以上十万元以下的罚款。")
    (tmp_path / "big.md").write_text("\n".join(lines), encoding="utf-8")
    started = time.perf_counter()
    docs, report = _folder_docs(tmp_path)
    chunks = [c for a in docs[0].articles for c in chunk_article(_as_article(a), 600)]
    assert time.perf_counter() - started < 20  # ~1 s idle
    assert not report.skipped and len(docs[0].articles) == 10_000 and len(chunks) == 10_000
    assert [a.num for a in docs[0].articles] == list(range(1, 10_001))
    assert docs[0].articles[-1].label == "第一万条" and docs[0].articles[-1].chapter == ("第一百章 第9901条起",)


def _as_article(parsed):
    from pufa.records import Article

    return Article("big", "一万条条例", parsed.num, parsed.sub, parsed.label, parsed.text, " / ".join(parsed.chapter),
                   "", "", "", parsed.num, "statute")
