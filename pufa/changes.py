"""What a rebuild changed: articles added, changed and removed between two catalogs.

Articles are compared by (law id, article number, sub-number) and a hash of their text. A law id is
stable across builds (the database's id; for a folder document, a hash of its path), so replacing
an uploaded file shows its articles as changed, deleting it shows them as removed.
Deliberately left out: metadata-only changes (a new effective date with the same text).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .catalog import Catalog
from .numerals import article_label


@dataclass(frozen=True)
class ArticleChange:
    law: str  # the law's title in the catalog the article is in (the new one, or the old for removals)
    article_no: str  # 第N条
    law_id: str
    num: int
    sub: int

    def citation(self) -> str:
        return f"《{self.law}》{self.article_no}"


@dataclass(frozen=True)
class CatalogChanges:
    added: tuple[ArticleChange, ...] = ()
    changed: tuple[ArticleChange, ...] = ()
    removed: tuple[ArticleChange, ...] = ()
    laws_added: tuple[str, ...] = ()
    laws_removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed or self.laws_added or self.laws_removed)

    def to_json(self) -> dict:
        return {"added": [c.citation() for c in self.added], "changed": [c.citation() for c in self.changed],
                "removed": [c.citation() for c in self.removed], "laws_added": list(self.laws_added),
                "laws_removed": list(self.laws_removed)}


def _snapshot(catalog: Catalog) -> tuple[dict[tuple[str, int, int], str], dict[str, str]]:
    articles = {(law_id, num, sub): hashlib.sha1(text.encode()).hexdigest()
                for law_id, num, sub, text, _chapter in catalog.all_article_texts()}
    titles = {law.law_id: law.title for law in catalog.laws()}
    return articles, titles


def diff_catalogs(old: Catalog, new: Catalog) -> CatalogChanges:
    old_articles, old_titles = _snapshot(old)
    new_articles, new_titles = _snapshot(new)

    labels: dict[tuple[int, str], dict[tuple[int, int], str]] = {}

    def change(key: tuple[str, int, int], catalog: Catalog, titles: dict[str, str]) -> ArticleChange:
        law_id, num, sub = key
        by_num = labels.get((id(catalog), law_id))
        if by_num is None:  # the stored label: a guide's sections are not 第N条
            by_num = labels[(id(catalog), law_id)] = {(a.num, a.sub): a.article_no for a in catalog.articles_of(law_id)}
        label = by_num.get((num, sub)) or article_label(num, sub)
        return ArticleChange(titles.get(law_id, law_id), label, law_id, num, sub)

    def ordered(keys, catalog: Catalog, titles: dict[str, str]) -> tuple[ArticleChange, ...]:
        keys = sorted(keys, key=lambda k: (titles.get(k[0], k[0]), k[1], k[2]))
        return tuple(change(k, catalog, titles) for k in keys)

    added = new_articles.keys() - old_articles.keys()
    removed = old_articles.keys() - new_articles.keys()
    changed = {k for k in new_articles.keys() & old_articles.keys() if new_articles[k] != old_articles[k]}
    return CatalogChanges(
        added=ordered(added, new, new_titles), changed=ordered(changed, new, new_titles),
        removed=ordered(removed, old, old_titles),
        laws_added=tuple(sorted(new_titles[i] for i in new_titles.keys() - old_titles.keys())),
        laws_removed=tuple(sorted(old_titles[i] for i in old_titles.keys() - new_titles.keys())))
