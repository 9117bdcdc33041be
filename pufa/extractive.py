"""The offline answer: verbatim sentences of the retrieved articles, arranged for the reader.

Enterprise: a direct answer, then the penalty range, then what the enterprise can do (改正, 听证,
行政复议 within 六十日, 行政诉讼 within 六个月, 首违不罚) when the question is about liability, then
the legal basis with the relevant 款 quoted. Public: shorter, plain, who is responsible and whom to
contact. Every sentence is a quotation marked with its source [n]; nothing is paraphrased, so the
amounts, deadlines and authorities are the article's own words.

It does not retrieve, refuse or verify: the assistant does those around it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .answer import Citation, Draft
from .catalog import Catalog
from .errors import NotFoundError
from .passages import OBLIGATION, PENALTY, Piece, PieceScorer, paragraphs, pieces
from .records import STATUS_CURRENT, STATUS_PENDING, Article

_REMEDIES_FILE = Path(__file__).with_name("remedies.toml")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()<>#|~!])")
_AUTHORITY = re.compile(r"由([^，。；：由]{2,40}?)(?:按照职责分工|依照职责|依据职责)?(?:责令|处以?|依法|予以|给予|没收|对|组织|负责)")
CONTACT = "如需反映具体问题，可拨打 12369 环保举报热线或联系当地生态环境部门；法律咨询可拨打 12348 公共法律服务热线。"
QUOTE_WHOLE = 260  # a 款 up to this length is quoted whole in the legal basis
QUOTE_ARTICLE = 600  # an article up to this length is quoted whole in an enterprise answer's legal basis


def md_escape(text: str) -> str:
    """Quoted law text may contain markdown syntax (a guide's link, a stray bracket): show it literally."""
    return _MD_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class Remedy:
    label: str
    article: Article
    terms: tuple[str, ...]


def load_remedies(catalog: Catalog, path: Path = _REMEDIES_FILE) -> list[Remedy]:
    """The remedies whose laws this catalog holds (a small test index may hold none)."""
    with path.open("rb") as f:
        rows = tomllib.load(f)["remedy"]
    out: list[Remedy] = []
    for row in rows:
        try:
            law = catalog.resolve_law(row["law"])
        except NotFoundError:
            continue
        for article in catalog.articles_of(law.law_id):
            if row["find"] in article.text.replace(" ", ""):
                out.append(Remedy(row["label"], article, tuple(row["terms"])))
                break
    return out


@dataclass(frozen=True)
class Source:
    """A retrieved article offered to the composer, with its counterpart mapping if it replaces one."""

    article: Article
    rank: int
    exact: bool = False
    replaces: str = ""
    confidence: float | None = None


@dataclass
class _Cited:
    source: Source
    n: int
    quotes: list[Piece]


class ExtractiveComposer:
    def __init__(self, remedies: list[Remedy], max_sentences: int = 3):
        self.remedies = remedies
        self.max_sentences = max_sentences

    def compose(self, sources: list[Source], scorer: PieceScorer, persona: str, as_of: str,
                lookup: bool = False) -> Draft:
        cited: dict[tuple, _Cited] = {}

        def cite(source: Source, piece: Piece) -> str:
            key = source.article.key
            entry = cited.get(key)
            if entry is None:
                entry = cited[key] = _Cited(source, len(cited) + 1, [])
            if piece.text not in (q.text for q in entry.quotes):
                entry.quotes.append(piece)
            return f"{md_escape(piece.text)}[{entry.n}]"

        lines: list[str] = []
        usable = [s for s in sources if s.article.status == STATUS_CURRENT or s.exact]
        if lookup and usable and usable[0].exact:
            lines += self._lookup(usable, scorer, cite)
        else:
            chosen = self._choose(usable, scorer, persona)
            if chosen:
                lines.append("**简要回答**")
                lines += [cite(s, p) for s, p in chosen]
                penalty = self._penalty(usable, scorer, chosen)
                if penalty is not None:
                    lines += ["", "**法律责任**", cite(*penalty)]
                    chosen.append(penalty)
                if persona == "enterprise" and (penalty is not None or "penalty" in scorer.intents
                                                or any(PENALTY.search(p.text) for _, p in chosen)):
                    lines += self._remedies(cite)
                if persona == "public":
                    lines += self._contact(chosen, cited)
        if not cited:
            return Draft("", ())
        lines += ["", "**法律依据**"] + self._basis(list(cited.values()), persona, quote=not lookup)
        lines += ["", f"（依据截至 {as_of} 有效的法律法规整理，仅供参考，不构成法律意见。）"]
        citations = tuple(Citation(c.n, c.source.article, tuple(q.text for q in c.quotes), c.source.replaces,
                                   c.source.confidence) for c in cited.values())
        return Draft("\n".join(lines).strip(), citations)

    # ---- the direct answer ------------------------------------------------------------------
    def _choose(self, sources: list[Source], scorer: PieceScorer, persona: str) -> list[tuple[Source, Piece]]:
        limit = self.max_sentences if persona == "enterprise" else 2
        candidates: list[tuple[float, int, Source, Piece]] = []
        for source in sources[:6]:
            for piece in pieces(source.article.text, scorer)[:2]:
                candidates.append((piece.score / (1 + 0.15 * source.rank), source.rank, source, piece))
        if not candidates:
            return []
        # the retriever's best article leads; the rest earn their place by how well they answer
        first_rank = min(c[1] for c in candidates)
        lead = max((c for c in candidates if c[1] == first_rank), key=lambda c: c[0])
        best = max(c[0] for c in candidates)
        chosen = [lead]
        per_article = {lead[2].article.key: 1}
        for cand in sorted(candidates, key=lambda c: -c[0]):
            if len(chosen) >= limit or cand[0] < 0.45 * best or cand[0] <= 0:
                break
            key = cand[2].article.key
            if cand is lead or per_article.get(key, 0) >= 2 or _overlaps(cand[3], [c[3] for c in chosen]):
                continue
            chosen.append(cand)
            per_article[key] = per_article.get(key, 0) + 1
        return [(c[2], c[3]) for c in chosen]

    def _penalty(self, sources: list[Source], scorer: PieceScorer,
                 chosen: list[tuple[Source, Piece]]) -> tuple[Source, Piece] | None:
        """The penalty for the obligation just quoted, when the answer does not state one yet."""
        if any(PENALTY.search(p.text) for _, p in chosen):
            return None
        if "penalty" not in scorer.intents and not any(OBLIGATION.search(p.text) for _, p in chosen):
            return None
        best: tuple[float, Source, Piece] | None = None
        for source in sources[:6]:
            for piece in pieces(source.article.text, scorer):
                if PENALTY.search(piece.text) and piece.score > 0 and (best is None or piece.score > best[0]):
                    best = (piece.score, source, piece)
        return (best[1], best[2]) if best else None

    def _remedies(self, cite) -> list[str]:
        if not self.remedies:
            return []
        out = ["", "**企业可以怎么做**"]
        for remedy in self.remedies:
            scorer = PieceScorer({t: 1.0 for t in remedy.terms})
            piece = pieces(remedy.article.text, scorer)[0]
            out.append(f"- {remedy.label}：{cite(Source(remedy.article, rank=99), piece)}")
        return out

    def _contact(self, chosen: list[tuple[Source, Piece]], cited: dict) -> list[str]:
        out = ["", "**可以找谁**"]
        for source, piece in chosen:
            m = _AUTHORITY.search(piece.text)
            if m:
                n = cited[source.article.key].n
                out.append(f"根据该条，由{md_escape(m.group(1))}依法处理[{n}]。")
                break
        out.append(CONTACT)
        return out

    def _lookup(self, sources: list[Source], scorer: PieceScorer, cite) -> list[str]:
        """An article asked for by number: its text; for a repealed one, first its counterparts in force."""
        first = sources[0]
        a = first.article
        replacements = [s for s in sources[1:] if s.replaces]
        if a.status == STATUS_CURRENT or not replacements:
            status = f"尚未施行，自 {a.effective} 起施行" if a.status == STATUS_PENDING else a.status or "状态不明"
            return [f"**《{a.law_short}》{a.article_no}**（{status}）规定："] + [
                cite(first, Piece(p, i)) for i, p in enumerate(paragraphs(a.text)[:8])]
        lines = [f"**《{a.law_short}》已废止，{a.article_no}不再适用。**现行有效的对应规定如下"
                 f"（对应关系由条文比对得出，仅供对照）："]
        for s in replacements:
            confidence = f"，对应置信度 {s.confidence:.2f}" if s.confidence is not None else ""
            lines += ["", f"《{s.article.law_short}》{s.article.article_no}（{s.article.status}{confidence}）："]
            paras = paragraphs(s.article.text)
            if sum(map(len, paras)) <= QUOTE_WHOLE:
                lines += [cite(s, Piece(p, i)) for i, p in enumerate(paras)]
            else:
                lines += [cite(s, p) for p in pieces(s.article.text, scorer)[:2]]
        lines += ["", f"原《{a.law_short}》{a.article_no}（已废止，仅供对照）规定："]
        lines += [cite(first, Piece(p, i)) for i, p in enumerate(paragraphs(a.text)[:8])]
        return lines

    # ---- the legal basis --------------------------------------------------------------------
    def _basis(self, cited: list[_Cited], persona: str, quote: bool = True) -> list[str]:
        out: list[str] = []
        for c in cited:
            a = c.source.article
            out.append(basis_heading(c.n, a, c.source.replaces))
            paras = paragraphs(a.text)
            used = sorted({q.paragraph for q in c.quotes}) if quote else []
            limit = QUOTE_WHOLE if persona == "public" else QUOTE_ARTICLE
            if persona == "public" and len(a.text) > limit:
                used = used[:1]
            elif used and len(a.text) <= limit and c.source.rank < 99:
                out += [f"> {md_escape(p)}" for p in paras]  # the whole article: the 款 around the quote matter
                continue
            for i in used:
                para = paras[i] if i < len(paras) else ""
                whole = all(_plain(q.text) in para for q in c.quotes if q.paragraph == i)
                if whole and len(para) <= QUOTE_WHOLE:
                    out.append(f"> {md_escape(para)}")
                else:
                    out += [f"> {md_escape(q.text)}" for q in c.quotes if q.paragraph == i]
        return out


def basis_heading(n: int, a: Article, replaces: str = "") -> str:
    """A legal-basis entry: [n] 《法名》第N条（status，effective 起施行[，counterpart of …]）."""
    facts = [a.status or "状态不明"]
    if a.effective:
        facts.append(f"{a.effective} 起施行")
    if replaces:
        facts.append(f"现行对应条文，对应原{replaces}")
    return f"[{n}] 《{a.law_short}》{a.article_no}（{'，'.join(facts)}）"


def _plain(text: str) -> str:
    return text[:-1] if text.endswith("。") else text


def _overlaps(piece: Piece, chosen: list[Piece]) -> bool:
    return any(piece.text in c.text or c.text in piece.text for c in chosen)
