"""Handout exports: Markdown (preview, editing) and Word .docx (python-docx; the only module importing it).

Both carry the same six parts in the same order — laws used, key provisions, self-check list, the
violation → legal basis → penalty table, the quiz with its answer key, and the appendix with the full
text of every cited article. Law text is quoted as it is (Markdown-escaped in the Markdown export).
The docx sets a Chinese font through w:eastAsia (宋体 body, 黑体 headings), since Word otherwise
falls back to a Latin font's CJK substitute.
"""

from __future__ import annotations

import re
from pathlib import Path

from .extractive import md_escape
from .handout import Handout
from .passages import paragraphs

PARTS = ("一、适用法律法规", "二、重点条文", "三、合规自查清单", "四、违法情形与法律责任", "五、知识测验", "附录：所引条文全文")
TABLE_HEAD = ("违法情形", "法律依据", "罚款幅度", "其他后果", "对应义务")
LAW_HEAD = ("法律法规", "效力级别", "状态", "施行日期", "说明")
BODY_FONT, HEADING_FONT, LATIN_FONT = "宋体", "黑体", "Times New Roman"


_STRAY_SPACE = re.compile(r"(?<=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])[ \t\u3000]+(?=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])")


def tidy(text: str) -> str:
    """Drop the database's stray spaces between Chinese characters ("利用、 处置"); nothing else changes."""
    return _STRAY_SPACE.sub("", text)


def _subtitle(h: Handout) -> str:
    return f"面向：{h.audience_label}　｜　依据截至 {h.as_of}　｜　生成方式：条文摘录（{'离线' if h.mode == 'extractive' else h.mode}）"


def _cell(text: str) -> str:
    return md_escape(text).replace("\n", " ").replace("|", "\\|")


def to_markdown(h: Handout) -> str:
    return tidy(_markdown(h))


def _markdown(h: Handout) -> str:
    out = [f"# {md_escape(h.title)}", "", f"> {_subtitle(h)}", "", h.intro, ""]
    out += [f"## {PARTS[0]}", "", "| " + " | ".join(LAW_HEAD) + " |", "|" + "---|" * len(LAW_HEAD)]
    out += [f"| 《{_cell(lw.title)}》 | {lw.level} | {lw.status} | {lw.effective} | {_cell(lw.note)} |" for lw in h.laws]
    out += ["", f"## {PARTS[1]}", ""]
    for section in h.sections:
        out += [f"### {md_escape(section.label)}", ""]
        out += [f"- 【{p.kind}】{md_escape(p.text)}（{p.article.citation()}）" for p in section.provisions]
        out.append("")
    out += [f"## {PARTS[2]}", "", "逐项对照，已做到的打“✓”：", ""]
    out += [f"- [ ] {md_escape(p.text)}（{p.article.citation()}）" for p in h.checklist]
    out += ["", f"## {PARTS[3]}", ""]
    if h.liabilities:
        out += ["| " + " | ".join(TABLE_HEAD) + " |", "|" + "---|" * len(TABLE_HEAD)]
        for r in h.liabilities:
            u = r.unit
            out.append(f"| {_cell(u.violation)} | {_cell(u.citation)} | {_cell('；'.join(u.ranges) or '—')} | "
                       f"{_cell('、'.join(u.consequences) or '—')} | {_cell(r.obligation.citation() if r.obligation else '—')} |")
        out += ["", "各项处罚的原文："]
        out += [f"- {md_escape(r.unit.citation)}：{md_escape(r.unit.penalty)}" for r in h.liabilities]
    else:
        out.append("（未找到对应的法律责任条文。）")
    out += ["", f"## {PARTS[4]}", ""]
    for i, q in enumerate(h.quiz, 1):
        out.append(f"{i}. 【{q.kind_label}】{md_escape(q.stem)}")
        out += [f"   - {'ABCD'[k]}. {md_escape(o)}" for k, o in enumerate(q.options)]
    out += ["", "### 答案与依据", ""]
    for i, q in enumerate(h.quiz, 1):
        out.append(f"{i}. **{md_escape(q.answer)}**　依据：{md_escape(q.basis)}：“{md_escape(q.fact)}”")
    out += ["", f"## {PARTS[5]}", ""]
    for a in h.appendix:
        out += [f"### 《{md_escape(a.law_short)}》{a.article_no}", "",
                f"*{a.status or '状态不明'}，{a.effective or '施行日期不明'} 起施行；{md_escape(a.chapter)}*", ""]
        out += [f"> {md_escape(p)}" + ("  " if k < len(paragraphs(a.text)) - 1 else "")
                for k, p in enumerate(paragraphs(a.text))]
        out.append("")
    if h.notices:
        out += ["---", ""] + [f"※ {md_escape(n)}" for n in h.notices] + [""]
    out += ["---", "", f"本材料依据截至 {h.as_of} 现行有效的法律法规原文摘录整理，仅供学习参考，不构成法律意见；"
                      "具体以法律法规正式文本为准。"]
    return "\n".join(out) + "\n"


