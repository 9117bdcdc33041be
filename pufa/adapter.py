"""A query adapter: a low-rank correction of the question's embedding, learned from labelled questions.

People ask "房东不退押金怎么办"; lawyers answer with 民法典 articles whose words are far from the question.
The embedder puts the two apart. The adapter moves the question's vector (never the articles': the index
stays as built) toward the articles that answer questions like it:

    q' = normalise(q + (q A) B),  A: dim x rank, B: rank x dim, B = 0 at the start (q' = q)

trained with a softmax over every embedded chunk of the index (each labelled article's chunks against all
others, so a question labelled with a duty and its penalty pulls toward both), on labelled question sets.
What it learns is the distribution of those sets: trained on STARD it helps STARD-like questions and hurts
the bureau's environmental ones, and the other way round (measured, README "Query adapter"), so it is trained
on both kinds together.

Honest figures need care: evaluated on its own training questions an adapter looks better than it is.
So a file holds `folds` adapters, each trained without one fold of the questions, and the adapter
trained on all of them. A question that was in the training data (recognised by a fingerprint of its
text; the texts are not stored) is embedded with the adapter of its fold, which never saw it: `eval` on
a training set reports out-of-fold (cross-validated) figures, and any other question gets the full one.

Built with `python -m pufa adapter`; off with PUFA_ADAPTER=off. The file belongs to one embedder (its
name is stored and checked); an index built with another embedder is searched without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError

log = logging.getLogger(__name__)

PACKAGED = Path(__file__).parent / "adapters"


def fingerprint(question: str) -> str:
    """Whitespace-insensitive digest of a question's text."""
    return hashlib.sha256(" ".join(question.split()).encode("utf-8")).hexdigest()[:16]


def fold_of(print_: str, folds: int) -> int:
    return int(print_, 16) % folds


def packaged_path(embedder_name: str) -> Path:
    return PACKAGED / f"{embedder_name}.npz"


@dataclass
class QueryAdapter:
    embedder: str
    a: np.ndarray  # (folds + 1, dim, rank); index `folds` is the adapter trained on every question
    b: np.ndarray  # (folds + 1, rank, dim)
    trained_on: dict[str, int]  # fingerprint of a training question -> its fold
    meta: dict

    @property
    def folds(self) -> int:
        return self.a.shape[0] - 1

    def which(self, question: str) -> int:
        """The adapter for this question: its fold's if it was trained on, else the full one."""
        return self.trained_on.get(fingerprint(question), self.folds)

    def apply(self, question: str, vec: np.ndarray) -> np.ndarray:
        i = self.which(question)
        v = vec + (vec @ self.a[i]) @ self.b[i]
        n = float(np.linalg.norm(v))
        return (v / n).astype(np.float32) if n else vec

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        prints = sorted(self.trained_on)
        with path.open("wb") as f:
            np.savez_compressed(f, a=self.a.astype(np.float16), b=self.b.astype(np.float16),
                                prints=np.asarray(prints), folds_of=np.asarray([self.trained_on[p] for p in prints]),
                                meta=np.asarray(json.dumps(self.meta | {"embedder": self.embedder}, ensure_ascii=False)))

    @classmethod
    def load(cls, path: Path, dim: int | None = None) -> QueryAdapter:
        """Read and check a saved adapter (for an embedder of `dim` dimensions, if given)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                adapter = cls(str(meta["embedder"]), z["a"].astype(np.float32), z["b"].astype(np.float32),
                              dict(zip((str(p) for p in z["prints"]), (int(f) for f in z["folds_of"]))), meta)
        except Exception as e:  # a truncated zip, an empty file, a foreign archive: all the same to the user
            raise ConfigError(f"The query adapter {path} cannot be read ({type(e).__name__}: {e}); rebuild it with "
                              "`python -m pufa adapter` or set PUFA_ADAPTER=off") from e
        a, b = adapter.a, adapter.b
        shapes_agree = (a.ndim == 3 and b.ndim == 3 and a.shape[0] == b.shape[0] >= 2 and a.shape[2] == b.shape[1]
                        and a.shape[1] == b.shape[2] and (dim is None or a.shape[1] == dim))
        if not shapes_agree or any(not 0 <= f < adapter.folds for f in adapter.trained_on.values()):
            raise ConfigError(f"The query adapter {path} does not fit (matrices {a.shape} and {b.shape}"
                              f"{f', embedder of {dim} dimensions' if dim else ''}); rebuild it with "
                              "`python -m pufa adapter` or set PUFA_ADAPTER=off")
        return adapter


def adapter_for(spec: str, embedder_name: str, dim: int | None = None) -> QueryAdapter | None:
    """The adapter PUFA_ADAPTER names: "auto" = the packaged one for this embedder (if any), "off", or a path.

    A named file that is missing or broken is a ConfigError (the operator asked for it); a broken packaged
    file only costs the adapter, with a warning, so every command still runs.
    """
    if spec in ("", "off"):
        return None
    path = packaged_path(embedder_name) if spec == "auto" else Path(spec).expanduser()
    if not path.exists():
        if spec != "auto":
            raise ConfigError(f"PUFA_ADAPTER={spec}: no such file; build one with `python -m pufa adapter --out {spec}`")
        return None
    try:
        adapter = QueryAdapter.load(path, dim)
    except ConfigError as e:
        if spec != "auto":
            raise
        log.warning("%s Searching without it.", e)
        return None
    if adapter.embedder != embedder_name:
        log.warning("query adapter %s was trained for %s, not %s; searching without it", path, adapter.embedder,
                    embedder_name)
        return None
    return adapter


def retriever_adapter(settings, dense) -> QueryAdapter | None:
    """The adapter for an opened index's dense leg (None without one)."""
    if dense is None:
        return None
    return adapter_for(settings.adapter, dense.embedder.name, dense.embedder.dim)


