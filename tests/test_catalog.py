import pytest

from pufa.catalog import Catalog
from pufa.errors import NotFoundError
from pufa.indexer import current_build


@pytest.fixture(scope="module")
def catalog(mini_index):
    return Catalog.open(current_build(mini_index.index_dir) / "catalog.sqlite")


@pytest.mark.parametrize("name,title", [
    ("大气污染防治法", "中华人民共和国大气污染防治法"),
    ("中华人民共和国大气污染防治法", "中华人民共和国大气污染防治法"),
    ("《大气污染防治法》", "中华人民共和国大气污染防治法"),
    ("大气法", "中华人民共和国大气污染防治法"),
    ("法典", "中华人民共和国生态环境法典"),
    ("处罚法", "中华人民共和国行政处罚法"),
    ("复议法", "中华人民共和国行政复议法"),
])
def test_resolve_law_by_name_short_name_and_alias(catalog, name, title):
    assert catalog.resolve_law(name).title == title


def test_current_version_wins_over_history(catalog):
    # the package database holds two 商标法 versions; the one in force answers
    assert catalog.resolve_law("商标法").status == "现行有效"


@pytest.mark.parametrize("number", ["99", "九十九", "第九十九条", "第99条", 99])
def test_article_lookup_accepts_numeral_forms(catalog, number):
    a = catalog.article("大气法", number)
    assert a.article_no == "第九十九条"
    assert a.status == "已废止"
    assert "十万元以上一百万元以下" in a.text


def test_code_article_1242(catalog):
    a = catalog.article("生态环境法典", "第一千二百四十二条")
    assert a.num == 1242 and "大气污染防治法" in a.text and a.effective == "2026-08-15"


def test_missing_article_says_range(catalog):
    with pytest.raises(NotFoundError, match="1–129"):
        catalog.article("大气污染防治法", 999)


def test_unknown_law_suggests_near_matches(catalog):
    with pytest.raises(NotFoundError) as err:
        catalog.resolve_law("大气污染法规")
    assert any("大气" in s for s in err.value.suggestions)


def test_not_an_article_number(catalog):
    with pytest.raises(NotFoundError, match="not an article number"):
        catalog.article("大气法", "abc")


def test_a_revision_not_yet_in_force_leaves_the_previous_version_current(mini_index):
    # The database records the 2026-06-26 revision of 商标法 (in force 2027-01-01) as 现行有效 and the 2019
    # version as 历史版本. Until 2027-01-01 the 2019 text is the law: questions must be answered from it.
    import datetime as dt

    catalog = Catalog.open(current_build(mini_index.index_dir) / "catalog.sqlite")
    catalog.clock = lambda: dt.date(2026, 11, 29)
    law = catalog.resolve_law("商标法")
    assert (law.promulgated, law.status) == ("2019-04-23", "现行有效")
    assert catalog.article("商标法", 8).status == "现行有效"
    pending = [v for v in catalog.laws_named("商标法") if v.law_id != law.law_id]
    assert [(v.effective, v.status) for v in pending] == [("2027-01-01", "尚未生效")]
    catalog.clock = lambda: dt.date(2027, 1, 1)  # the revision takes effect; the same process follows
    law = catalog.resolve_law("商标法")
    assert (law.promulgated, law.status) == ("2026-06-26", "现行有效")
    assert {v.status for v in catalog.laws_named("商标法") if v.law_id != law.law_id} == {"历史版本"}


def test_statuses_on_dates():
    from pufa.catalog import statuses_on

    rows = [("old", "甲法", "2019-01-01", "2019-02-01", "历史版本"),
            ("new", "甲法", "2026-06-01", "2027-01-01", "现行有效"),
            ("gone", "乙法", "2010-01-01", "2010-01-01", "已废止"),
            ("next", "乙法", "2026-06-01", "2027-01-01", "现行有效"),
            ("now", "丙法", "2020-01-01", "2020-01-01", "现行有效"),
            ("later", "丙法", "2026-06-01", "2027-01-01", "现行有效")]
    assert statuses_on(rows, "2026-12-31") == {
        "new": "尚未生效", "old": "现行有效",  # the earlier version is in force until the revision is
        "next": "尚未生效",  # a repealed version is never revived
        "later": "尚未生效"}  # another version already in force stays the only current one
    assert statuses_on(rows, "2027-01-01") == {}


def test_staff_are_told_of_pending_revisions_and_unexplained_repeals(mini_index, tmp_path):
    import datetime as dt
    import shutil
    import sqlite3

    from pufa.mapping import status_notices

    path = tmp_path / "catalog.sqlite"
    shutil.copy(current_build(mini_index.index_dir) / "catalog.sqlite", path)
    with sqlite3.connect(path) as conn:  # a law recorded repealed that nothing in the corpus repeals
        conn.execute("UPDATE laws SET status='已废止' WHERE title='中华人民共和国行政复议法'")
    catalog = Catalog.open(path)
    catalog.clock = lambda: dt.date(2026, 11, 29)
    notices = status_notices(catalog)
    assert any(n.startswith("中华人民共和国商标法 (2026-06-26): in force from 2027-01-01, not yet; until then the "
                            "version of 2019-04-23 answers") for n in notices)
    assert any(n.startswith("中华人民共和国行政复议法") and "no law in the corpus repeals it" in n for n in notices)
    # 大气污染防治法 is repealed by the 法典's 第一千二百四十二条: nothing to say
    assert not any(n.startswith("中华人民共和国大气污染防治法") for n in notices)
