import pytest

from pufa.numerals import article_label, cn_to_int, int_to_cn, parse_article_no


@pytest.mark.parametrize("text,value", [
    ("一", 1), ("十", 10), ("十五", 15), ("二十", 20), ("一百零五", 105), ("一百一十", 110),
    ("九十九", 99), ("一千二百四十二", 1242), ("两百", 200), ("一千零一", 1001), ("1242", 1242), ("９９", 99),
])
def test_cn_to_int(text, value):
    assert cn_to_int(text) == value


@pytest.mark.parametrize("n", [1, 9, 10, 11, 19, 20, 99, 100, 101, 110, 999, 1000, 1001, 1010, 1242])
def test_round_trip(n):
    assert cn_to_int(int_to_cn(n)) == n


@pytest.mark.parametrize("n,label", [(99, "第九十九条"), (10, "第十条"), (1242, "第一千二百四十二条"),
                                     (105, "第一百零五条")])
def test_article_label(n, label):
    assert article_label(n) == label


def test_article_label_with_sub():
    assert article_label(20, 1) == "第二十条之一"


@pytest.mark.parametrize("text,parsed", [
    ("第二十条之一", (20, 1)), ("99", (99, 0)), ("99条", (99, 0)), ("第99条", (99, 0)),
    ("第三十五 条", (35, 0)), ("九十九", (99, 0)), ("第一千二百四十二条", (1242, 0)), ("abc", None),
])
def test_parse_article_no(text, parsed):
    assert parse_article_no(text) == parsed


def test_rejects_non_numeral():
    with pytest.raises(ValueError):
        cn_to_int("甲")
