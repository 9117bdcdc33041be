"""The serving process's index lifecycle: open or build the index, then hand out the assistant.

On a first run (no index) the catalog and lexical index are built in a background thread while the
web server already answers with a "building" state; an existing index is opened before serving and
then checked against the corpus in the background (a changed corpus is rebuilt aside and swapped in,
the old index serving meanwhile). Missing dense vectors are filled by a `DenseFiller` thread.
Deliberately left out: uploads and curated Q&A (administration follow-ups).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..catalog import Catalog
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

    def wait_ready(self, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready or self.state == "error":
                return self.ready
            time.sleep(0.1)
        return self.ready

    def stop(self) -> None:
        if self.filler is not None:
            self.filler.stop_event.set()
            self.filler.join(timeout=10)

    def _embedder_obj(self):
        if self._embedder is None:
            from ..embedders import make_embedder

            s = self.settings
            self._embedder = make_embedder(s.embedder, s.embed_threads, s.embed_batch)
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
                self._open()
            self.progress = ""
            self._start_filler()
        except Exception as e:  # reported through health and the UI; a serving index keeps serving
            log.exception("index build failed")
            if not self.ready:
                self.state = "error"
                self.error = f"索引建立失败：{e}"

    def _open(self) -> None:
        from ..indexer import open_index
        from ..retrieval import Retriever

        index = open_index(self.settings, embedder=self._embedder_obj())
        reranker = None
        if self.settings.reranker:
            from ..rerank import CrossEncoderReranker

            reranker = CrossEncoderReranker(self.settings.reranker)
        retriever = Retriever(index.catalog, index.lexical, index.dense, reranker=reranker)
        assistant = self._factory(retriever, index.catalog, self.settings)
        with self._lock:
            self._services = Services(index.catalog, retriever, assistant, index.manifest, index.dense)
            self.state = "ok"
        log.info("serving index %s (%s)", index.directory.name, index.manifest.counts)

    def _start_filler(self) -> None:
        from ..indexer import DenseFiller

        services = self._services
        if not self.settings.dense_fill or services is None or services.dense is None:
            return
        if self.filler is not None and self.filler.is_alive():
            return
        self.filler = DenseFiller(services.catalog, services.dense, batch=self.settings.embed_batch)
        self.filler.start()


class IndexBuildingError(PufaError):
    """The index is not open yet (first run, still building)."""