@dataclass(frozen=True)
class TrainParams:
    # Chosen by 5-fold cross-validation on STARD dev, dense leg alone, in a throwaway script before this module
    # (R@10 0.590 without an adapter): rank 16 / 100 steps 0.696, rank 32 / 200 steps 0.705 (twice the time),
    # rank 64 with temperature 0.05 0.660. bench/adapter_transfer.py measures the adapter these values give.
    # Rank 32 since env_train (240 questions) joined the training sets: trained on the four sets, out-of-fold,
    # rank 16 gave STARD 0.634/0.724/0.595 (R@5/R@10/MRR), env_dev 0.828/0.893/0.801, env_test 0.533/0.656/0.526,
    # rank 32 0.646/0.725/0.620, 0.823/0.890/0.817, 0.583/0.689/0.554 (the hybrid; training 18 min instead of 9).
    # Loss "each" and 150 steps since 2026-11-29 evening (out-of-fold hybrid R@5 / R@10 / MRR, rank 32, the four
    # sets): "any" 100 steps STARD 0.646/0.725/0.620, env_dev 0.832/0.894/0.809, env_test 0.583/0.689/0.545,
    # env_train 0.707/0.824/0.715; "each" 100 steps 0.654/0.726/0.622, 0.849/0.904/0.803, 0.571/0.722/0.527,
    # 0.733/0.828/0.731; 150 steps 0.657/0.728/0.626, 0.859/0.923/0.812, 0.613/0.772/0.560, 0.738/0.849/0.726;
    # 200 steps 0.661/0.732/0.620, 0.857/0.923/0.815, 0.613/0.756/0.540, 0.745/0.855/0.730 (no better, longer).
    rank: int = 32
    steps: int = 150
    temperature: float = 0.02
    lr: float = 3e-3
    folds: int = 5
    seed: int = 0
    # "any": -log of the mass on all labelled chunks together (one labelled article on top satisfies it);
    # "each": the mean over the labelled articles of -log of each one's mass, so every one is pulled up.
    loss: str = "each"


