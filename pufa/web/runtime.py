"""The serving process's index lifecycle: open or build the index, then hand out the assistant.

On a first run (no index) the catalog and lexical index are built in a background thread while the
web server already answers with a "building" state; an existing index is opened before serving and
then checked against the corpus in the background (a changed corpus is rebuilt aside and swapped in,
the old index serving meanwhile). Missing dense vectors are filled by a `DenseFiller` thread.
`rebuild()` (after an upload) builds aside in the background with progress, swaps the new index in
when it is complete and records which articles it added, changed and removed. The assistant is
wrapped in `CuratedAssistant`, so published curated Q&As come first for matching questions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..catalog import Catalog
from ..changes import CatalogChanges
from ..curated import CuratedStore
from ..errors import PufaError
from ..settings import Settings

log = logging.getLogger(__name__)


class AssistantLike(Protocol):
    def stream(self, question: str, persona: str = "enterprise", history=()) -> Any: ...
    def ask(self, question: str, persona: str = "enterprise", history=()) -> Any: ...


@dataclass(frozen=True)
class Services:
    """What the front-ends use once the index is open."""

    catalog: Catalog
    retriever: Any  # pufa.retrieval.Retriever
    assistant: AssistantLike
    manifest: Any  # pufa.manifest.Manifest
    dense: Any = None  # pufa.dense.DenseIndex | None
    directory: Any = None  # the build directory this was opened from (pathlib.Path)


@dataclass
class RebuildStatus:
    """The last rebuild the admin started: state, progress for the page, and what it changed."""

    state: str = "idle"  # idle | running | done | error
    progress: str = ""
    started: str = ""
    finished: str = ""
    seconds: float = 0.0
    reason: str = ""
    reused: bool = False  # the corpus had not changed: nothing was rebuilt
    changes: CatalogChanges | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""


AssistantFactory = Callable[[Any, Catalog, Settings], AssistantLike]


def default_assistant_factory(retriever, catalog: Catalog, settings: Settings) -> AssistantLike:
    """The real Assistant over the already open retriever (as `Assistant.from_settings`, without reopening the index)."""
    from ..assistant import Assistant

    if settings.llm_enabled:
        from ..llm import make_backend
        from ..prompts import load_prompts

        return Assistant(retriever, catalog, make_backend(settings), settings=settings, prompts=load_prompts())
    return Assistant(retriever, catalog, settings=settings)


class Runtime:
    """Holds the open index and its state: "building" → "ok" (or "error" with a message)."""

    def __init__(self, settings: Settings, assistant_factory: AssistantFactory = default_assistant_factory,
                 embedder=None):
        self.settings = settings
        self._factory = assistant_factory
        self._embedder = embedder
        self._services: Services | None = None
        self._lock = threading.Lock()
        self.state = "building"
        self.error = ""
        self.progress = ""  # what the background build is doing, for the UI
        self.filler = None
        self._thread: threading.Thread | None = None
        self.curated = CuratedStore.in_dir(settings.data_dir)  # creates nothing until staff write a Q&A
        self.rebuild_status = RebuildStatus()
        self._rebuild_lock = threading.Lock()
        self._rebuild_thread: threading.Thread | None = None
        self._rebuild_again = False
        self._stopping = threading.Event()

    # ---- state ---------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._services is not None

    @property
    def services(self) -> Services:
        services = self._services
        if services is None:
            raise IndexBuildingError("正在建立索引，请稍候再试（首次启动约需半分钟）。")
        return services

    def health(self) -> dict:
        services = self._services
        doc: dict = {"status": "ok" if services else ("error" if self.state == "error" else "building")}
        if services is not None:
            m = services.manifest
            doc["index"] = {"laws": m.counts.get("laws", 0), "articles": m.counts.get("articles", 0),
                            "built_at": m.built_at}
        else:
            doc["index"] = {"laws": None, "articles": None, "built_at": None}
            if self.progress:
                doc["progress"] = self.progress
        if self.state == "error" and self.error:
            doc["error"] = self.error
        return doc

    def dense_status(self) -> dict:
        services = self._services
        total = services.manifest.counts.get("chunks", 0) if services else 0
        embedded = None
        if services is not None and services.dense is not None:
            try:
                embedded = services.dense.count()
            except Exception:  # the status page must not fail because the store is busy
                embedded = None
        filler = self.filler
        return {"embedded": embedded, "chunks": total,
                "filling": bool(filler and filler.is_alive()),
                "error": getattr(filler, "error", None)}

    # ---- starting ------------------------------------------------------------------------
    def start(self, background: bool = True) -> None:
        """Open the current index now if there is one; build/check the index in the background."""
        from ..indexer import current_build

        if current_build(self.settings.index_dir) is not None:
            try:
                self._open()
            except PufaError as e:  # mismatched index: rebuild in the background, say so meanwhile
                log.warning("current index unusable (%s); rebuilding", e)
        if background:
            self._thread = threading.Thread(target=self._build_and_open, name="pufa-index-build", daemon=True)
            self._thread.start()
        else:
            self._build_and_open()
        if self.settings.index_follow_seconds > 0:
            threading.Thread(target=self._follow, name="pufa-index-follow", daemon=True).start()

    def _follow(self) -> None:
        """Pick up a build another process swapped in (several app processes serve one index)."""
        while not self._stopping.wait(self.settings.index_follow_seconds):
            self.follow_current()

    def follow_current(self) -> bool:
        """Open the build CURRENT names if it is not the one being served. True when it switched."""
        from ..indexer import current_build

        services = self._services
        rebuilding = self._rebuild_thread is not None and self._rebuild_thread.is_alive()
        if services is None or rebuilding or (self._thread is not None and self._thread.is_alive()):
            return False
        build = current_build(self.settings.index_dir)
        if build is None or build.resolve() == Path(services.directory).resolve():
            return False
        try:
            self._open()
        except Exception as e:  # a half-visible or damaged build: keep serving the one we have
            log.warning("could not switch to %s (%s); still serving %s", build.name, e, services.directory)
            return False
        log.info("switched to %s, swapped in by another process", build.name)
        self._restart_filler()
        return True

    def wait_ready(self, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready or self.state == "error":
                return self.ready
            time.sleep(0.1)
        return self.ready

    def stop(self) -> None:
        self._stopping.set()
        if self.filler is not None:
            self.filler.stop_event.set()
            self.filler.join(timeout=10)

    def _embedder_obj(self):
        if self._embedder is None:
            from ..embedders import embedder_for

            s = self.settings
            self._embedder = embedder_for(s)
        return self._embedder

    def _progress(self, stage: str, done: int, total: int) -> None:
        if stage == "read":
            self.progress = f"读取法规库：{done} 部"
            return
        label = {"catalog": "编目", "lexical": "建立检索索引"}.get(stage, stage)
        self.progress = f"{label}：{done}/{total}" if total else label
        if total and (done == total or done % max(1, total // 10) == 0):
            log.info("index %s: %d/%d", stage, done, total)

    def _build_and_open(self) -> None:
        from ..indexer import build_index

        try:
            emb = self._embedder_obj()
            started = time.perf_counter()
            if not self.ready:
                log.info("no usable index in %s: building it (catalog + lexical, about 30 s)", self.settings.index_dir)
            result = build_index(self.settings, emb.name, emb.dim, progress=self._progress)
            if not result.reused:
                log.info("index built in %.1f s: %s", time.perf_counter() - started, result.manifest.counts)
            current = self._services
            if current is None or current.manifest.built_at != result.manifest.built_at or not result.reused:
                self._open(fill=True)
            else:
                self._start_filler()
            self.progress = ""
        except Exception as e:  # reported through health and the UI; a serving index keeps serving
            log.exception("index build failed")
            if not self.ready:
                self.state = "error"
                self.error = f"索引建立失败：{e}"

    def _open(self, fill: bool = False) -> None:
        """Open the current index and serve it. `fill`: start the dense filler on it first, so that whoever sees
        the index served also sees its filler running."""
        from ..indexer import open_index
        from ..retrieval import Retriever

        index = open_index(self.settings, embedder=self._embedder_obj())
        retriever = Retriever.for_index(index, self.settings, serving=True)
        adapter = retriever.adapter
        assistant = self._wrap(self._factory(retriever, index.catalog, self.settings), index)
        services = Services(index.catalog, retriever, assistant, index.manifest, index.dense, index.directory)
        if fill:
            self._start_filler(services)
        with self._lock:
            self._services = services
            self.state = "ok"
        threading.Thread(target=_warm, args=(retriever,), name="pufa-warm", daemon=True).start()
        log.info("serving index %s (%s)%s", index.directory.name, index.manifest.counts,
                 f"; query adapter for {adapter.embedder} ({adapter.meta.get('questions')} questions)" if adapter else "")

    def _wrap(self, assistant: AssistantLike, index) -> AssistantLike:
        from ..curated import term_weight
        from ..curated_assistant import CuratedAssistant

        return CuratedAssistant(assistant, self.curated, index.catalog, index.lexical.tokenizer.tokens,
                                term_weight(index.lexical), max_question_chars=self.settings.max_question_chars)

    # ---- rebuilding after an upload -----------------------------------------------------------
    def rebuild(self, reason: str = "", background: bool = True) -> bool:
        """Rebuild aside and swap in; the old index serves until then.

        A request while a rebuild runs is queued: the running one builds once more when it is done
        (the files it read may predate the new upload). Returns False when it was queued.
        """
        with self._rebuild_lock:
            if self._rebuild_thread is not None and self._rebuild_thread.is_alive():
                self._rebuild_again = True
                self.rebuild_status.reason += f"；{reason}" if reason else ""
                return False
            self.rebuild_status = RebuildStatus(state="running", progress="读取语料", started=_now(), reason=reason)
            self._rebuild_again = False
            if not background:
                self._rebuild()
                return True
            self._rebuild_thread = threading.Thread(target=self._rebuild, name="pufa-index-rebuild", daemon=True)
            self._rebuild_thread.start()
            return True

    def wait_rebuild(self, timeout: float = 120.0) -> bool:
        thread = self._rebuild_thread
        if thread is not None:
            thread.join(timeout)
        return self.rebuild_status.state in ("done", "error", "idle")

    def _rebuild(self) -> None:
        from ..changes import diff_catalogs
        from ..indexer import build_index

        status = self.rebuild_status
        started = time.perf_counter()

        def progress(stage: str, done: int, total: int) -> None:
            label = {"read": "读取语料", "catalog": "编目", "lexical": "建立检索索引"}.get(stage, stage)
            status.progress = f"{label}：{done}/{total}" if total else (f"{label}：{done} 部" if done else label)

        try:
            old = self._services  # what the change list is measured against, even over queued rebuilds
            emb = self._embedder_obj()
            while True:
                result = build_index(self.settings, emb.name, emb.dim, progress=progress)
                current = self._services
                if current is None or current.directory != result.build:
                    status.progress = "切换到新索引"
                    self._open()  # from here on, questions are answered from the new index
                    self._restart_filler()
                with self._rebuild_lock:
                    if not self._rebuild_again:
                        break
                    self._rebuild_again = False
                status.progress = "再次读取语料（期间有新的改动）"
            status.skipped = list(result.report.skipped)
            new = self._services
            status.reused = old is not None and new is not None and old.directory == new.directory
            if old is not None and new is not None and not status.reused:
                status.progress = "比较新旧条文"
                status.changes = diff_catalogs(old.catalog, new.catalog)
            elif status.reused:
                status.changes = CatalogChanges()
            status.state = "done"
            c = status.changes
            log.info("rebuild (%s) done: %s", status.reason or "admin",
                     f"{len(c.added)} added, {len(c.changed)} changed, {len(c.removed)} removed articles"
                     if c is not None else "no previous index")
        except Exception as e:  # reported on the admin page; the serving index keeps serving
            log.exception("rebuild failed")
            status.state = "error"
            status.error = f"{type(e).__name__}: {e}" if not isinstance(e, PufaError) else str(e)
        finally:
            status.seconds = round(time.perf_counter() - started, 1)
            status.finished = _now()
            status.progress = ""

    def _restart_filler(self) -> None:
        """The filler works on one catalog: after a swap, start one on the new catalog's chunks."""
        if self.filler is not None and self.filler.is_alive():
            self.filler.stop_event.set()
            self.filler.join(timeout=30)
        self.filler = None
        self._start_filler()

    def _start_filler(self, services: Services | None = None) -> None:
        from ..indexer import DenseFiller

        services = services or self._services
        if not self.settings.dense_fill or services is None or services.dense is None:
            return
        if self.filler is not None and self.filler.is_alive():
            return
        filler = DenseFiller(services.catalog, services.dense, batch=self.settings.embed_batch)
        filler.start()  # started before it is published: stop() and health() join or ask a running thread
        self.filler = filler


def _warm(retriever) -> None:
    """Work a first question would otherwise wait for, done beside serving; a failure costs only the head start."""
    try:
        retriever.warm()
    except Exception:  # noqa: BLE001 - the same work is done again on demand
        log.exception("warming the retriever failed; questions will do it on demand")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class IndexBuildingError(PufaError):
    """The index is not open yet (first run, still building)."""
