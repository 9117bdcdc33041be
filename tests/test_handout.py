"""Training handouts on the mini index: every quoted line, penalty range and quiz answer is in the cited
article; distractors are not; the exports carry the sections, the table and the citations; the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pufa.assistant import Assistant
from pufa.citations import normalise
from pufa.errors import InputError, NotFoundError
from pufa.handout import build_handout, checklist_clauses, resolve_topic
from pufa.handout_export import PARTS, TABLE_HEAD, export, tidy, to_markdown
from pufa.liability import units_of
from pufa.passages import GAP
from pufa.retrieval import Retriever

REPO = Path(__file__).resolve().parents[1]
TOPICS = [("危险废物", "enterprise", "standard"), ("排污许可", "manager", "long"), ("行政复议与诉讼", "public", "short")]


@pytest.fixture(scope="module")
def assistant(mini_index):
    return Assistant(Retriever.from_settings(mini_index), clock=lambda: dt.date(2026, 11, 28))


@pytest.fixture(scope="module")
def handouts(assistant):
    return {t: build_handout(assistant, *t) for t in TOPICS}


def in_article(text: str, article) -> bool:
    """Verbatim up to whitespace; a piece joined by "……" (or a lead with chosen 项) is verbatim part by part."""
    body = normalise(article.text)
    return all(normalise(part) in body for part in re.split(f"{GAP}|(?=[（(][一二三四五六七八九十]+[)）])", text)
               if part.strip())


def test_every_handout_has_all_parts(handouts):
    for key, h in handouts.items():
        assert h.as_of == "2026-11-28" and h.laws and h.appendix, key
        assert sum(len(s.provisions) for s in h.sections) > 0, key
        assert h.quiz, key
    hazardous = handouts[TOPICS[0]]
    assert hazardous.checklist and hazardous.liabilities
    assert {q.kind for q in hazardous.quiz} == {"single", "judge", "fill"}


def test_provisions_and_checklist_are_quoted_from_the_article_they_cite(handouts):
    for h in handouts.values():
        for p in [p for s in h.sections for p in s.provisions] + list(h.checklist):
            assert in_article(p.text, p.article), (p.text, p.article.citation())
            assert p.article.status == "现行有效"


def test_penalty_ranges_and_penalties_are_in_the_liability_article(handouts):
    rows = [r for h in handouts.values() for r in h.liabilities]
    assert rows
    for r in rows:
        u = r.unit
        assert "法律责任" in u.article.chapter
        assert in_article(u.violation, u.article) and in_article(u.penalty, u.article)
        for rng in u.ranges:
            assert normalise(rng) in normalise(u.penalty) and normalise(rng) in normalise(u.article.text)
        assert u.ranges or u.consequences


def test_quiz_answers_are_in_the_article_and_distractors_are_not(handouts):
    questions = [q for h in handouts.values() for q in h.quiz]
    assert len(questions) >= 10
    for q in questions:
        body = normalise(q.article.text)
        assert in_article(q.fact, q.article), q.stem
        if q.kind == "single":
            assert len(q.options) == 4 and len(set(q.options)) == 4
            answer = q.options["ABCD".index(q.answer)]
            assert normalise(answer) in body and normalise(answer) in normalise(q.fact)
            assert len(q.distractors) == 3 and set(q.distractors) == set(q.options) - {answer}
        elif q.kind == "fill":
            assert "（　　）" in q.stem and normalise(q.answer) in normalise(q.fact)
        else:
            assert q.answer in ("正确", "错误")
            assert (q.answer == "错误") == bool(q.distractors)
            if q.answer == "正确":
                assert normalise(q.fact) in normalise(q.stem)
        for wrong in q.distractors:
            assert normalise(wrong) not in body, (q.stem, wrong)


def test_item_penalties_follow_the_article_paragraph_that_assigns_them(assistant):
    article = assistant.catalog.article("法典", 1175)
    units = {u.basis: u for u in units_of(article)}
    first = units["第一千一百七十五条第一款第（一）项"]
    fifth = units["第一千一百七十五条第一款第（五）项"]
    assert first.violation == "未设置危险废物识别标志"
    assert first.ranges == ("五万元以上二十万元以下", "二十万元以上一百万元以下")
    assert fifth.ranges == ("二十万元以上二百万元以下",)
    assert first.authority == "生态环境主管部门" and "责令停业、关闭" in first.consequences


def test_obligations_are_matched_to_the_liability_for_them(handouts):
    h = handouts[TOPICS[0]]
    by_obligation = {r.obligation.num: r.unit.violation for r in h.liabilities if r.obligation}
    if 531 in by_obligation:  # 设置危险废物识别标志
        assert by_obligation[531] == "未设置危险废物识别标志"
    assert by_obligation


@pytest.mark.parametrize("text, expected", [
    ("产生危险废物的单位，应当按照国家规定制定危险废物管理计划；建立危险废物管理台账，如实记录有关信息。",
     [("产生危险废物的单位，应当按照国家规定制定危险废物管理计划", "义务"), ("建立危险废物管理台账，如实记录有关信息", "义务")]),
    ("国家实行排污许可管理制度。禁止将危险废物混入非危险废物中贮存。", [("禁止将危险废物混入非危险废物中贮存", "禁止")]),
])
def test_checklist_clauses(text, expected):
    assert checklist_clauses(text) == expected


def test_topics_and_bad_input(assistant):
    assert resolve_topic("危险废物管理").name == "危险废物" and resolve_topic("环评").name == "环境影响评价"
    assert not resolve_topic("野生动物保护").suggested
    with pytest.raises(InputError):
        build_handout(assistant, "  ")
    with pytest.raises(InputError):
        build_handout(assistant, "危险废物", audience="nobody")
    with pytest.raises(NotFoundError):
        build_handout(assistant, "红烧肉的做法")


def test_markdown_has_the_sections_table_and_citations(handouts):
    h = handouts[TOPICS[0]]
    md = to_markdown(h)
    for part in PARTS:
        assert f"## {part}" in md
    assert "| " + " | ".join(TABLE_HEAD) + " |" in md
    assert f"依据截至 {h.as_of}" in md
    for r in h.liabilities:
        assert r.unit.citation in md
    for a in h.appendix:
        assert f"### 《{a.law_short}》{a.article_no}" in md
    assert all(tidy(p.text).replace("(", "\\(") in md or p.article.citation() in md for p in h.checklist)


def test_docx_read_back_has_the_sections_table_and_citations(handouts, tmp_path):
    import docx
    from docx.oxml.ns import qn

    h = handouts[TOPICS[0]]
    path = export(h, tmp_path / "handout.docx")
    doc = docx.Document(str(path))
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    assert h.title in headings and all(part in headings for part in PARTS)
    tables = doc.tables
    liability = next(t for t in tables if tuple(c.text for c in t.rows[0].cells) == TABLE_HEAD)
    assert len(liability.rows) == len(h.liabilities) + 1
    assert [row.cells[1].text for row in liability.rows[1:]] == [r.unit.citation for r in h.liabilities]
    text = "\n".join(p.text for p in doc.paragraphs)
    for a in h.appendix:
        assert f"《{a.law_short}》{a.article_no}" in text
    fonts = doc.styles["Normal"].element.rPr.find(qn("w:rFonts"))
    assert fonts.get(qn("w:eastAsia")) == "宋体"
    with pytest.raises(InputError):
        export(h, tmp_path / "handout.pdf")


def run(settings, *args):
    env = dict(os.environ, PUFA_INDEX_DIR=str(settings.index_dir), PUFA_EMBEDDER="hash", PYTHONPATH=str(REPO))
    env.pop("PUFA_LLM_BASE_URL", None)
    return subprocess.run([sys.executable, "-m", "pufa", "handout", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=180)


def test_cli_json_and_file(mini_index, tmp_path):
    out = run(mini_index, "--topic", "危险废物管理", "--audience", "enterprise", "--out", str(tmp_path / "h.docx"), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert {"title", "audience", "as_of", "laws", "sections", "checklist", "liabilities", "quiz", "appendix", "out"} <= doc.keys()
    assert doc["out"] == str(tmp_path / "h.docx") and (tmp_path / "h.docx").stat().st_size > 0
    assert {"question", "kind"} - doc["quiz"][0].keys() == {"question"}
    assert {"violation", "citation", "ranges", "penalty"} <= doc["liabilities"][0].keys()


def test_cli_exit_codes(mini_index, tmp_path):
    assert run(mini_index, "--topic", "危险废物", "--out", str(tmp_path / "h.pdf")).returncode == 2
    assert run(mini_index, "--topic", "危险废物", "--audience", "nobody").returncode == 2
    assert run(mini_index, "--topic", "红烧肉的做法").returncode == 2
    missing = mini_index.with_(index_dir=tmp_path / "none")
    assert run(missing, "--topic", "危险废物").returncode == 3



def test_web_tab_handler_previews_and_writes_both_files(mini_index, tmp_path):
    from pufa.embedders import HashEmbedder
    from pufa.web.handout_tab import FREE_TEXT, HandoutHandlers
    from pufa.web.runtime import Runtime

    runtime = Runtime(mini_index.with_(dense_fill=0, data_dir=tmp_path / "data"), embedder=HashEmbedder())
    runtime.start(background=False)
    handlers = HandoutHandlers(runtime, tmp_path / "out")
    preview, md, docx_path, status = handlers.build("危险废物", "", "manager", "short")
    assert preview.startswith("# 危险废物") and "## 四、违法情形与法律责任" in preview and "已生成" in status
    assert Path(md).read_text(encoding="utf-8") == preview and Path(docx_path).stat().st_size > 0
    preview, md, docx_path, status = handlers.build(FREE_TEXT, "", "enterprise", "short")
    assert (preview, md, docx_path) == ("", None, None) and "主题" in status
    runtime.stop()


def test_web_tab_export_folder_is_removed_with_the_handlers():
    import gc

    from pufa.web.handout_tab import HandoutHandlers

    handlers = HandoutHandlers(runtime=None)  # the folder a serving process creates for its downloads
    folder = handlers.out_dir
    (folder / "危险废物-培训材料.md").write_text("# 危险废物", encoding="utf-8")
    del handlers
    gc.collect()
    assert not folder.exists()  # a process that ends leaves no handout files in the temp folder
