"""The optional cross-encoder reranker, with a tiny CrossEncoder built in the test (no download)."""

import pytest

from pufa.errors import ConfigError
from pufa.indexer import open_index
from pufa.rerank import CrossEncoderReranker
from pufa.retrieval import Retriever


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    out = tmp_path_factory.mktemp("tiny-ce")
    texts = ["未取得排污许可证排放污染物的罚款", "夜间施工噪声", "申请行政复议的期限为六十日", "行政处罚 听证"] * 10
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
    fast.save_pretrained(out)
    BertForSequenceClassification(BertConfig(vocab_size=fast.vocab_size, hidden_size=32, num_hidden_layers=1,
                                              num_attention_heads=2, intermediate_size=64, num_labels=1)
                                  ).save_pretrained(out)
    return str(out)


def test_reranked_order_follows_the_cross_encoder(mini_index, tiny_cross_encoder):
    index = open_index(mini_index)
    plain = Retriever(index.catalog, index.lexical, index.dense)
    reranker = CrossEncoderReranker(tiny_cross_encoder, depth=20)
    reranked = Retriever(index.catalog, index.lexical, index.dense, reranker=reranker)
    question = "企业没有排污许可证排放废气怎么处罚"
    candidates = plain.search(question, k=20)
    hits = reranked.search(question, k=10)
    # oracle: the top 10 are the 20 fused candidates sorted by the model's own scores
    expected = sorted(zip(reranker.scores(question, candidates), range(20), candidates), key=lambda x: (-x[0], x[1]))
    assert [h.article.key for h in hits] == [c.article.key for _, _, c in expected[:10]]
    assert all("rerank" in h.legs for h in hits)


def test_explicit_reference_stays_first(mini_index, tiny_cross_encoder):
    index = open_index(mini_index)
    r = Retriever(index.catalog, index.lexical, index.dense, reranker=CrossEncoderReranker(tiny_cross_encoder))
    assert r.search("行政处罚法第三十三条", k=5)[0].article.citation() == "《行政处罚法》第三十三条"


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="PUFA_RERANKER"):
        CrossEncoderReranker(str(tmp_path / "no-such-model"))
