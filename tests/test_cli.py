"""The command line as a user runs it: one JSON document on stdout, clear errors and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(settings, *args):
    env = dict(os.environ, PUFA_INDEX_DIR=str(settings.index_dir), PUFA_EMBEDDER="hash", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "pufa", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)


def test_article_json_document(mini_index):
    out = run(mini_index, "article", "大气污染防治法", "99", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # exactly one JSON document on stdout
    assert doc["law"] == "中华人民共和国大气污染防治法" and doc["law_short"] == "大气污染防治法"
    assert doc["article_num"] == 99 and doc["article_no"] == "第九十九条"
    assert doc["status"] == "已废止" and doc["level"] == "法律" and doc["chapter"] == "第七章 法律责任"
    assert doc["effective_date"] and "未依法取得排污许可证" in doc["text"]


def test_article_by_alias_and_chinese_numeral(mini_index):
    out = run(mini_index, "article", "法典", "第一千二百四十二条", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["article_num"] == 1242


def test_article_human_output_shows_status_and_dates(mini_index):
    out = run(mini_index, "article", "大气法", "九十九")
    assert out.returncode == 0
    assert "已废止" in out.stdout and "施行日期 2016-01-01" in out.stdout


@pytest.mark.parametrize("args,message", [
    (("article", "大气污染法规", "1"), "did you mean"),
    (("article", "大气污染防治法", "999"), "1–129"),
])
def test_missing_law_or_article_is_exit_2_with_suggestions(mini_index, args, message):
    out = run(mini_index, *args, "--json")
    assert out.returncode == 2
    assert out.stdout == "" and message in out.stderr


def test_search_json_hits(mini_index):
    out = run(mini_index, "search", "企业没有排污许可证就排放废气怎么处罚", "--k", "5", "--json")
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)["hits"]
    assert len(hits) == 5
    assert set(hits[0]) == {"law", "law_short", "article_num", "article_no", "status", "score", "text"}
    assert hits[0]["status"] == "现行有效"  # the law in force comes before the repealed one


def test_search_without_index_says_how_to_build(tmp_path):
    env = dict(os.environ, PUFA_INDEX_DIR=str(tmp_path / "none"), PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "pufa", "search", "噪声"], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=60)
    assert out.returncode == 3 and "python -m pufa index" in out.stderr
