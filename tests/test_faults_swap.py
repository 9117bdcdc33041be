"""Rebuild and swap while answering: zero failed requests.

The serving path (pufa/web/runtime.py) holds the objects of one opened build and, after a rebuild,
replaces them with a newly opened set in one assignment; requests read the current set once. This
test runs that pattern with threads: clients that keep asking over the objects they were given
(old builds stay readable after they are swapped out, even once the build directory is pruned),
clients that read the latest swapped-in set, and a process-like opener that opens whatever CURRENT
names — while `build_index` rebuilds a changed corpus and swaps CURRENT twice.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pufa.assistant import Assistant
from pufa.embedders import HashEmbedder
from pufa.indexer import build_index, chunks_to_embed, current_build, open_index
from pufa.retrieval import Retriever
from pufa.settings import Settings

from conftest import make_mini_db, write_config

LAW = "中华人民共和国行政复议法"
QUESTIONS = ("申请行政复议的期限是多少", "行政复议机关应当在多少日内作出决定", "对行政处罚不服可以申请复议吗")


def _change(db: Path, marker: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("UPDATE articles SET article_text = article_text || ? WHERE law_name=? AND article_no_arabic=20",
                 (marker, LAW))
    conn.commit()
    conn.close()


def _services(settings: Settings, emb: HashEmbedder):
    index = open_index(settings, embedder=emb)
    retriever = Retriever(index.catalog, index.lexical, index.dense)
    return index, Assistant(retriever, index.catalog, settings=settings)


def _wait_for_requests(counts: dict[str, int], client: str, n: int, deadline_s: float = 60.0) -> None:
    """Wait until `client` has finished `n` more requests; a loaded machine may take seconds for one."""
    start, until = counts[client], time.monotonic() + deadline_s
    while counts[client] < start + n and time.monotonic() < until:
        time.sleep(0.05)


@pytest.mark.slow  # ~15-25 s: three builds and several opens (each loads the jieba dictionary)
def test_rebuild_and_swap_while_answering_fails_no_request(tmp_path):
    db = make_mini_db(tmp_path / "laws.db", (LAW,))
    settings = Settings(index_dir=tmp_path / "index", corpus_config=write_config(tmp_path, db), embedder="hash")
    emb = HashEmbedder()
    build_index(settings, emb.name, emb.dim)
    first, first_assistant = _services(settings, emb)
    first.dense.fill(chunks_to_embed(first.catalog, first.dense), batch=64)
    baseline = {q: first_assistant.ask(q).answer for q in QUESTIONS}

    current = {"services": (first, first_assistant)}  # what a runtime swaps in one assignment
    stop = threading.Event()
    errors: list[str] = []
    counts = {"held": 0, "latest": 0, "opened": 0}
    seen_markers: set[str] = set()

    def held_client(i: int) -> None:  # keeps the objects it started with: answers never change
        n = 0
        while not stop.is_set():
            q = QUESTIONS[(i + n) % len(QUESTIONS)]
            n += 1
            try:
                answer = first_assistant.ask(q)
                if answer.answer != baseline[q]:
                    errors.append(f"held: answer to {q!r} changed")
                counts["held"] += 1
            except Exception as e:  # noqa: BLE001 - any failure is what the test counts
                errors.append(f"held: {type(e).__name__}: {e}")
            time.sleep(0.05)  # leave the GIL to the build now and then, as real request gaps do

    def latest_client() -> None:  # reads the set swapped in last, once per request
        n = 0
        while not stop.is_set():
            index, assistant = current["services"]
            n += 1
            try:
                answer = assistant.ask(QUESTIONS[n % len(QUESTIONS)])
                if not answer.citations:
                    errors.append("latest: answer without citations")
                text = index.catalog.article("行政复议法", 20).text
                seen_markers.update(m for m in ("修订一", "修订二") if m in text)
                counts["latest"] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(f"latest: {type(e).__name__}: {e}")
            time.sleep(0.05)

    def opener() -> None:  # a process starting now: opens whatever CURRENT names
        while not stop.is_set():
            try:
                index = open_index(settings, embedder=emb, with_dense=False)
                index.catalog.article("行政复议法", 1)
                counts["opened"] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(f"open: {type(e).__name__}: {e}")
            stop.wait(1.0)  # an open loads the jieba dictionary (~1-2 s of CPU); a few are enough

    threads = [threading.Thread(target=held_client, args=(i,)) for i in range(2)]
    threads += [threading.Thread(target=latest_client), threading.Thread(target=opener)]
    for t in threads:
        t.start()
    try:
        builds = [current_build(settings.index_dir)]
        for marker in ("（修订一）", "（修订二）"):
            _change(db, marker)
            result = build_index(settings, emb.name, emb.dim)
            assert not result.reused
            builds.append(result.build)
            current["services"] = _services(settings, emb)  # the swap a runtime makes after its rebuild
            _wait_for_requests(counts, "latest", 2)  # so at least one request began after the swap
        # enough traffic to mean something, however slow the machine (clients keep using the old objects)
        deadline = time.monotonic() + 120
        while (counts["held"] < 20 or counts["latest"] < 10 or counts["opened"] < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)

    assert not errors, errors[:5]
    assert counts["held"] >= 20 and counts["latest"] >= 10 and counts["opened"] >= 2, counts
    assert "修订二" in seen_markers
    # Only the serving build and the one before it are kept; the first build is gone from disk,
    # and the clients holding it answered throughout.
    assert not builds[0].exists() and builds[-2].exists() and current_build(settings.index_dir) == builds[-1]
    assert first_assistant.ask(QUESTIONS[0]).answer == baseline[QUESTIONS[0]]
