"""The small typed records that travel between modules.

Everything outside the framework adapters passes these, never a Chroma result or a LangChain
Document. They are frozen: a record is a fact about the corpus or a result, not a work area.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CN_PREFIX = "中华人民共和国"

LEVELS = ("宪法", "法律", "行政法规", "部门规章", "地方性法规", "规范性文件", "指南")
STATUS_CURRENT = "现行有效"
STATUS_REPEALED = "已废止"
STATUS_PENDING = "尚未生效"  # promulgated, in force from a later date


def short_title(title: str) -> str:
    """The name people use: 中华人民共和国行政处罚法 → 行政处罚法."""
    return title[len(CN_PREFIX):] if title.startswith(CN_PREFIX) and len(title) > len(CN_PREFIX) else title


@dataclass(frozen=True)
class LawMeta:
    """What is known about one legal instrument (or guide). Empty string means unknown."""

    title: str
    level: str = ""
    issuer: str = ""
    promulgated: str = ""  # YYYY-MM-DD
    effective: str = ""  # YYYY-MM-DD
    status: str = ""  # 现行有效 / 已废止 / 历史版本 / 已被修改 / ...
    region: str = ""  # 全国 or a province/city for local regulations
    source: str = ""  # where the text came from (file path or database row)
    kind: str = "statute"  # "statute" (articles) or "guide" (sections)
    aliases: tuple[str, ...] = ()
    revisions: tuple[str, ...] = ()  # revision lines as the source states them

    @property
    def short(self) -> str:
        return short_title(self.title)


@dataclass(frozen=True)
class ParsedArticle:
    """One 条 (or, for a guide, one section) as parsed from a source."""

    num: int  # 99 for 第九十九条; ordinal for guide sections
    sub: int  # 1 for 第二十条之一, else 0
    label: str  # 第九十九条 / 第二十条之一 / a guide's section heading
    text: str  # the article body without its label; paragraphs (款) separated by "\n"
    chapter: tuple[str, ...] = ()  # heading path, e.g. ("第二编 污染防治", "第一章 一般规定")


@dataclass(frozen=True)
class ParsedDocument:
    meta: LawMeta
    articles: tuple[ParsedArticle, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Law:
    """A law as the catalog holds it."""

    law_id: str
    title: str
    level: str
    issuer: str
    promulgated: str
    effective: str
    status: str
    region: str
    source: str
    kind: str
    article_count: int = 0

    @property
    def short(self) -> str:
        return short_title(self.title)


@dataclass(frozen=True)
class Article:
    """An article as the catalog holds it: the unit people cite."""

    law_id: str
    law: str  # full title
    num: int
    sub: int
    article_no: str
    text: str
    chapter: str  # heading path joined with " / "
    status: str
    level: str
    effective: str
    position: int = 0
    kind: str = "statute"

    @property
    def law_short(self) -> str:
        return short_title(self.law)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.law_id, self.num, self.sub)

    def citation(self) -> str:
        return f"《{self.law_short}》{self.article_no}"

    def to_json(self) -> dict:
        return {
            "law": self.law,
            "law_short": self.law_short,
            "article_num": self.num,
            "article_no": self.article_no,
            "text": self.text,
            "status": self.status,
            "level": self.level,
            "effective_date": self.effective,
            "chapter": self.chapter,
        }


@dataclass(frozen=True)
class Chunk:
    """The unit of indexing: an article, or one piece of a long article split at 款 boundaries."""

    chunk_id: str  # content hash of `text` (stable across rebuilds)
    law_id: str
    num: int
    sub: int
    part: int  # 0 for a whole article, 1.. for pieces
    text: str  # header (《法名》第N条 + chapter path) + body: what is embedded and tokenised
    priority: int = 0  # lower is embedded sooner (environmental and administrative law first)


@dataclass(frozen=True)
class Hit:
    """One retrieved article with its score and why it was returned."""

    article: Article
    score: float
    legs: dict[str, int] = field(default_factory=dict)  # leg name → 1-based rank in that leg
    matched_terms: tuple[str, ...] = ()
    note: str = ""

    def to_json(self) -> dict:
        a = self.article
        return {
            "law": a.law,
            "law_short": a.law_short,
            "article_num": a.num,
            "article_no": a.article_no,
            "status": a.status,
            "score": round(self.score, 6),
            "text": a.text,
        }
