"""`python -m pufa map 大气污染防治法 99`: a repealed article and its counterpart(s) in force.

The mapping is the one stored in the catalog at index time (pufa.mapping); this command only reads it.
`--check FILE` measures the stored mapping against a hand-checked sample instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .catalog import Catalog
from .errors import IndexMismatchError, IndexMissingError, NotFoundError
from .records import STATUS_REPEALED
from .settings import REPO_ROOT, Settings

DEFAULT_CHECKED = REPO_ROOT / "eval" / "questions" / "counterparts_checked.tsv"


def _emit(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _open_catalog(args: argparse.Namespace) -> Catalog:
    """The catalog of the build in service; only the catalog (no lexical or dense index) is needed here."""
    from .indexer import current_build

    settings = Settings.from_env(index_dir=args.index_dir)
    build = current_build(settings.index_dir)
    if build is None:
        raise IndexMissingError(f"No index in {settings.index_dir}. Build it with: python -m pufa index"
                                " (or set PUFA_INDEX_DIR / --index-dir to where it is)")
    catalog = Catalog.open(build / "catalog.sqlite")
    if not catalog.has_counterparts():
        raise IndexMismatchError("This index was built before the repealed-article mapping existed. "
                                 "Rebuild it with: python -m pufa index (vectors already computed are reused).")
    return catalog


def map_article(catalog: Catalog, law: str, number: str) -> dict:
    """The JSON document of `pufa map`: the article, whether and by what it is repealed, its counterparts."""
    from .mapping import repealers

    article = catalog.article(law, number)
    doc: dict = {"article": article.to_json(), "repealed": article.status == STATUS_REPEALED,
                 "repealed_by": None, "counterparts": [], "note": None}
    if not doc["repealed"]:
        doc["note"] = f"《{article.law_short}》的状态是“{article.status or '未知'}”，不是已废止的法律，无需查找对应条文。"
        return doc
    by = repealers(catalog).get(article.law_id)
    if by is None:
        doc["note"] = f"《{article.law_short}》已废止，但语料中没有废止它的现行法律，无法给出对应条文。"
        return doc
    repealer, repealing_article = by
    doc["repealed_by"] = {"law": repealer.title, "law_short": repealer.short,
                          "article_num": repealing_article.num, "article_no": repealing_article.article_no}
    doc["counterparts"] = [a.to_json() | {"confidence": round(conf, 4), "method": method}
                           for a, conf, method in catalog.counterparts_of(article)]
    if not doc["counterparts"]:
        doc["note"] = (f"没有找到可信的对应条文（例如施行日期条款）。请直接查阅《{repealer.short}》。")
    return doc


def _print_human(doc: dict) -> None:
    a = doc["article"]
    by = doc["repealed_by"]
    print(f"《{a['law_short']}》{a['article_no']} [{a['status'] or '状态未知'}]"
          + (f"  由《{by['law_short']}》{by['article_no']}废止" if by else ""))
    print(a["text"])
    print()
    if doc["counterparts"]:
        print("现行有效的对应条文：")
        for i, c in enumerate(doc["counterparts"], 1):
            print(f"{i}. 《{c['law_short']}》{c['article_no']} [{c['status']}] 置信度 {c['confidence']:.2f}（{c['method']}）")
            if c["chapter"]:
                print(f"   {c['chapter']}")
            for line in c["text"].split("\n"):
                print(f"   {line}")
    if doc["note"]:
        print(doc["note"])


def cmd_map(args: argparse.Namespace) -> int:
    catalog = _open_catalog(args)
    if args.check:
        return _check(args, catalog)
    if not args.law or not args.number:
        raise NotFoundError("请给出法律名称和条号，例如：python -m pufa map 大气污染防治法 99")
    doc = map_article(catalog, args.law, " ".join(args.number))
    if args.json:
        _emit(doc)
    else:
        _print_human(doc)
    return 0


def _check(args: argparse.Namespace, catalog: Catalog) -> int:
    from .mapping_check import load_checked, score_mapping

    path = Path(args.check) if args.check != "default" else DEFAULT_CHECKED
    rows = load_checked(path)

    def predict(row) -> list[int]:
        return [a.num for a, _, _ in catalog.counterparts_of(catalog.article(row.law, row.num))]

    result = score_mapping(rows, predict) | {"sample": str(path)}
    if args.json:
        _emit(result)
    else:
        print(f"{path.name}: {len(rows)} rows from {result['laws']} laws; with a counterpart n={result['n']} "
              f"top-1={result['top1']:.3f} any-of-top-3={result['any_top3']:.3f} "
              f"(listed counterparts: precision={result['precision']:.3f} recall={result['recall']:.3f}); "
              f"no counterpart: {result['none_correct']:.3f} of {result['none_n']} left without one")
        for m in result["misses"]:
            print(f"  miss: {m['law']} {m['num']} expected {m['expected'] or '-'} got {m['predicted'] or '-'}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("map", parents=[common], help="a repealed article and its counterpart(s) in force")
    s.add_argument("law", nargs="?", help="law name, short name or alias (大气污染防治法, 大气法 ...)")
    s.add_argument("number", nargs="*", help="99, 九十九, 第九十九条")
    s.add_argument("--check", nargs="?", const="default", metavar="FILE",
                   help=f"measure the stored mapping on a hand-checked sample (default {DEFAULT_CHECKED.name})")
    s.set_defaults(func=cmd_map)
