"""Training material (普法讲座, 送法入企): a handout on a topic, drafted from the corpus, every line cited.

`build_handout(assistant, topic, audience, length)` searches the topic's queries (`handout_topics.toml`,
written by us; a free-text topic is searched as written), keeps the articles in force that are about
it, and assembles: the laws used with their status; key provisions (verbatim obligation and
prohibition sentences, grouped by chapter); a self-check list (the 应当/必须/不得/禁止 clauses addressed
to the regulated); a violation → legal basis → penalty table from the 法律责任 articles that punish those
obligations (`pufa.liability`); a quiz with answer key (`pufa.quiz`); and the full text of every cited
article. Everything is quoted, so every statement can be checked against the appendix.

Deliberately left out: LLM rewriting (the extractive handout is the product; prose smoothing would
go through `citations.verify` like answers do) and editing (staff edit the exported Markdown/docx).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, NotFoundError
from .liability import LiabilityIndex, LiabilityUnit, is_liability, units_of
from .passages import GAP, OBLIGATION, PROHIBITION, PieceScorer, pieces
from .records import STATUS_CURRENT, STATUS_PENDING, Article

_TOPICS_FILE = Path(__file__).with_name("handout_topics.toml")
LENGTHS = {"short": (6, 6, 5, 5), "standard": (12, 12, 10, 10), "long": (20, 20, 16, 15)}  # provisions, checklist, table rows, quiz
LENGTH_LABELS = {"short": "简版", "standard": "标准", "long": "详版"}
_GOVERNMENT = re.compile(r"人民政府|主管部门|国务院|有关部门|监督管理部门|机关|行政复议机构|人民法院|人民检察院")
SEARCH_K = 15


@dataclass(frozen=True)
class Topic:
    name: str
    queries: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    laws: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    suggested: bool = True


@dataclass(frozen=True)
class Audience:
    key: str
    label: str
    intro: str
    government: bool  # whether provisions addressed to governments and departments are kept


def _load() -> dict:
    with _TOPICS_FILE.open("rb") as f:
        return tomllib.load(f)


def suggested_topics() -> list[Topic]:
    return [Topic(t["name"], tuple(t["queries"]), tuple(t.get("keywords", ())), tuple(t.get("laws", ())),
                  tuple(t.get("aliases", ()))) for t in _load()["topic"]]


def audiences() -> dict[str, Audience]:
    return {k: Audience(k, v["label"], v["intro"], bool(v["government"])) for k, v in _load()["audience"].items()}


def resolve_topic(text: str) -> Topic:
    """A suggested topic when the text names one (or one of its aliases), else the text as a free topic."""
    text = (text or "").strip()
    if not text:
        raise InputError("请给出培训主题，例如：危险废物、排污许可、行政复议与诉讼。")
    if len(text) > 60:
        raise InputError(f"主题太长（{len(text)} 字），请控制在 60 字以内。")
    topics = suggested_topics()
    for t in topics:
        if text == t.name or text in t.aliases:
            return t
    for t in topics:
        if any(n in text for n in (t.name, *t.aliases)):
            return t
    return Topic(text, (text,), suggested=False)


def resolve_audience(key: str) -> Audience:
    table = audiences()
    for a in table.values():
        if key in (a.key, a.label):
            return a
    raise InputError(f"未知的对象 {key!r}，可选：{'、'.join(f'{a.key}（{a.label}）' for a in table.values())}。")


# ---- records ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LawUsed:
    title: str
    level: str
    status: str
    effective: str
    note: str = ""  # for a repealed law: which law repealed it

    def to_json(self) -> dict:
        return {"title": self.title, "level": self.level, "status": self.status, "effective_date": self.effective,
                "note": self.note}


@dataclass(frozen=True)
class Provision:
    """A verbatim piece of an article ("……" where something was left out), with what kind of rule it is."""

    text: str
    article: Article
    kind: str  # 义务 / 禁止 / 规定

    def to_json(self) -> dict:
        return {"text": self.text, "kind": self.kind, "citation": self.article.citation(),
                "law": self.article.law, "article_no": self.article.article_no}


@dataclass(frozen=True)
class LiabilityRow:
    unit: LiabilityUnit
    obligation: Article | None  # the obligation this liability corresponds to, when matched

    def to_json(self) -> dict:
        u = self.unit
        return {"violation": u.violation, "citation": u.citation, "law": u.article.law, "article_no": u.article.article_no,
                "penalty": u.penalty, "ranges": list(u.ranges), "authority": u.authority,
                "consequences": list(u.consequences),
                "obligation": self.obligation.citation() if self.obligation else None}


@dataclass(frozen=True)
class Section:
    label: str
    provisions: tuple[Provision, ...]


@dataclass(frozen=True)
class Handout:
    topic: str
    title: str
    audience: str
    audience_label: str
    length: str
    as_of: str
    intro: str
    laws: tuple[LawUsed, ...]
    sections: tuple[Section, ...]
    checklist: tuple[Provision, ...]
    liabilities: tuple[LiabilityRow, ...]
    quiz: tuple  # tuple[pufa.quiz.Question, ...]
    appendix: tuple[Article, ...]
    notices: tuple[str, ...] = field(default=())
    mode: str = "extractive"

    def to_json(self) -> dict:
        return {
            "topic": self.topic, "title": self.title, "audience": self.audience, "audience_label": self.audience_label,
            "length": self.length, "as_of": self.as_of, "intro": self.intro, "mode": self.mode,
            "laws": [lw.to_json() for lw in self.laws],
            "sections": [{"label": s.label, "provisions": [p.to_json() for p in s.provisions]} for s in self.sections],
            "checklist": [p.to_json() for p in self.checklist],
            "liabilities": [r.to_json() for r in self.liabilities],
            "quiz": [q.to_json() for q in self.quiz],
            "appendix": [a.to_json() for a in self.appendix],
            "notices": list(self.notices),
        }


# ---- building ---------------------------------------------------------------------------------------
def kind_of(text: str) -> str:
    if PROHIBITION.search(text):
        return "禁止"
    if OBLIGATION.search(text):
        return "义务"
    return "规定"


def addressed_to_government(text: str) -> bool:
    """Whether the duty in a sentence falls on a government or department (the words before 应当/不得)."""
    m = OBLIGATION.search(text)
    subject = text[: m.start()] if m else ""  # a clause continuing a duty has the sentence's subject
    return bool(_GOVERNMENT.search(subject))


def checklist_clauses(text: str) -> list[tuple[str, str]]:
    """(clause, kind) for the duty clauses of a verbatim piece: each "；"-clause with 应当/必须/不得/禁止,
    or following one in the same sentence (it inherits the duty: "应当制定…；建立…台账")."""
    out: list[tuple[str, str]] = []
    for part in text.split(GAP):
        for sentence in re.split(r"(?<=[。！？])", part):
            kind = ""
            for clause in re.split(r"(?<=；)", sentence):
                clause = clause.strip()
                if OBLIGATION.search(clause):
                    kind = kind_of(clause)
                if kind and len(clause) >= 6:
                    out.append((clause.rstrip("；。"), kind))
    return out


def build_handout(assistant, topic: str, audience: str = "enterprise", length: str = "standard") -> Handout:
    """Draft a handout from the corpus (see the module docstring). Raises InputError / NotFoundError."""
    from .mapping import repealers
    from .quiz import make_quiz

    spec = resolve_topic(topic)
    aud = resolve_audience(audience)
    if length not in LENGTHS:
        raise InputError(f"未知的篇幅 {length!r}，可选：{'、'.join(f'{k}（{v}）' for k, v in LENGTH_LABELS.items())}。")
    n_prov, n_check, n_rows, n_quiz = LENGTHS[length]
    retriever, catalog = assistant.retriever, assistant.catalog
    as_of = assistant.clock().isoformat()

    if not spec.suggested:
        # a free topic is held to the same support check as a question: nothing made up from weak matches
        refusal = assistant.policy.out_of_scope(spec.name)
        hits = retriever.search(spec.name, k=8)
        terms_ = list(retriever.query_terms(retriever.analyse(spec.name)))
        if refusal is not None or assistant.policy.evasion(spec.name) or \
                assistant.policy.too_weak(spec.name, terms_, hits, retriever):
            raise NotFoundError(f"语料中没有足够的条文支持“{spec.name}”这个主题，请换一个主题或写得更具体些。")
    ranked, repealed_seen = _search(retriever, catalog, spec)
    if not ranked:
        raise NotFoundError(f"没有找到与“{spec.name}”相关的现行有效条文，请换一个主题或写得更具体些。")
    terms: dict[str, float] = {}
    for q in (spec.name, *spec.queries):
        for t, w in retriever.query_terms(retriever.analyse(q)).items():
            terms[t] = max(terms.get(t, 0.0), min(w, 1.0))
    for k in spec.keywords:
        terms[k] = 2.0
    scorer = PieceScorer(terms)

    # key provisions: the best duty/prohibition pieces of the obligation articles
    provisions: list[Provision] = []
    for a in (a for a in ranked if not is_liability(a)):
        if len(provisions) >= n_prov:
            break
        chosen = [p for p in pieces(a.text, scorer) if p.score > 0 and OBLIGATION.search(p.text)]
        chosen = [p for p in chosen if aud.government or not addressed_to_government(p.text)][:2]
        if not chosen and aud.government:
            chosen = [p for p in pieces(a.text, scorer) if p.score > 0][:1]
        for p in sorted(chosen, key=lambda p: p.paragraph):
            provisions.append(Provision(p.text, a, kind_of(p.text)))

    # self-check list: the duty clauses addressed to the regulated
    checklist: list[Provision] = []
    seen: set[str] = set()
    for p in provisions:
        for clause, kind in checklist_clauses(p.text):
            if len(checklist) >= n_check:
                break
            if clause in seen or addressed_to_government(clause):
                continue
            seen.add(clause)
            checklist.append(Provision(clause, p.article, kind))

    rows = _liabilities(catalog, ranked, provisions, checklist, scorer, n_rows, spec.keywords)
    sections = _sections(provisions)
    quiz = make_quiz(catalog, rows, provisions, n_quiz, seed=f"{spec.name}|{aud.key}|{length}")
    cited: dict[tuple, Article] = {}
    for a in [p.article for p in provisions] + [p.article for p in checklist] + \
             [r.unit.article for r in rows] + [r.obligation for r in rows if r.obligation] + [q.article for q in quiz]:
        cited.setdefault(a.key, a)
    appendix = tuple(sorted(cited.values(), key=lambda a: (a.law, a.position, a.num, a.sub)))
    laws = _laws_used(catalog, appendix, repealed_seen, repealers(catalog))
    notices = []
    if not rows:
        notices.append("未找到与所列义务对应的法律责任条文。")
    if not spec.suggested:
        notices.append("自定义主题：条文按主题文字检索得到，请核对是否切题。")
    return Handout(topic=spec.name, title=f"{spec.name}法律法规要点（{aud.label}版）", audience=aud.key,
                   audience_label=aud.label, length=length, as_of=as_of, intro=aud.intro, laws=laws,
                   sections=sections, checklist=tuple(checklist), liabilities=tuple(rows), quiz=tuple(quiz),
                   appendix=appendix, notices=tuple(notices))


def _search(retriever, catalog, spec: Topic) -> tuple[list[Article], set[str]]:
    """Articles in force about the topic, best first (reciprocal ranks summed over the queries)."""
    laws: list[str | None] = []
    for name in spec.laws:
        try:
            laws.append(catalog.resolve_law(name).title)
        except NotFoundError:
            continue
    if spec.laws and not laws:
        return [], set()
    score: dict[tuple, float] = {}
    found: dict[tuple, Article] = {}
    repealed: set[str] = set()
    for query in spec.queries:
        for law in laws or [None]:
            for rank, hit in enumerate(retriever.search(query, k=SEARCH_K, law=law)):
                a = hit.article
                if a.kind != "statute":
                    continue
                if spec.keywords and not any(k in a.text for k in spec.keywords):
                    continue
                if a.status != STATUS_CURRENT:
                    repealed.add(a.law_id)
                    continue
                score[a.key] = score.get(a.key, 0.0) + 1.0 / (rank + 2)
                found[a.key] = a
    return [found[k] for k in sorted(score, key=lambda k: -score[k])], repealed


def _liabilities(catalog, ranked: list[Article], provisions: list[Provision], checklist: list[Provision],
                 scorer: PieceScorer, limit: int, keywords: tuple[str, ...] = ()) -> list[LiabilityRow]:
    index = LiabilityIndex(catalog)
    rows: list[LiabilityRow] = []
    seen: set[tuple] = set()

    def add(unit: LiabilityUnit, obligation: Article | None) -> None:
        key = (unit.article.key, unit.basis, unit.violation)
        if key not in seen and len(rows) < limit and (unit.ranges or unit.consequences):
            seen.add(key)
            rows.append(LiabilityRow(unit, obligation))

    for p in checklist + provisions:
        m = index.match(p.article, p.text)
        if m is not None:
            add(m[0], p.article)
    # liability articles the topic search found directly: their violations that are about the topic
    for a in (a for a in ranked if is_liability(a)):
        for unit in sorted(units_of(a), key=lambda u: -scorer(u.violation)):
            about = not keywords or any(k in unit.violation + unit.context for k in keywords)
            if about and scorer(unit.violation) > 0:
                add(unit, None)
    return rows


def _sections(provisions: list[Provision]) -> tuple[Section, ...]:
    groups: dict[tuple, list[Provision]] = {}
    for p in provisions:
        a = p.article
        groups.setdefault((a.law, a.chapter), []).append(p)
    out = []
    for (law, chapter), items in sorted(groups.items(), key=lambda kv: min((p.article.position, p.article.num)
                                                                            for p in kv[1])):
        short = items[0].article.law_short
        label = f"《{short}》{chapter}" if chapter else f"《{short}》"
        out.append(Section(label, tuple(sorted(items, key=lambda p: (p.article.num, p.article.sub)))))
    return tuple(out)


def _laws_used(catalog, appendix: tuple[Article, ...], repealed_seen: set[str], repealed_by: dict) -> tuple[LawUsed, ...]:
    out: list[LawUsed] = []
    for law_id in dict.fromkeys(a.law_id for a in appendix):
        law = catalog.law(law_id)
        out.append(LawUsed(law.title, law.level, law.status, law.effective))
    for law_id in sorted(repealed_seen):
        law = catalog.law(law_id)
        by = repealed_by.get(law_id)
        if by:
            note = f"已被《{by[0].short}》{by[1].article_no}废止，本材料不引用"
        elif law.status == STATUS_PENDING:
            note = f"尚未施行（自 {law.effective} 起施行），本材料不引用"
        else:
            note = "已失效，本材料不引用"
        out.append(LawUsed(law.title, law.level, law.status, law.effective, note))
    return tuple(out)
