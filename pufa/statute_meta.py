"""Metadata of a statute, read from what its own text says.

Dates come from the revision/information lines (通过/修订/修正/公布 → promulgated; 施行 →
effective) and from a closing "本法自…起施行" article. Issuer and level are inferred only when the
text makes them unambiguous; otherwise they stay empty. Nothing is looked up elsewhere and status
(现行有效/已废止) is never inferred: the text cannot tell whether it has since been repealed.
Hints from a configuration or manifest override everything inferred here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import fields

from pufa.records import LEVELS, LawMeta, ParsedArticle

log = logging.getLogger(__name__)

_DIGIT = "0-9０-９〇零一二三四五六七八九"
_DATE = re.compile(rf"([{_DIGIT}]{{4}})\s*年\s*([{_DIGIT}十]{{1,3}})\s*月\s*([{_DIGIT}十]{{1,3}})\s*日")
_CN_DIGITS = str.maketrans("０１２３４５６７８９" "〇零" "一二三四五六七八九", "0123456789" "00" "123456789")
_PROMULGATING = re.compile(r"通过|修订|修正|公布|发布")
_IN_FORCE_ARTICLE = re.compile(
    rf"本(?:法典|法|条例|规定|办法|细则|规则|决定)自\s*(?:公布之日\s*)?[（(]?\s*({_DATE.pattern})?\s*[）)]?\s*起施行"
)
_FROM_PUBLICATION = re.compile(r"自\s*公布之日\s*起施行")

PROVINCES = (
    "北京市", "天津市", "上海市", "重庆市", "河北省", "山西省", "辽宁省", "吉林省", "黑龙江省",
    "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省", "湖南省",
    "广东省", "海南省", "四川省", "贵州省", "云南省", "陕西省", "甘肃省", "青海省", "台湾省",
    "内蒙古自治区", "广西壮族自治区", "西藏自治区", "宁夏回族自治区", "新疆维吾尔自治区",
    "香港特别行政区", "澳门特别行政区",
)
_LOCAL_CONGRESS = re.compile(r"^(\S+?(?:省|自治区|市|自治州|州|县))人民代表大会(?:常务委员会)?$")
_MINISTRY_ORDER = re.compile(r"日\s*(?:中华人民共和国)?([\u4e00-\u9fff、]{2,20}?)令第")
_TRAILING_PAREN = re.compile(r"[（(][^（）()]*[)）]$")


def parse_date(text: str) -> str | None:
    """'2021年3月1日' / '二〇二一年三月一日' → '2021-03-01'."""
    m = _DATE.search(text)
    if not m:
        return None
    year = int(m.group(1).translate(_CN_DIGITS))

    def small(s: str) -> int:  # 1..31 written 12 / 十二 / 二十一 / 三十
        s = s.translate(_CN_DIGITS)
        if "十" not in s:
            return int(s)
        tens, _, ones = s.partition("十")
        return int(tens or 1) * 10 + int(ones or 0)

    try:
        month, day = small(m.group(2)), small(m.group(3))
    except ValueError:
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def _segments(line: str) -> list[tuple[str, str]]:
    """Split an info line at each date: [(date, text up to the next date)]."""
    matches = list(_DATE.finditer(line))
    out = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        if (date := parse_date(m.group(0))) is not None:
            out.append((date, line[m.end():end]))
    return out


def dates_from_revisions(revisions: tuple[str, ...]) -> tuple[str, str]:
    """(promulgated, effective) as the revision lines state them; '' when not stated."""
    promulgated, effective = "", ""
    for line in revisions:
        for date, tail in _segments(line.replace("**", "")):
            if _PROMULGATING.search(tail):
                promulgated = max(promulgated, date)
            if "施行" in tail:
                effective = max(effective, date)
    return promulgated, effective


def effective_from_articles(articles: tuple[ParsedArticle, ...], promulgated: str) -> str:
    """The date in a closing '本法自…起施行' article (searched from the end)."""
    for art in reversed(articles[-15:]):
        text = art.text.replace("**", "")
        if m := _IN_FORCE_ARTICLE.search(text):
            if m.group(1):
                return parse_date(m.group(1)) or ""
            if _FROM_PUBLICATION.search(text):
                return promulgated
    return ""


def _issuer_in(line: str) -> str:
    if m := re.search(r"((?:" + "|".join(PROVINCES) + r"))第\S{1,4}届人民代表大会常务委员会", line):
        return f"{m.group(1)}人民代表大会常务委员会"
    if "全国人民代表大会常务委员会" in line:
        return "全国人民代表大会常务委员会"
    if "全国人民代表大会" in line:
        return "全国人民代表大会"
    if "国务院令" in line or re.search(r"国务院第\S{1,6}次常务会议", line):
        return "国务院"
    if m := _MINISTRY_ORDER.search(line):
        return m.group(1)
    return ""


def issuer_from_revisions(revisions: tuple[str, ...]) -> str:
    """The body named by the last line that names one: the one that made the current text
    (行政处罚法 was adopted by the NPC but revised in 2021 by its Standing Committee)."""
    for line in reversed(revisions):
        if issuer := _issuer_in(line):
            return issuer
    return ""


def region_of(title: str, issuer: str) -> str:
    for province in PROVINCES:
        if title.startswith(province):
            return province
    if m := _LOCAL_CONGRESS.match(issuer):
        return m.group(1)
    return ""


def level_of(title: str, issuer: str, region: str) -> str:
    """法律/行政法规/地方性法规/部门规章/宪法 when title and issuer leave no doubt, else ''."""
    base = _TRAILING_PAREN.sub("", title)  # "…办法（试行）" is still a 办法
    national_congress = issuer.startswith("全国人民代表大会")
    if base.endswith("宪法") and issuer in ("", "全国人民代表大会") and not region:
        return "宪法"
    is_law = base.endswith(("法", "法典")) and not base.endswith(("办法", "方法", "做法"))
    if is_law and not region and (national_congress or base.startswith("中华人民共和国")):
        return "法律"
    if issuer == "国务院" and base.endswith(("条例", "办法", "规定", "细则")):
        return "行政法规"
    if region and region != "全国":
        local_congress = issuer.endswith(("人民代表大会常务委员会", "人民代表大会"))
        if (local_congress and base.endswith(("条例", "规定", "办法", "细则", "决定"))) or (
            not issuer and base.endswith("条例")
        ):
            return "地方性法规"
        return ""
    ministry = issuer.endswith(("部", "委员会", "总局", "署", "局")) and not national_congress
    if ministry and base.endswith(("办法", "规定", "细则", "规则")):
        return "部门规章"
    return ""


def build_meta(
    title: str,
    revisions: tuple[str, ...],
    articles: tuple[ParsedArticle, ...],
    *,
    source: str,
    hints: dict | None,
    warnings: list[str],
) -> LawMeta:
    """Infer what the text states, then let hints override it."""
    promulgated, effective = dates_from_revisions(revisions)
    if not effective:
        effective = effective_from_articles(articles, promulgated)
    if effective and promulgated and effective < promulgated:
        # "本法自2018年1月1日起施行" in a text amended in 2025 dates the first version, not this one.
        log.debug("%s: effective %s predates last revision %s; left empty", source, effective, promulgated)
        effective = ""
    issuer = issuer_from_revisions(revisions)
    region = region_of(title, issuer)
    level = level_of(title, issuer, region)
    if level in ("宪法", "法律", "行政法规", "部门规章"):
        region = "全国"
    values: dict = dict(
        title=title, level=level, issuer=issuer, promulgated=promulgated, effective=effective,
        region=region, source=source, kind="statute", revisions=revisions,
    )
    known = {f.name for f in fields(LawMeta)}
    for key, value in (hints or {}).items():
        if key not in known:
            warnings.append(f"{source}: unknown metadata hint {key!r} ignored")
            continue
        if value in (None, ""):
            continue
        values[key] = tuple(value) if key in ("aliases", "revisions") else value
    if values["level"] and values["level"] not in LEVELS:
        warnings.append(f"{source}: level {values['level']!r} is not one of {', '.join(LEVELS)}")
    return LawMeta(**values)
