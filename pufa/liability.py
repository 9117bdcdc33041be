"""Liability provisions: which 法律责任 clause punishes which obligation, and what it provides.

A liability article is cut into units a table row can cite: each listed violation （一）（二）… with its
lead sentence, or each paragraph that names a violation ("…的，由…责令改正，处…的罚款"). For a unit we
read, verbatim, the penalty that applies to it — including the "有前款第一项、第二项…情形之一的，处…"
paragraphs that give different ranges to different items — the penalty ranges, the authority and the
other consequences (责令改正, 按日连续处罚, 移送公安机关 …).

An obligation sentence is matched to the units of the liability articles of the same law by an explicit
reference ("违反本法第二十条规定") or by character n-gram similarity (idf-weighted cosine; the 法典 says
"违反本法规定" and restates the duty in the negative, "未设置危险废物识别标志"). Nothing is paraphrased.
It does not know any particular law.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .catalog import Catalog
from .numerals import cn_to_int, int_to_cn
from .passages import GAP, paragraphs
from .records import Article

_ITEM = re.compile(r"^[（(]([一二三四五六七八九十]+)[)）]")
_NUM = r"[零〇一二两三四五六七八九十百千万亿\d.．]+"
# a penalty range as statutes write it: 二十万元以上一百万元以下 / 十万元以下 / 一倍以上三倍以下 / 十日以上十五日以下
RANGE = re.compile(rf"(?:{_NUM}(?:万元|元|倍|日)?以上)?{_NUM}(?:万元|元|倍|日)以下")
AMOUNT_RANGE = re.compile(rf"(?:{_NUM}(?:万元|元|倍)?以上)?{_NUM}(?:万元|元|倍)以下")
_AUTHORITY = re.compile(r"由((?:[^，。；：由]{0,24}?)(?:主管部门|管理部门|有关部门|人民政府|公安机关|机关|机构))")
CONSEQUENCES = re.compile(
    r"责令(?:限期)?改正|责令停止(?:违法行为|建设|生产|使用|排放)?|责令(?:限制生产、)?停产整治|限制生产|责令停业、关闭|"
    r"没收违法所得|没收[^，。；]{0,12}(?:设备|工具|物品|产品)|按日连续处罚|查封、扣押|移送公安机关|拘留|"
    r"吊销[^，。；]{0,12}(?:许可证|执照|证书)|(?:依法)?给予处分|追究刑事责任|恢复原状|代为(?:处置|治理|履行)|"
    r"暂扣|撤销[^，。；]{0,10}(?:许可|资格)|警告|通报批评")
_BY_ITEMS = re.compile(r"有前款((?:第[一二三四五六七八九十]+项[、和或及]?)+)(?:规定的)?(?:情形|行为|违法行为)(?:之一)?的，([^；。]+)")
_ALL_ITEMS = re.compile(r"(?:单位|企业事业单位和其他生产经营者)?有前款(?:规定的)?(?:情形|行为|违法行为)之一的，([^；。]+)")
_VIOLATION = re.compile(r"^(?:违反本法(?:第[^，。]*?)?规定，)?(.{4,160}?)的，")
_REF = re.compile(r"违反本法((?:第[零一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?(?:第[一二三四五六七八九十]+款)?"
                  r"(?:第[一二三四五六七八九十]+项)?[、和或及]?)+)")
_GRAM_NOISE = re.compile(r"[\s，。；：、（）()“”《》\d一二三四五六七八九十]")
_BOILERPLATE = ("违反本法规定", "应当", "按照规定", "按照国家规定", "依法", "有关", "未", "不得", "禁止")


@dataclass(frozen=True)
class LiabilityUnit:
    """One violation a liability article names, with what it provides for it (all verbatim)."""

    article: Article
    violation: str  # the violation as the article words it (an item without its number, or "…的" clause)
    basis: str  # 第一千一百七十五条第一款第（一）项
    penalty: str  # the clause stating the penalty that applies to this violation
    ranges: tuple[str, ...]  # 五万元以上二十万元以下 … as they appear in the article
    authority: str  # 生态环境主管部门, or ""
    consequences: tuple[str, ...]  # 责令改正, 没收违法所得, 责令停业、关闭 …
    context: str  # the lead sentence / paragraph the unit belongs to (for matching and display)
    refs: tuple[int, ...] = ()  # article numbers of this law the unit names ("违反本法第二十条规定")

    @property
    def citation(self) -> str:
        return f"《{self.article.law_short}》{self.basis}"


def is_liability(article: Article) -> bool:
    return "法律责任" in article.chapter


def units_of(article: Article) -> list[LiabilityUnit]:
    """The violations a liability article names, each with its applicable penalty."""
    paras = paragraphs(article.text)
    out: list[LiabilityUnit] = []
    kuan = 0
    i = 0
    while i < len(paras):
        para = paras[i]
        kuan += 1
        items: list[tuple[int, str]] = []
        j = i + 1
        if para.endswith(("：", ":")):
            while j < len(paras) and _ITEM.match(paras[j]):
                m = _ITEM.match(paras[j])
                items.append((cn_to_int(m.group(1)), paras[j]))
                j += 1
        if items:
            following = paras[j] if j < len(paras) and not _ITEM.match(paras[j]) else ""
            for n, item in items:
                penalty = _item_penalty(n, para, following)
                violation = _ITEM.sub("", item).rstrip("；;。，")
                out.append(_unit(article, violation, f"{article.article_no}第{int_to_cn(kuan)}款第（{int_to_cn(n)}）项",
                                 penalty, context=para, extra=para))
        else:
            for sentence in _sentences(para):
                m = _VIOLATION.match(sentence)
                if not m or not (CONSEQUENCES.search(sentence) or RANGE.search(sentence)):
                    continue
                if sentence.startswith(("有前款", "单位有前款", "个人有前款")):
                    continue  # the ranges of a list above, already given to its items
                penalty = sentence[m.end():].rstrip("。")
                out.append(_unit(article, m.group(1), f"{article.article_no}第{int_to_cn(kuan)}款", penalty,
                                 context=sentence, extra=sentence))
        i = j
    return out


def _sentences(para: str) -> list[str]:
    """Sentences of a paragraph; one starting with 其中 (a special case of the one before) stays with it."""
    out: list[str] = []
    for s in (s for s in re.split(r"(?<=。)", para) if s.strip()):
        if out and s.startswith("其中"):
            out[-1] += s
        else:
            out.append(s)
    return out


def _item_penalty(n: int, lead: str, following: str) -> str:
    """The penalty for item n: the lead's own clause and the later "有前款第n项…的，处…" clause(s)."""
    parts: list[str] = []
    after = lead.split("的，", 1)[1] if "的，" in lead else ""
    after = after.rstrip("：:")
    if after and (RANGE.search(after) or CONSEQUENCES.search(after)):
        parts.append(after)
    for clause in re.split(r"[；。]", following):
        m = _BY_ITEMS.search(clause)
        if m:
            numbers = {cn_to_int(x) for x in re.findall(r"第([一二三四五六七八九十]+)项", m.group(1))}
            if n in numbers:
                # "个人有前款第二项情形的，处…": who is fined is part of the penalty; a bare item list is not
                parts.append(clause.strip() if not clause.strip().startswith("有前款") else clause[m.start(2):].strip())
            continue
        m = _ALL_ITEMS.search(clause)
        if m:
            parts.append(clause.strip() if not clause.strip().startswith("有前款") else clause[m.start(1):].strip())
    return GAP.join(dict.fromkeys(p for p in parts if p))