def train(chunk_vectors: np.ndarray, chunk_article: np.ndarray, questions: list[tuple[str, np.ndarray, list[int]]],
          embedder: str, params: TrainParams = TrainParams(), sources: list[str] | None = None,
          progress=None) -> QueryAdapter:
    """Fold adapters and the full one from (question text, its raw vector, labelled article ids).

    `chunk_vectors` (n_chunks x dim, L2-normalised) and `chunk_article` (the article id of each chunk) are
    the index's own; questions without a labelled article in it are left out.
    """
    import torch

    usable = [(q, v, labels) for q, v, labels in questions if labels]
    if len(usable) < params.folds * 2:
        raise ConfigError(f"Only {len(usable)} questions have a labelled article in this index; an adapter needs "
                          f"at least {params.folds * 2}. Check the question sets and the index.")
    prints = [fingerprint(q) for q, _, _ in usable]
    if len(set(prints)) != len(prints):  # the same question twice: keep the first, so its fold is one
        seen: set[str] = set()
        keep = [i for i, p in enumerate(prints) if not (p in seen or seen.add(p))]
        usable, prints = [usable[i] for i in keep], [prints[i] for i in keep]
    folds = np.asarray([fold_of(p, params.folds) for p in prints])
    chunks, qv, positive = _tensors(chunk_vectors, chunk_article, usable, torch, params.loss)
    dim = qv.shape[1]
    a_all, b_all = [], []
    for f in [*range(params.folds), None]:
        rows = torch.from_numpy(np.flatnonzero(folds != f) if f is not None else np.arange(len(usable)))
        a, b = _fit(qv[rows], _rows_of(positive, rows, len(qv), torch), chunks, dim, params, torch)
        a_all.append(a)
        b_all.append(b)
        if progress:
            progress(f)
    meta = {"trained": time.strftime("%Y-%m-%d"), "questions": len(usable), "sources": sources or [],
            "params": params.__dict__, "chunks": int(chunks.shape[0])}
    return QueryAdapter(embedder, np.stack(a_all), np.stack(b_all), dict(zip(prints, folds.tolist())), meta)


def fit(chunk_vectors: np.ndarray, chunk_article: np.ndarray, questions: list[tuple[str, np.ndarray, list[int]]],
        params: TrainParams = TrainParams()) -> tuple[np.ndarray, np.ndarray]:
    """One adapter's (A, B) on all the given questions, without folds: for experiments (bench/adapter_transfer.py),
    whose figures are then measured on other questions."""
    import torch

    rows = [row for row in questions if row[2]]
    chunks, qv, positive = _tensors(chunk_vectors, chunk_article, rows, torch, params.loss)
    return _fit(qv, positive, chunks, qv.shape[1], params, torch)


def _tensors(chunk_vectors, chunk_article, rows, torch, loss: str):
    """Chunks, question vectors and the positives: per question a chunk mask ("any"), or per question one
    (labelled article, chunk mask) row each ("each"), as (question index, weight 1/labels, mask)."""
    chunks = torch.from_numpy(np.ascontiguousarray(chunk_vectors, dtype=np.float32))
    owner = torch.from_numpy(np.asarray(chunk_article, dtype=np.int64))
    qv = torch.from_numpy(np.stack([v for _, v, _ in rows]).astype(np.float32))
    if loss == "any":
        return chunks, qv, torch.stack([torch.isin(owner, torch.tensor(labels)) for _, _, labels in rows])
    # a labelled article without an embedded chunk has no mass to pull up (a question left with none adds no row)
    present = [[g for g in labels if bool((owner == g).any())] for _, _, labels in rows]
    which = torch.tensor([i for i, labels in enumerate(present) for _ in labels])
    weight = torch.tensor([1.0 / len(labels) for labels in present for _ in labels])
    masks = torch.stack([owner == g for labels in present for g in labels])
    return chunks, qv, (which, weight, masks)


def _rows_of(positive, rows, questions: int, torch):
    """The positives of the questions `rows` (in that order) of `questions`, in either form _tensors gives."""
    if not isinstance(positive, tuple):
        return positive[rows]
    which, weight, masks = positive
    new = torch.full((questions,), -1, dtype=torch.long)  # a question's index among `rows`, -1 if not there
    new[rows] = torch.arange(len(rows))
    keep = new[which] >= 0
    return new[which][keep], weight[keep], masks[keep]


def _fit(q, positive, chunks, dim: int, p: TrainParams, torch) -> tuple[np.ndarray, np.ndarray]:
    gen = torch.Generator().manual_seed(p.seed)
    a = torch.nn.Parameter(torch.randn(dim, p.rank, generator=gen) * 0.01)
    b = torch.nn.Parameter(torch.zeros(p.rank, dim))
    opt = torch.optim.Adam([a, b], lr=p.lr)
    for _ in range(p.steps):
        adapted = torch.nn.functional.normalize(q + q @ a @ b, dim=1)
        logits = adapted @ chunks.T / p.temperature
        if isinstance(positive, tuple):  # "each": every labelled article's own mass
            which, weight, masks = positive
            own = logits[which].masked_fill(~masks, float("-inf")).logsumexp(1)
            loss = ((logits.logsumexp(1)[which] - own) * weight).sum() / len(q)
        else:  # "any": -log of the probability mass on the labelled articles' chunks, against every chunk
            loss = (logits.logsumexp(1) - logits.masked_fill(~positive, float("-inf")).logsumexp(1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return a.detach().numpy(), b.detach().numpy()
