"""Defects of the law database a citation must not show, and the bureau's way to repair a law it lost."""

import shutil

import pytest

from pufa.embedders import HashEmbedder
from pufa.indexer import build_index, open_index
from pufa.retrieval import Retriever
from pufa.settings import Settings
from pufa.sources import FolderSource, LawDatabaseSource, SourceReport, reconcile_documents

from conftest import CORPUS_SOURCE, make_mini_db, write_config

CODE = "中华人民共和国生态环境法典"
CODE_FILE = "中华人民共和国生态环境法典_2026-03-12.md"
# The opening of 第一千一百二十条 in the official text; the database lost it with the article's number.
ARTICLE_1120 = "违反本法规定，有下列情形之一的，由生态环境主管部门责令改正，处二万元以上二十万元以下的罚款"
needs_shared = pytest.mark.skipif(not (CORPUS_SOURCE / CODE_FILE).is_file(),
                                  reason="../shared/corpus-source is not beside the repo")


@pytest.fixture(scope="module")
def database():
    report = SourceReport()
    docs = list(LawDatabaseSource().documents(report))
    return docs, report


def _articles(doc):
    return {(a.num, a.sub): a for a in doc.articles}


def test_headings_caught_in_article_texts_are_removed_and_reported(database):
    docs, report = database
    civil = _articles(next(d for d in docs if d.meta.title == "中华人民共和国民法典"))
    code = _articles(next(d for d in docs if d.meta.title == CODE))
    # the database ends these articles with the heading of the next 分编/编
    assert civil[(239, 0)].text.endswith("。") and "所有权" not in civil[(239, 0)].text.splitlines()[-1]
    assert not code[(265, 0)].text.endswith("水污染防治")
    assert code[(147, 0)].text.endswith("。")
    assert any("第二百三十九条" in w and "第二分编 所有权" in w for w in report.warnings)
    # an article that merely mentions a chapter in a sentence keeps its text
    assert all(a.text for d in docs for a in d.articles if d.meta.title == "中华人民共和国民法典")


def test_articles_missing_from_a_law_in_force_are_reported(database):
    docs, _ = database
    code = _articles(next(d for d in docs if d.meta.title == CODE))
    assert (1120, 0) not in code and (1201, 0) not in code
    report = SourceReport()
    assert len(reconcile_documents(docs, report)) == len(docs)
    warning = next(w for w in report.notices if w.startswith(CODE) and "lacks" in w)
    assert "第一千一百二十条" in warning and "第一千二百零一条" in warning and "corpus folder" in warning


def _code_folder(tmp_path, manifest: str = ""):
    """A corpus folder holding the official text of the 法典 (and a MANIFEST.tsv if given)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(CORPUS_SOURCE / CODE_FILE, folder / CODE_FILE)
    if manifest:
        (folder / "MANIFEST.tsv").write_text(manifest, encoding="utf-8")
    return folder


def _with_folder(docs, folder) -> tuple[list, SourceReport]:
    report = SourceReport()
    return reconcile_documents(docs + list(FolderSource(folder).documents(report)), report), report


@needs_shared
def test_a_folder_copy_of_the_same_law_replaces_the_database_text(tmp_path, database):
    docs, _ = database
    merged, report = _with_folder(docs, _code_folder(tmp_path))
    codes = [d for d in merged if d.meta.title == CODE]
    assert len(codes) == 1 and len(merged) == len(docs)
    code = codes[0]
    old = next(d for d in docs if d.meta.title == CODE)
    assert code.law_id == old.law_id  # stored references to the law stay valid
    assert code.meta.status == "现行有效" and code.meta.source.endswith(CODE_FILE)
    articles = _articles(code)
    assert articles[(1120, 0)].text.startswith(ARTICLE_1120)
    assert "境主管部门责令改正" not in articles[(1119, 0)].text.replace("生态环境主管部门责令改正", "")
    assert any("replaces the law database's text" in w for w in report.notices)


@needs_shared
def test_a_different_version_in_a_folder_does_not_replace_the_database_law(tmp_path, database):
    docs, _ = database
    merged, report = _with_folder(
        docs, _code_folder(tmp_path, f"file\tpromulgated\teffective\n{CODE_FILE}\t2031-01-01\t2031-06-01\n"))
    assert len([d for d in merged if d.meta.title == CODE]) == 2
    assert not any("the copy in" in w for w in report.notices)


@needs_shared
def test_the_repaired_article_can_be_cited_and_found(tmp_path):
    db = make_mini_db(tmp_path / "laws.db", (CODE, "中华人民共和国行政处罚法"))
    folder = _code_folder(tmp_path)
    settings = Settings(index_dir=tmp_path / "index", corpus_config=write_config(tmp_path, db, [folder]),
                        embedder="hash")
    emb = HashEmbedder()
    result = build_index(settings, emb.name, emb.dim)
    assert result.manifest.counts["laws"] == 2
    # the build records the replacement, and no longer reports the articles as missing
    assert [n for n in result.manifest.notices if "the copy in" in n] and not [n for n in result.manifest.notices
                                                                            if "lacks" in n]
    index = open_index(settings, embedder=emb, with_dense=False)
    assert index.catalog.article("生态环境法典", 1120).text.startswith(ARTICLE_1120)
    retriever = Retriever(index.catalog, index.lexical, None)
    hits = retriever.search("生态环境法典第一千一百二十条", k=3)
    assert (hits[0].article.law_short, hits[0].article.num) == ("生态环境法典", 1120)