def _unit(article: Article, violation: str, basis: str, penalty: str, context: str, extra: str) -> LiabilityUnit:
    scope = penalty + "，" + extra
    authority = _AUTHORITY.search(extra) or _AUTHORITY.search(penalty)
    refs = tuple(cn_to_int(x) for span in _REF.findall(context) for x in re.findall(r"第([零一二三四五六七八九十百千]+)条", span))
    return LiabilityUnit(
        article=article, violation=violation.strip(), basis=basis, penalty=penalty,
        ranges=tuple(dict.fromkeys(m.group(0) for m in RANGE.finditer(penalty))),
        authority=authority.group(1) if authority else "",
        consequences=tuple(dict.fromkeys(m.group(0) for m in CONSEQUENCES.finditer(scope))),
        context=context, refs=refs)


# ---- matching obligations to liability units ---------------------------------------------------------
def _grams(text: str) -> Counter:
    for b in _BOILERPLATE:
        text = text.replace(b, " ")
    s = _GRAM_NOISE.sub(" ", text)
    out: Counter = Counter()
    for part in s.split():
        out.update(part[i:i + 2] for i in range(len(part) - 1))
        out.update(part[i:i + 3] for i in range(len(part) - 2))
    return out


class LiabilityIndex:
    """The liability units of the laws asked about, searchable by an obligation's text."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._units: dict[str, list[LiabilityUnit]] = {}
        self._vectors: dict[str, list[dict[str, float]]] = {}
        self._idf: dict[str, dict[str, float]] = {}
        self._closest: dict[str, tuple[list[Article], list[tuple[int, float]]]] = {}

    def units(self, law_id: str) -> list[LiabilityUnit]:
        if law_id not in self._units:
            articles = [a for a in self.catalog.articles_of(law_id) if is_liability(a)]
            units = [u for a in articles for u in units_of(a)]
            grams = [_grams(u.violation + " " + u.context) for u in units]
            df: Counter = Counter()
            for g in grams:
                df.update(g.keys())
            idf = {g: math.log((len(grams) + 1) / (c + 1)) + 1.0 for g, c in df.items()}
            vectors = [_vector(g, idf) for g in grams]
            # requests run in threads: a law is in _units only once its idf and vectors are there
            self._idf[law_id] = idf
            self._vectors[law_id] = vectors
            self._units[law_id] = units
        return self._units[law_id]

    def match(self, article: Article, text: str, floor: float = 0.4) -> tuple[LiabilityUnit, float] | None:
        """The unit of the same law that punishes the obligation `text` (from `article`), if any."""
        units = self.units(article.law_id)
        if not units:
            return None
        idf = self._idf[article.law_id]
        query = _vector(_grams(text), idf)
        best: tuple[float, int] | None = None
        for k, (unit, vec) in enumerate(zip(units, self._vectors[article.law_id])):
            score = _cosine(query, vec)
            if article.num in unit.refs:
                score += 0.5
            if best is None or score > best[0]:
                best = (score, k)
        if best is None or best[0] < floor:
            return None
        return units[best[1]], best[0]

    def duties(self, article: Article, floor: float = 0.4) -> list[tuple[Article, float]]:
        """The obligations of the same law that the liability article `article` punishes, best first: for each
        of its units, the non-liability paragraph closest to the violation it names (the reverse of `match`)."""
        owners, closest = self.obligations(article.law_id)
        best: dict[tuple, tuple[float, Article]] = {}
        for unit, (para, score) in zip(self.units(article.law_id), closest):
            if unit.article.key != article.key or para < 0 or score < floor:
                continue
            owner = owners[para]
            if score > best.get(owner.key, (-1.0, owner))[0]:
                best[owner.key] = (score, owner)
        return [(a, sc) for sc, a in sorted(best.values(), key=lambda x: -x[0])]

    def obligations(self, law_id: str) -> tuple[list[Article], list[tuple[int, float]]]:
        """The law's obligation paragraphs (the article of each), and for each of its liability units the closest
        of them: (paragraph, score), by cosine in the units' idf, plus 0.5 for a paragraph of an article the unit
        names ("违反本法第二十条规定"); (-1, 0.0) when the law has no obligation paragraphs. Computed once per law
        (0.36 s for the 法典); `duties` reads it, and the app computes it ahead for the bureau's laws."""
        if law_id not in self._closest:
            units = self.units(law_id)
            idf = self._idf[law_id]
            owners: list[Article] = []
            vectors: list[dict[str, float]] = []
            for a in self.catalog.articles_of(law_id):
                if is_liability(a) or a.kind != "statute":
                    continue
                for para in paragraphs(a.text):
                    vectors.append(_vector(_grams(para), idf))
                    owners.append(a)
            closest = [(-1, 0.0)] * len(units)
            if owners and units:
                rows, paras = _sparse(self._vectors[law_id], vectors)
                scores = (rows @ paras.T).toarray()
                nums = np.asarray([a.num for a in owners])
                for i, unit in enumerate(units):
                    row = scores[i] + 0.5 * np.isin(nums, unit.refs) if unit.refs else scores[i]
                    para = int(row.argmax())
                    closest[i] = (para, float(row[para]))
            self._closest[law_id] = (owners, closest)
        return self._closest[law_id]


def _sparse(*groups: list[dict[str, float]]) -> list[sparse.csr_matrix]:
    """Each group of gram vectors as the rows of a matrix, all with the same columns (one per gram)."""
    column: dict[str, int] = {}
    parts = []
    for vectors in groups:
        data, cols, starts = [], [], [0]
        for vec in vectors:
            for g, w in vec.items():
                cols.append(column.setdefault(g, len(column)))
                data.append(w)
            starts.append(len(cols))
        parts.append((data, cols, starts))
    return [sparse.csr_matrix(part, shape=(len(part[2]) - 1, len(column))) for part in parts]


def _vector(grams: Counter, idf: dict[str, float]) -> dict[str, float]:
    vec = {g: (1.0 + math.log(tf)) * idf.get(g, 1.0) for g, tf in grams.items()}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {g: v / norm for g, v in vec.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(g, 0.0) for g, v in a.items())
