import pytest

from pufa.chunks import is_domain_law
from pufa.indexer import open_index
from pufa.retrieval import Retriever


@pytest.fixture(scope="module")
def retriever(mini_index):
    index = open_index(mini_index)
    return Retriever(index.catalog, index.lexical, index.dense)


@pytest.mark.parametrize("question,law,num", [
    ("法典第八十条说的什么", "生态环境法典", 80),
    ("大气法99条还适用吗", "大气污染防治法", 99),
    ("行政处罚法第三十三条", "行政处罚法", 33),
    ("《中华人民共和国行政复议法》第20条怎么规定的", "行政复议法", 20),
])
def test_explicit_article_reference_comes_first(retriever, question, law, num):
    hit = retriever.search(question, k=5)[0]
    assert (hit.article.law_short, hit.article.num) == (law, num)
    assert "exact" in hit.legs


def test_repealed_article_is_labelled_when_asked_for(retriever):
    hit = retriever.search("大气污染防治法第九十九条", k=3)[0]
    assert hit.article.status == "已废止"


def test_current_law_ranks_before_repealed_for_plain_questions(retriever):
    hits = retriever.search("未取得排污许可证排放大气污染物怎么处罚", k=10)
    statuses = [h.article.status for h in hits]
    assert statuses[0] == "现行有效"
    first_repealed = statuses.index("已废止") if "已废止" in statuses else len(statuses)
    assert first_repealed >= 3


def test_a_law_repealed_by_one_in_the_catalog_stays_out_unless_named(retriever):
    # 大气污染防治法 was repealed by the 法典, which carries its provisions: a question that does not name
    # it gets the 法典's articles, one that names it gets the repealed article first (with its counterpart)
    for question in ("未取得排污许可证排放大气污染物怎么处罚", "超标排放大气污染物罚多少", "工地扬尘不采取措施怎么罚"):
        assert all(h.article.law_short != "大气污染防治法" for h in retriever.search(question, k=10)), question
    named = retriever.search("大气污染防治法 超标排放大气污染物罚多少", k=10)
    assert named[0].article.law_short == "大气污染防治法"


@pytest.mark.parametrize("question", ["工厂违反了水污染防治的规定，会受到什么处罚？", "噪声扰民违反规定怎么处罚"])
def test_articles_that_only_state_a_sections_scope_do_not_answer(retriever, question):
    # "违反本法第二编第三分编规定，适用本节规定予以行政处罚。" matches every penalty question and says nothing
    texts = [h.article.text for h in retriever.search(question, k=10)]
    assert texts and not any("适用本节规定予以行政处罚" in t for t in texts)
    assert retriever.search("生态环境法典第一千一百三十五条", k=1)[0].article.num == 1135  # asked for, it is there


@pytest.mark.parametrize("question,duty,penalty", [
    ("没有排污许可证能排污吗", 174, 1102),  # 排污许可 → 未依法取得排污许可证排放污染物的 penalty
    ("饮用水水源保护区里可以设排污口吗", 318, 1109),  # 禁止设置排污口 → 设置排污口的 penalty
])
def test_a_duty_comes_with_the_article_that_punishes_breaking_it(retriever, question, duty, penalty):
    hits = retriever.search(question, k=10)
    nums = [h.article.num for h in hits]
    assert nums[0] == duty and nums[1] == penalty and hits[1].legs == {"penalty": 1}
    assert "penalty #1" in retriever.explain(hits[1])
    assert penalty not in [h.article.num for h in retriever.with_params(companion=0).search(question, k=5)]


def test_a_penalty_comes_with_the_duty_it_punishes(retriever):
    # 第一千一百三十二条 punishes cooking fumes from restaurants in residential buildings; the duty broken is
    # 第二百五十条, which shares no word of this question but 油烟
    question = "开饭馆油烟罚款一般多少"
    hits = retriever.search(question, k=10)
    assert [h.article.num for h in hits[:2]] == [1132, 250] and hits[1].legs == {"duty": 1}
    assert "duty #1" in retriever.explain(hits[1])
    assert 250 not in [h.article.num for h in retriever.with_params(companion=0).search(question, k=10)]


def test_the_duties_a_liability_article_punishes(retriever):
    code = retriever.catalog.resolve_law("生态环境法典")
    duties = retriever._liability.duties
    assert duties(retriever.catalog.article_of(code, 1185))[0][0].num == 572  # 夜间施工 without a permit
    assert duties(retriever.catalog.article_of(code, 1132))[0][0].num == 250  # 油烟 in residential buildings
    # a penalty article listing several violations points at several duties
    assert len(duties(retriever.catalog.article_of(code, 1175))) >= 3
    assert duties(retriever.catalog.article_of(code, 250)) == []  # a duty punishes nothing


