"""Questions about a law itself: is it still in force, since when, how many articles.

"环境保护法还有效吗" is the question of 2026 at every outreach event: the 生态环境法典 repealed ten
environmental laws on 2026-08-15. Searched like any question, it was answered with 法典 articles on
government duties and never said the law is repealed. Asked on its own (the question is the law's name
and one of these cues, nothing else), it is answered from the catalog: the law's status and dates, the
sentence of the law in force that repealed it, the sentence that sets its effective date, its article
range. Quotes are verbatim and cited like any answer; a question that asks more than this goes through
retrieval as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .answer import Citation, Draft
from .catalog import Catalog
from .errors import NotFoundError
from .extractive import basis_heading, md_escape
from .numerals import article_label
from .records import STATUS_CURRENT, STATUS_PENDING, STATUS_REPEALED, Article, Law

ASKS = {
    "status": re.compile(r"还有效|有效吗|是否有效|有没有效|还适用|适用吗|还能用|还管用|还能引用|还在用|废止|废除|失效|作废|过时|"
                         r"现行有效|还算数|还生效"),
    "effective": re.compile(r"(什么时候|何时|哪天|哪一天|几号|哪年|几月)(开始|正式|起)?(施行|实施|生效|执行)|"
                            r"(施行|实施|生效)(日期|时间)|从(什么时候|哪天)(开始)?(施行|实施|生效|执行)"),
    "size": re.compile(r"(多少|几)条|共.{0,3}条|条文数"),
    # who made it and when it was passed: the first line of every law-information answer says both
    "origin": re.compile(r"(谁|哪个机关|哪个部门|哪个单位|什么机关|哪里)(通过|制定|颁布|发布|出台)|(制定|颁布|发布)(机关|部门)|"
                         r"(什么时候|何时|哪天|哪年|哪一年)(通过|公布|颁布|发布|出台)"),
}
# what a pure law-information question may hold besides the law's name and the cue
_FILLER = re.compile(r"请问|问一下|一下|想知道|知道|现在|目前|如今|已经|是不是|是否|还是|到底|究竟|这部|部|这个|那个|法律|法规|"
                     r"一共|总共|共|有|呢|吗|嘛|了|啊|呀|的|还|已|被|和|与|及|吧|么|是|从|开始|正式|起|[？?，,。.！!、\s]")
_SENTENCE = re.compile(r"[^。；]*[。；]?")
_EFFECTIVE = re.compile(r"自\s*\S{2,20}?起施行")


@dataclass(frozen=True)
class _Quote:
    article: Article
    text: str


def asks_about_the_law(question: str, names: list[str]) -> set[str]:
    """The cues of a question that asks only about the named law(s); empty when it asks anything else."""
    asks = {kind for kind, cue in ASKS.items() if cue.search(question)}
    if not asks or not names:
        return set()
    rest = question
    for name in sorted(names, key=len, reverse=True):
        rest = rest.replace(name, " ")
    for cue in ASKS.values():
        rest = cue.sub(" ", rest)
    rest = _FILLER.sub("", rest.replace("《", "").replace("》", ""))
    return asks if len(rest) <= 1 else set()


class LawInfo:
    def __init__(self, catalog: Catalog):
        from .mapping import repealers

        self.catalog = catalog
        self.repealed_by = repealers(catalog)  # repealed law id → (law in force, the article repealing it)

    def answer(self, question: str, names: list[str], as_of: str) -> Draft | None:
        asks = asks_about_the_law(question, names)
        laws: list[Law] = []
        for name in names:
            try:
                law = self.catalog.resolve_law(name)
            except NotFoundError:
                continue
            if law not in laws:
                laws.append(law)
        if not asks or not laws:
            return None
        quotes: list[_Quote] = []
        lines: list[str] = []

        def cite(article: Article, text: str) -> str:
            key = (article.key, text)
            if key not in [(q.article.key, q.text) for q in quotes]:
                quotes.append(_Quote(article, text))
            n = 1 + [a.key for a in dict.fromkeys(q.article for q in quotes)].index(article.key)
            return f"{md_escape(text)}[{n}]"

        for law in laws[:3]:
            if lines:
                lines.append("")
            lines += self._about(law, asks, cite)
        cited = list(dict.fromkeys(q.article for q in quotes))
        if cited:
            lines += ["", "**法律依据**"]
            for n, article in enumerate(cited, 1):
                lines.append(basis_heading(n, article))
                lines += [f"> {md_escape(q.text)}" for q in quotes if q.article.key == article.key]
        lines += ["", f"（依据截至 {as_of} 法规库的记录整理，仅供参考，不构成法律意见。）"]
        citations = tuple(Citation(n, a, tuple(q.text for q in quotes if q.article.key == a.key))
                          for n, a in enumerate(cited, 1))
        return Draft("\n".join(lines), citations)

    def _about(self, law: Law, asks: set[str], cite) -> list[str]:
        status = law.status or "状态不明"
        facts = "，".join(x for x in (law.level, law.issuer and f"{law.issuer}制定",
                                       law.promulgated and f"{law.promulgated} 公布") if x)
        lines = [f"**《{law.short}》{status}**" + (f"（{facts}）" if facts else "") + "。"]
        if law.status == "已被修改":
            lines.append("法规库中没有该法更新的版本，修正后的文本按现行有效对待。")
        if "status" in asks or "effective" in asks:
            if law.status == STATUS_REPEALED:
                lines += self._repeal(law, cite)
            elif law.status in (STATUS_CURRENT, STATUS_PENDING):
                lines += self._effective(law, cite)
            elif law.effective:
                lines.append(f"法规库记录的施行日期：{law.effective}。")
        lines += self._other_version(law)
        if "size" in asks:
            lines.append(self._size(law))
        return lines

    def repeal_notices(self, names: list[str]) -> list[str]:
        """For a question that names a repealed law and asks something else: say so before the answer."""
        out = []
        for name in names:
            try:
                law = self.catalog.resolve_law(name)
            except NotFoundError:
                continue
            if law.status != STATUS_REPEALED:
                continue
            found = self.repealed_by.get(law.law_id)
            by = f"，由《{found[0].short}》{found[1].article_no}废止" if found else ""
            out.append(f"《{law.short}》已废止{by}；以下按现行有效的规定回答。")
        return list(dict.fromkeys(out))

    def _repeal(self, law: Law, cite) -> list[str]:
        found = self.repealed_by.get(law.law_id)
        if found is None:
            return [f"法规库记录该法已废止（原施行日期 {law.effective}）；" if law.effective else "法规库记录该法已废止；",
                    "现行规定请直接描述想了解的问题。"]
        successor, article = found
        sentences = [s.strip() for s in _SENTENCE.findall(article.text) if s.strip()]
        repealing = next((s for s in sentences if f"《{law.title}》" in s and "废止" in s), "")
        effective = next((s for s in sentences if _EFFECTIVE.search(s)), "")
        out = [f"《{successor.short}》{article.article_no}规定："]
        out += [cite(article, s) for s in (effective, repealing) if s]
        out.append(f"原《{law.short}》的规定已纳入《{successor.short}》。想知道某一条现在对应哪一条，"
                   f"可以问“{law.short}第X条现在对应哪一条”。")
        return out

    def _effective(self, law: Law, cite) -> list[str]:
        for article in reversed(self.catalog.articles_of(law.law_id)):
            for sentence in (s.strip() for s in _SENTENCE.findall(article.text)):
                if _EFFECTIVE.search(sentence):
                    return [f"{article.article_no}：" + cite(article, sentence)]
        return [f"法规库记录的施行日期：{law.effective}。"] if law.effective else []

    def _other_version(self, law: Law) -> list[str]:
        """A revision published but not yet in force, seen from either side of it."""
        versions = [v for v in self.catalog.laws_named(law.short) if v.title == law.title and v.law_id != law.law_id]
        if law.status == STATUS_PENDING:
            current = [v for v in versions if v.status == STATUS_CURRENT]
            if current:
                return [f"施行之前，适用现行有效的版本（{current[0].promulgated} 公布）。"]
            return ["施行之前，该法的规定不适用。"]
        if law.status == STATUS_CURRENT:
            return [f"修订后的版本已于 {v.promulgated} 公布，自 {v.effective} 起施行；在此之前适用本版本。"
                    for v in versions if v.status == STATUS_PENDING][:1]
        return []

    def _size(self, law: Law) -> str:
        articles = self.catalog.articles_of(law.law_id)
        numbered = sorted({a.num for a in articles if a.num > 0})
        if not numbered:
            return f"法规库收录的《{law.short}》没有按条编号的条文。"
        first, last = numbered[0], numbered[-1]
        missing = [n for n in range(first, last + 1) if n not in set(numbered)]
        extra = sum(1 for a in articles if a.sub)
        text = f"条文编号从{article_label(first)}到{article_label(last)}"
        if extra:
            text += f"，另有“之一”等增补条文 {extra} 条"
        if missing and len(missing) <= 10:
            text += f"；法规库缺少其中的{'、'.join(article_label(n) for n in missing)}"
        return text + "。"
