"""Folder sources: real statute files, a guide, and broken files that must not stop the build."""

import shutil

import pytest

from pufa.embedders import HashEmbedder
from pufa.errors import ConfigError
from pufa.indexer import build_index, open_index
from pufa.settings import Settings
from pufa.sources import SourceReport, load_sources

from conftest import CORPUS_SOURCE, write_config

pytestmark = pytest.mark.skipif(not CORPUS_SOURCE.is_dir(), reason="../shared/corpus-source is not beside the repo")

FILES = ("排污许可管理条例_2021-01-24.md", "浙江省农村生活污水处理设施管理条例_2019-09-27.md",
         "企业环境信息依法披露管理办法_2021-12-11.md")


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in FILES:
        shutil.copy(CORPUS_SOURCE / name, docs / name)
    (docs / "MANIFEST.tsv").write_text(
        "file\ttitle\tlevel\tissuer\tstatus\n"
        "排污许可管理条例_2021-01-24.md\t排污许可管理条例\t行政法规\t国务院\t现行有效\n", encoding="utf-8")
    (docs / "废气治理设施运行指南.md").write_text(
        "# 废气治理设施运行指南\n\n## 一、日常巡检\n\n每日检查风机、喷淋塔运行情况，做好台账记录。\n\n"
        "## 二、异常处理\n\n设施故障应当及时报告并停止相关生产工序。\n", encoding="utf-8")
    (docs / "旧文件.txt").write_bytes("第一条 为了保护环境，制定本办法。\n第二条 本办法自公布之日起施行。\n".encode("gbk"))
    (docs / "坏文件.md").write_bytes(bytes(range(256)) * 20)
    (docs / "表格.xlsx").write_bytes(b"PK\x03\x04 not really")
    return docs


def test_folder_is_indexed_and_bad_files_are_reported(tmp_path, folder):
    settings = Settings(index_dir=tmp_path / "index", corpus_config=write_config(tmp_path, folders=[folder]),
                        embedder="hash")
    emb = HashEmbedder()
    result = build_index(settings, emb.name, emb.dim)
    skipped = {p.split("/")[-1]: reason for p, reason in result.report.skipped}
    assert set(skipped) == {"旧文件.txt", "坏文件.md", "表格.xlsx"}
    assert "UTF-8" in skipped["旧文件.txt"] and ".xlsx" in skipped["表格.xlsx"]
    assert result.manifest.skipped  # the build summary lists what was skipped

    catalog = open_index(settings, embedder=emb).catalog
    permit = catalog.resolve_law("排污许可管理条例")
    assert (permit.level, permit.issuer, permit.status) == ("行政法规", "国务院", "现行有效")
    assert catalog.article("排污许可管理条例", 1).text.startswith("为了加强排污许可管理")
    # the typo "第三十五 条" still yields article 35
    assert catalog.article("浙江省农村生活污水处理设施管理条例", 35).num == 35
    # no MANIFEST row: status stays unknown rather than invented; the effective date comes from the text
    disclosure = catalog.resolve_law("企业环境信息依法披露管理办法")
    assert disclosure.status == "" and disclosure.effective == "2022-02-08"
    guide = catalog.resolve_law("废气治理设施运行指南")
    assert guide.kind == "guide" and len(catalog.articles_of(guide.law_id)) == 2


def test_config_errors_name_the_problem(tmp_path):
    bad = tmp_path / "sources.toml"
    bad.write_text('[[source]]\ntype = "ftp"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="ftp"):
        load_sources(bad)
    bad.write_text("[[source\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sources(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_sources(tmp_path / "missing.toml")


def test_missing_corpus_package_is_a_clear_error(tmp_path):
    from pufa.errors import CorpusError
    from pufa.sources import LawDatabaseSource

    with pytest.raises(CorpusError, match="not installed"):
        list(LawDatabaseSource(package="no_such_corpus_package").documents(SourceReport()))
