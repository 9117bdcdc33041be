"""Citation verification: what reaches the user is traceable to an article, or it does not reach them.

Applied to every answer, extractive or LLM-written. For each sentence: every [n] must be a source
that was retrieved and given to the writer; every 《法名》第N条 must exist in the catalog; every
amount, deadline or multiple must appear in the text of an article the sentence cites (or, for a
sentence without markers, in one of the sources). A sentence failing any check is dropped and the
fact recorded as a notice. Quote lines ("> …") are checked against the source of the entry above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .answer import Citation
from .catalog import Catalog
from .errors import NotFoundError

_MARKER = re.compile(r"\[(\d{1,3})\]")
_MENTION = re.compile(r"《([^《》]{2,40})》\s*(第[零〇一二两三四五六七八九十百千万\d]+条(?:之[一二三四五六七八九十\d]+)?)")
_NUM = r"[零〇一二两三四五六七八九十百千万亿\d.．]+"
_UNIT = r"(?:万元|元|个工作日|日|天|个月|年|小时|倍)"
# a range ("十万元以上五十万元以下") is one fact: both ends must appear together in the article
FACT = re.compile(rf"(?:百分之)?{_NUM}{_UNIT}?以上(?:百分之)?{_NUM}{_UNIT}?以下|百分之{_NUM}|{_NUM}{_UNIT}")
_SENTENCE = re.compile(r"[^。！？\n]*(?:[。！？]|$)(?:\s*\[\d{1,3}\])*")
_UNESCAPE = re.compile(r"\\(.)")


def normalise(text: str) -> str:
    return re.sub(r"\s+", "", _UNESCAPE.sub(r"\1", text))


def facts_in(text: str) -> list[str]:
    """Amounts, deadlines and multiples stated in a piece of text (markers and article numbers removed)."""
    text = _MENTION.sub("", _MARKER.sub("", normalise(text)))
    return [m.group(0) for m in FACT.finditer(text)]


@dataclass(frozen=True)
class Verified:
    text: str
    citations: tuple[Citation, ...]
    notices: tuple[str, ...]
    dropped: tuple[str, ...]  # the sentences removed


def verify(text: str, sources: tuple[Citation, ...], catalog: Catalog) -> Verified:
    by_n = {c.n: c for c in sources}
    notices: list[str] = []
    dropped: list[str] = []
    block: list[int] = []  # markers of the last legal-basis entry, for the quote lines under it
    kept_lines: list[str] = []
    for line in text.split("\n"):
        is_quote = line.lstrip().startswith(">")
        kept: list[str] = []
        for sentence in (m.group(0) for m in _SENTENCE.finditer(line)):
            if not sentence:
                continue
            markers = [int(n) for n in _MARKER.findall(sentence)]
            if not is_quote and markers:
                block = markers
            problem = _check(sentence, markers if not is_quote else block, by_n, catalog, is_quote)
            if problem:
                notices.append(problem)
                dropped.append(sentence.strip())
            else:
                kept.append(sentence)
        line_out = "".join(kept)
        if not line.strip():
            kept_lines.append("")
        elif line_out.strip():
            kept_lines.append(line_out)
    final = "\n".join(kept_lines)
    final = re.sub(r"\n{3,}", "\n\n", final).strip()
    used = {int(n) for n in _MARKER.findall(final)}
    citations = tuple(c for c in sources if c.n in used)
    return Verified(final, citations, tuple(dict.fromkeys(notices)), tuple(dropped))


def _check(sentence: str, markers: list[int], by_n: dict[int, Citation], catalog: Catalog, is_quote: bool) -> str:
    unknown = [n for n in markers if n not in by_n]
    if unknown:
        return f"已删除一句引用了不存在的来源 [{unknown[0]}] 的内容。"
    support = [by_n[n].article.text for n in markers]
    for m in _MENTION.finditer(normalise(sentence)):
        law, number = m.group(1), m.group(2)
        try:
            support.append(catalog.article(law, number).text)
        except NotFoundError:
            return f"已删除一句引用了无法核实的条文《{law}》{number}的内容。"
    facts = facts_in(sentence)
    if not facts:
        return ""
    if not support:
        support = [c.article.text for c in by_n.values()]
    haystack = normalise("\n".join(support))
    missing = [f for f in facts if f not in haystack]
    if missing:
        return f"已删除一句所述数额或期限（{missing[0]}）与所引条文不符的内容。"
    return ""