def test_warming_pairs_the_bureaus_laws_before_the_first_question(mini_index, monkeypatch):
    """The app warms the retriever beside serving, so the first penalty question about the 法典 does not pay for
    matching all its penalties to their duties (0.36 s on the full corpus); other laws are left to demand."""
    from pufa import liability

    index = open_index(mini_index)
    fresh = Retriever(index.catalog, index.lexical, index.dense)
    code = fresh.catalog.resolve_law("生态环境法典")
    fresh.warm()
    warmed = set(fresh._liability._closest)
    assert code.law_id in warmed
    assert all(is_domain_law(law.title) for law in fresh.catalog.laws() if law.law_id in warmed)
    monkeypatch.setattr(liability, "_sparse", lambda *a: pytest.fail("matched again on a question"))
    assert [h.article.num for h in fresh.search("开饭馆油烟罚款一般多少", k=2)] == [1132, 250]


def test_lay_words_are_expanded_to_legal_terms(retriever):
    analysis = retriever.analyse("没批环评就开工了会怎么样")
    assert any("环境影响" in t for t in analysis.expansion_terms)
    # lexical leg only: the mini index's dense leg is the hash embedder, which knows no synonyms
    hits = retriever.with_params(legs=("exact", "lexical")).search("没批环评就开工了会怎么样", k=10)
    assert any("擅自开工建设" in h.article.text for h in hits)


def test_explain_names_legs_and_terms(retriever):
    hit = retriever.search("申请行政复议的期限是多久", k=1)[0]
    text = retriever.explain(hit)
    assert "lexical" in text and "fused score" in text


def test_named_law_restricts_with_law_argument(retriever):
    hits = retriever.search("罚款", k=5, law="行政处罚法")
    assert hits and all(h.article.law_short == "行政处罚法" for h in hits)


def _law(law_id: str, title: str, status: str):
    from pufa.records import Law

    return Law(law_id, title, "法律", "", "", "", status, "", "", "statute")


@pytest.mark.parametrize("laws,expected", [
    # an amended law with no current version of the same title is the text in force
    ([("a", "中华人民共和国刑法", "已被修改")], {"a"}),
    ([("a", "中华人民共和国商标法", "历史版本"), ("b", "中华人民共和国商标法", "现行有效")], {"b"}),
    ([("a", "中华人民共和国公司法", "已被修改"), ("b", "中华人民共和国公司法", "现行有效")], {"b"}),
    ([("a", "中华人民共和国大气污染防治法", "已废止")], set()),
    ([("a", "某市生活垃圾管理条例", "")], {"a"}),
])
def test_in_force_laws(laws, expected):
    from pufa.retrieval import _in_force

    assert _in_force([_law(*spec) for spec in laws]) == expected


@pytest.mark.parametrize("values,mode,leg,expected", [
    ([2.0, 1.0, 0.0], "max", "lexical", [1.0, 0.5, 0.0]),
    ([0.9, 0.8, 0.7], "max", "dense", [1.0, 0.5, 0.0]),
    ([3.0, 1.0, 1.0, 1.0], "z", "lexical", [1.0, -1 / 3, -1 / 3, -1 / 3]),  # best candidate is 1, mean is 0
    ([5.0, 5.0], "z", "dense", [0.0, 0.0]),  # no spread: no evidence either way
    ([], "z", "lexical", []),
])
def test_leg_scores_are_normalised_over_the_candidates(values, mode, leg, expected):
    import numpy as np

    from pufa.retrieval import _normalised

    assert np.allclose(_normalised(np.asarray(values, dtype=float), mode, leg), expected)


def test_a_law_being_read_by_one_request_is_not_half_seen_by_another(retriever, monkeypatch):
    """Requests run in threads. While one builds a law's liability units, another that finds the law already
    listed must find its vectors too, or it fails with a KeyError (a 500 for the user)."""
    import threading
    import time

    from pufa import liability

    index = liability.LiabilityIndex(retriever.catalog)
    code = retriever.catalog.resolve_law("生态环境法典")
    penalty = retriever.catalog.article_of(code, 1132)
    duty = retriever.catalog.article_of(code, 250)
    slow = liability._vector

    def slower(*args):  # widen the window between a law's units and its vectors
        time.sleep(0.0005)
        return slow(*args)

    monkeypatch.setattr(liability, "_vector", slower)
    errors: list[Exception] = []

    def second_request():
        deadline = time.monotonic() + 30
        while code.law_id not in index._units and time.monotonic() < deadline:
            time.sleep(0.0001)
        try:
            index.match(duty, duty.text)  # reads the law's vectors at once
            index.duties(penalty)
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            errors.append(e)

    other = threading.Thread(target=second_request)
    other.start()
    index.units(code.law_id)
    other.join()
    assert not errors
    assert index.duties(penalty)[0][0].num == 250


def test_only_the_asked_kind_comes_back_when_a_kind_is_required(retriever):
    # counterparts of a repealed penalty article are searched with require="penalty": no duty may join them
    hits = retriever.with_params(require="penalty").search("开饭馆油烟罚款一般多少", k=10)
    assert hits and all(retriever._features["penalty"][retriever._table.index[h.article.key]] for h in hits)
