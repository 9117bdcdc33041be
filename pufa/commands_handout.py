"""`python -m pufa handout`: draft a training handout on a topic and export it (.md or .docx).

`--json` prints the handout as one JSON document (with `"out"`, the file written, when `--out` is given);
`--list-topics` prints the suggested topics. Exit codes as for every command: 2 for a bad topic,
audience, length or output name, or a topic nothing in the corpus is about; 3 when the index is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .handout import LENGTHS, audiences, suggested_topics
from .settings import Settings


def _emit(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def cmd_handout(args: argparse.Namespace) -> int:
    from .errors import InputError

    if args.list_topics:
        topics = [{"name": t.name, "aliases": list(t.aliases), "queries": list(t.queries)} for t in suggested_topics()]
        if args.json:
            _emit({"topics": topics, "audiences": {k: a.label for k, a in audiences().items()}})
        else:
            print("\n".join(t["name"] for t in topics))
        return 0
    if not args.topic:
        raise InputError("give a topic: --topic 危险废物 (python -m pufa handout --list-topics shows the suggested ones)")
    if args.out is not None and args.out.suffix.lower() not in (".md", ".markdown", ".docx"):
        raise InputError(f"--out must end in .md or .docx, not {args.out.name!r}")
    from .assistant import Assistant
    from .handout import build_handout, resolve_audience, resolve_topic

    resolve_topic(args.topic), resolve_audience(args.audience)  # bad input fails before the index is opened
    from .handout_export import export, to_markdown

    assistant = Assistant.from_settings(Settings.from_env(index_dir=args.index_dir))
    t0 = time.perf_counter()
    handout = build_handout(assistant, args.topic, args.audience, args.length)
    written = export(handout, args.out) if args.out is not None else None
    seconds = time.perf_counter() - t0
    if args.json:
        _emit(handout.to_json() | {"out": str(written) if written else None, "seconds": round(seconds, 2)})
    elif written is None:
        sys.stdout.write(to_markdown(handout))
    else:
        print(f"{handout.title}: {sum(len(s.provisions) for s in handout.sections)} 条重点条文, "
              f"{len(handout.checklist)} 项自查, {len(handout.liabilities)} 行法律责任, {len(handout.quiz)} 道测验题, "
              f"附录 {len(handout.appendix)} 条 → {written} ({seconds:.1f} s)")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("handout", parents=[common], help="draft a cited training handout on a topic (md/docx)")
    s.add_argument("--topic", help="a suggested topic (see --list-topics) or free text, e.g. 危险废物管理")
    s.add_argument("--audience", default="enterprise", help="enterprise (企业负责人) | manager (环保管理人员) | public (公众)")
    s.add_argument("--length", choices=list(LENGTHS), default="standard")
    s.add_argument("--out", type=Path, help="FILE.md or FILE.docx (without it the Markdown goes to stdout)")
    s.add_argument("--list-topics", action="store_true", help="print the suggested topics")
    s.set_defaults(func=cmd_handout)
