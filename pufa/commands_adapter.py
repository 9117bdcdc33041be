"""`python -m pufa adapter`: train the query adapter (pufa/adapter.py) on labelled question sets."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from .adapter import TrainParams
from .settings import REPO_ROOT, STARD_DEV, Settings

log = logging.getLogger("pufa")

# The development sets and the training set; env_test2 and env_test3 are held out and must never be trained on.
DEFAULT_SETS = (STARD_DEV,
                REPO_ROOT / "eval" / "questions" / "env_dev.jsonl",
                REPO_ROOT / "eval" / "questions" / "env_test.jsonl",
                REPO_ROOT / "eval" / "questions" / "env_train.jsonl")
HELD_OUT = ("env_test2", "env_test3")


def cmd_adapter(args: argparse.Namespace) -> int:
    from .adapter import packaged_path, train
    from .errors import InputError
    from .retrieval import Retriever

    sets = args.set or list(DEFAULT_SETS)
    missing = [str(p) for p in sets if not Path(p).exists()]
    if missing:
        raise InputError(f"Question set(s) not found: {', '.join(missing)}; pass the sets to train on with --set")
    held = sorted({Path(p).stem for p in sets} & set(HELD_OUT))
    if held:
        raise InputError(f"{', '.join(held)}: a held-out set; training on it would leave no honest measure. "
                         "Train on the development and training sets.")
    if args.folds < 2:
        raise InputError("--folds must be at least 2: the fold adapters are what keeps figures on training "
                         "questions honest")
    retriever = Retriever.from_settings(Settings.from_env(index_dir=args.index_dir, adapter="off"))
    vectors, owner, by_set = training_data(retriever, sets)
    questions = [row for rows in by_set.values() for row in rows]
    embedder = retriever.dense.embedder
    params = TrainParams(rank=args.rank, steps=args.steps, folds=args.folds, loss=args.loss)
    started = time.monotonic()
    adapter = train(vectors, owner, questions, embedder.name, params,
                    sources=[Path(p).name for p in sets],
                    progress=lambda f: print(f"  adapter {'full' if f is None else f'fold {f + 1}/{params.folds}'} "
                                             f"trained ({time.monotonic() - started:.0f} s)", file=sys.stderr))
    out = args.out or packaged_path(embedder.name)
    adapter.save(out)
    print(f"query adapter: {adapter.meta['questions']} questions from {len(sets)} set(s), rank {params.rank}, "
          f"{params.folds} folds + full, in {time.monotonic() - started:.0f} s -> {out}")
    return 0


def training_data(retriever, sets: list[Path]) -> tuple[np.ndarray, np.ndarray, dict[str, list]]:
    """The index's chunk vectors, the article of each, and per set its (question, raw vector, article ids) rows."""
    from .errors import InputError
    from .evaluation import load_questions
    from .records import short_title

    if retriever.dense is None or retriever.dense.count() == 0:
        raise InputError("The index has no dense vectors; build it first with: python -m pufa index")
    table = retriever.table
    titles = {law.law_id: short_title(law.title) for law in retriever.catalog.laws()}
    by_label: dict[tuple[str, int, int], list[int]] = {}
    for g, (law_id, num, sub) in enumerate(table.keys):
        by_label.setdefault((titles[law_id], num, sub), []).append(g)
    ids = [c for cids in table.chunk_ids for c in cids]
    owner = np.asarray([g for g, cids in enumerate(table.chunk_ids) for _ in cids])
    stored = retriever.dense.vectors(ids)
    have = np.asarray([c in stored for c in ids])
    if not have.all():
        log.warning("%d of %d chunks have no vector yet; training against the embedded ones", (~have).sum(), len(ids))
    vectors = np.stack([stored[c] for c, h in zip(ids, have) if h])
    embedder = retriever.dense.embedder
    by_set = {}
    for path in sets:
        by_set[Path(path).stem] = [
            (q.question, embedder.embed_query(q.question), sorted({g for key in q.labels for g in by_label.get(key, ())}))
            for q in load_questions(Path(path))]
    return vectors, owner[have], by_set


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("adapter", parents=[common],
                       help="train the query adapter on labelled question sets (needs the dense index)")
    s.add_argument("--set", type=Path, action="append",
                   help="question set (JSONL), repeatable (default: STARD dev, env_dev, env_test, env_train)")
    s.add_argument("--out", type=Path, help="where to write it (default: the packaged file for the embedder)")
    s.add_argument("--rank", type=int, default=TrainParams.rank)
    s.add_argument("--steps", type=int, default=TrainParams.steps)
    s.add_argument("--folds", type=int, default=TrainParams.folds)
    s.add_argument("--loss", choices=("any", "each"), default=TrainParams.loss,
                   help="any: one labelled article on top is enough; each: every labelled article is pulled up")
    s.set_defaults(func=cmd_adapter)
