"""What the retrieval benches share: `--set` (repeatable) and `--index-dir`, and a retriever on the full index."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pufa.retrieval import Retriever  # noqa: E402
from pufa.settings import Settings, apply_offline_defaults  # noqa: E402


def parse_args(ap: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    ap = ap or argparse.ArgumentParser()
    ap.add_argument("--set", type=Path, action="append", required=True, help="a question set (repeatable)")
    ap.add_argument("--index-dir", type=Path)
    return ap.parse_args()


def dense_retriever(args: argparse.Namespace) -> Retriever:
    """The retriever of the index in --index-dir (default settings otherwise); exits if it has no dense leg."""
    apply_offline_defaults()
    retriever = Retriever.from_settings(Settings.from_env(index_dir=args.index_dir))
    if retriever.dense is None:
        raise SystemExit("this bench needs the dense index: python -m pufa index")
    return retriever