# ---- docx ---------------------------------------------------------------------------------------------
def _set_font(style_or_run, east_asia: str, latin: str = LATIN_FONT) -> None:
    from docx.oxml.ns import qn

    font = style_or_run.font
    font.name = latin
    rpr = style_or_run.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, fonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)  # a theme font would override the names below
    fonts.set(qn("w:eastAsia"), east_asia)
    fonts.set(qn("w:ascii"), latin)
    fonts.set(qn("w:hAnsi"), latin)


def to_docx(h: Handout, path: Path) -> Path:
    try:
        import docx
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.shared import Pt, RGBColor
    except ImportError as e:  # pragma: no cover - python-docx is in requirements.txt
        from .errors import ConfigError

        raise ConfigError("Word export needs python-docx: pip install python-docx") from e
    doc = docx.Document()
    styles = doc.styles
    _set_font(styles["Normal"], BODY_FONT)
    styles["Normal"].font.size = Pt(11)
    for name in ("Title", "Heading 1", "Heading 2", "Heading 3"):
        _set_font(styles[name], HEADING_FONT)
        styles[name].font.color.rgb = RGBColor(0, 0, 0)

    doc.add_heading(h.title, level=0)
    doc.add_paragraph(_subtitle(h)).runs[0].italic = True
    doc.add_paragraph(h.intro)

    def table(head: tuple[str, ...], rows: list[tuple[str, ...]]):
        t = doc.add_table(rows=1, cols=len(head))
        t.style = "Table Grid"
        t.alignment = WD_TABLE_ALIGNMENT.CENTER
        for cell, text in zip(t.rows[0].cells, head):
            cell.text = ""
            cell.paragraphs[0].add_run(text).bold = True
        for row in rows:
            cells = t.add_row().cells
            for cell, text in zip(cells, row):
                cell.text = text
        return t

    doc.add_heading(PARTS[0], level=1)
    table(LAW_HEAD, [(f"《{lw.title}》", lw.level, lw.status, lw.effective, lw.note) for lw in h.laws])

    doc.add_heading(PARTS[1], level=1)
    for section in h.sections:
        doc.add_heading(section.label, level=2)
        for p in section.provisions:
            para = doc.add_paragraph(style="List Bullet")
            para.add_run(f"【{p.kind}】").bold = True
            para.add_run(f"{p.text}（{p.article.citation()}）")

    doc.add_heading(PARTS[2], level=1)
    doc.add_paragraph("逐项对照，已做到的打“✓”：")
    table(("序号", "自查事项", "依据", "是否做到"),
          [(str(i), p.text, p.article.citation(), "□") for i, p in enumerate(h.checklist, 1)])

    doc.add_heading(PARTS[3], level=1)
    if h.liabilities:
        table(TABLE_HEAD, [(r.unit.violation, r.unit.citation, "；".join(r.unit.ranges) or "—",
                            "、".join(r.unit.consequences) or "—", r.obligation.citation() if r.obligation else "—")
                           for r in h.liabilities])
        doc.add_paragraph("各项处罚的原文：")
        for r in h.liabilities:
            para = doc.add_paragraph(style="List Bullet")
            para.add_run(f"{r.unit.citation}：").bold = True
            para.add_run(r.unit.penalty)
    else:
        doc.add_paragraph("（未找到对应的法律责任条文。）")

    doc.add_heading(PARTS[4], level=1)
    for i, q in enumerate(h.quiz, 1):
        para = doc.add_paragraph()
        para.add_run(f"{i}. 【{q.kind_label}】").bold = True
        para.add_run(q.stem)
        for k, o in enumerate(q.options):
            doc.add_paragraph(f"{'ABCD'[k]}. {o}").paragraph_format.left_indent = Pt(21)
    doc.add_heading("答案与依据", level=2)
    for i, q in enumerate(h.quiz, 1):
        para = doc.add_paragraph()
        para.add_run(f"{i}. {q.answer}").bold = True
        para.add_run(f"　依据：{q.basis}：“{q.fact}”")

    doc.add_heading(PARTS[5], level=1)
    for a in h.appendix:
        doc.add_heading(f"《{a.law_short}》{a.article_no}", level=3)
        meta = doc.add_paragraph(f"{a.status or '状态不明'}，{a.effective or '施行日期不明'} 起施行；{a.chapter}")
        meta.runs[0].italic = True
        for p in paragraphs(a.text):
            doc.add_paragraph(p)
    for n in h.notices:
        doc.add_paragraph(f"※ {n}")
    doc.add_paragraph(f"本材料依据截至 {h.as_of} 现行有效的法律法规原文摘录整理，仅供学习参考，不构成法律意见；"
                      "具体以法律法规正式文本为准。")
    cells = [p for t in doc.tables for row in t.rows for c in row.cells for p in c.paragraphs]
    for para in doc.paragraphs + cells:
        for run in para.runs:
            run.text = tidy(run.text)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path)
    return path


def export(h: Handout, path: Path) -> Path:
    """Write the handout to path; the format follows the suffix (.md or .docx)."""
    from .errors import InputError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return to_docx(h, path)
    if suffix in (".md", ".markdown"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_markdown(h), encoding="utf-8")
        return path
    raise InputError(f"不支持的导出格式 {suffix or '（无扩展名）'}：请用 .md 或 .docx 结尾的文件名。")
