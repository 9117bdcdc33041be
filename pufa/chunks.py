"""Articles → chunks, the unit both indexes work on.

One chunk per article. An article longer than `max_chars` is split at 款 (paragraph) boundaries,
and each piece repeats the header `《法名》第N条（chapter path）` so it stands on its own. A single
paragraph longer than the bound is cut at sentence ends. Chunk ids are content hashes, which is
what makes embedding caches and incremental rebuilds work.
"""

from __future__ import annotations

import hashlib
import re

from .records import Article, Chunk

SCHEME = "article-v1"  # bump when the chunk text format changes: it invalidates cached embeddings

_ENV_TITLE = re.compile(r"环境|污染|生态|排污|环评|噪声|固体废物|危险废物|土壤|大气|海洋|辐射|放射|长江|黄河|湿地|"
                        r"饮用水|节约能源|清洁生产|循环经济|气候|野生|森林|草原|水法|水土保持|防沙|矿产")
_ADMIN_TITLE = re.compile(r"行政处罚|行政复议|行政许可|行政强制|行政诉讼|国家赔偿|政府信息公开|优化营商")


def is_domain_law(title: str) -> bool:
    """Environmental or administrative-procedure law: the bureau's own field."""
    return bool(_ENV_TITLE.search(title) or _ADMIN_TITLE.search(title))


def priority_of(title: str, status: str) -> int:
    """Embedding order: environmental and administrative-procedure law first, then the rest."""
    if is_domain_law(title):
        return 0
    return 1 if status in ("现行有效", "") else 2


def header_of(article: Article) -> str:
    chapter = f"（{article.chapter}）" if article.chapter else ""
    return f"《{article.law_short}》{article.article_no}{chapter}"


def chunk_id(text: str) -> str:
    return hashlib.sha1(f"{SCHEME}\n{text}".encode()).hexdigest()[:24]


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[。；;！？])", text) if s]


def _pieces(body: str, max_chars: int) -> list[str]:
    if len(body) <= max_chars:
        return [body]
    units: list[str] = []
    for para in body.split("\n"):
        units.extend([para] if len(para) <= max_chars else split_sentences(para))
    pieces, current = [], ""
    for unit in units:
        if current and len(current) + 1 + len(unit) > max_chars:
            pieces.append(current)
            current = unit
        else:
            current = f"{current}\n{unit}" if current else unit
    if current:
        pieces.append(current)
    return pieces


def chunk_article(article: Article, max_chars: int = 600) -> list[Chunk]:
    header = header_of(article)
    bodies = _pieces(article.text, max_chars)
    prio = priority_of(article.law, article.status)
    multi = len(bodies) > 1
    chunks = []
    for i, body in enumerate(bodies, start=1 if multi else 0):
        text = f"{header}\n{body}"
        chunks.append(Chunk(chunk_id(text), article.law_id, article.num, article.sub, i if multi else 0, text, prio))
    return chunks
