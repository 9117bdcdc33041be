"""The dense index against a Chroma server (`chroma run`, shipped with the chromadb package).

`PUFA_DENSE_STORE=http://127.0.0.1:PORT` selects it. A server is started on loopback in a temp dir
(free port, wait for the heartbeat, terminate afterwards); a small corpus is indexed into it with the
hash embedder; retrieval is checked against a brute-force cosine oracle and against the embedded
store (same hits, same answers). Also: a server that is not there is a ConfigError naming the fix,
and a server that goes away mid-service degrades answers to the lexical leg instead of failing them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pufa.dense import DenseIndex
from pufa.embedders import HashEmbedder
from pufa.errors import ConfigError
from pufa.indexer import build_index, chunks_to_embed, open_index
from pufa.retrieval import Retriever
from pufa.settings import Settings

from conftest import make_mini_db, write_config

pytestmark = pytest.mark.chroma_server

LAWS = ("中华人民共和国行政复议法", "中华人民共和国行政处罚法")
QUESTIONS = ("申请行政复议的期限", "行政处罚听证", "当事人有权进行陈述和申辩", "复议机关作出决定的期限",
             "没收违法所得", "首次违法且危害后果轻微的不予处罚")


def _chroma_cli() -> str:
    beside = Path(sys.executable).parent / "chroma"  # the venv's script, also in CI's fresh venv
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        pytest.fail("the `chroma` command (from the chromadb package) is not installed: pip install -r requirements.txt")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    """`chroma run` on loopback; started and stopped by the test, its data in a temp dir."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.log = directory / "chroma.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ChromaServer:
        for _ in range(3):  # another process may take the free port before the server binds it
            self.port = _free_port()
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    [_chroma_cli(), "run", "--path", str(self.directory / "db"), "--host", "127.0.0.1",
                     "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as r:
                        if r.status == 200:
                            return self
                except OSError:
                    time.sleep(0.2)
            self.stop()
        pytest.fail(f"chroma run did not come up; log:\n{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ChromaServer(tmp_path_factory.mktemp("chroma")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def indexed(server, tmp_path_factory):
    """A small index whose vectors live in the server, selected through the environment as in deployment."""
    root = tmp_path_factory.mktemp("chroma-index")
    db = make_mini_db(root / "laws.db", LAWS)
    settings = Settings.from_env({"PUFA_DENSE_STORE": server.url, "PUFA_EMBEDDER": "hash",
                                  "PUFA_INDEX_DIR": str(root / "index"),
                                  "PUFA_CORPUS_CONFIG": str(write_config(root, db))})
    emb = HashEmbedder()
    build_index(settings, emb.name, emb.dim)
    index = open_index(settings, embedder=emb)
    filled = index.dense.fill(chunks_to_embed(index.catalog, index.dense), batch=64)
    return settings, index, filled


def test_settings_select_the_server_and_vectors_live_there(indexed, server):
    settings, index, filled = indexed
    assert settings.dense_store == server.url
    assert filled > 100 and index.dense.count() == filled
    assert not (settings.index_dir / "dense").exists()  # nothing embedded on the app's disk
    # a second client (another app process) sees the same vectors, and nothing is missing
    other = DenseIndex(HashEmbedder(), settings.dense_store, settings.index_dir / "dense")
    assert other.count() == filled and chunks_to_embed(index.catalog, other) == []


def test_server_topk_equals_brute_force_cosine(indexed):
    _, index, _ = indexed
    emb = index.dense.embedder
    chunks = list({c.chunk_id: c for c in index.catalog.iter_chunks()}.values())
    matrix = emb.embed_passages([c.text for c in chunks])
    for question in QUESTIONS:
        q = emb.embed_query(question)
        sims = matrix @ q
        brute = [chunks[i].chunk_id for i in np.argsort(-sims)[:10]]
        got = index.dense.query(question, k=10)
        assert len({cid for cid, _ in got} & set(brute)) >= 9, (question, got, brute)
        best = {c.chunk_id: float(s) for c, s in zip(chunks, sims)}
        for cid, sim in got:
            assert abs(sim - best[cid]) < 1e-4


def test_retriever_and_answers_match_the_embedded_store(indexed, tmp_path):
    from pufa.assistant import Assistant

    settings, index, _ = indexed
    embedded = DenseIndex(HashEmbedder(), "embedded", tmp_path / "dense")
    embedded.fill(chunks_to_embed(index.catalog, embedded), batch=64)
    via_server = Retriever(index.catalog, index.lexical, index.dense)
    via_embedded = Retriever(index.catalog, index.lexical, embedded)
    for question in QUESTIONS:
        a, b = via_server.search(question, k=8), via_embedded.search(question, k=8)
        assert [h.article.key for h in a] == [h.article.key for h in b], question
        # Two HNSW graphs (one built by the server) may each return a slightly different approximate
        # top-k; that can move the candidate pool's normalisation a little, never the ranking here.
        assert all(abs(x.score - y.score) < 0.01 for x, y in zip(a, b)), question
        assert "dense" in {leg for h in via_server.search(question, k=8) for leg in h.legs}
    ask_server = Assistant(via_server, index.catalog, settings=settings)
    ask_embedded = Assistant(via_embedded, index.catalog, settings=settings)
    for question in QUESTIONS[:3]:
        assert ask_server.ask(question).answer == ask_embedded.ask(question).answer


def test_unreachable_server_is_a_config_error_naming_the_fix(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ConfigError, match=r"chroma run .*PUFA_DENSE_STORE=embedded"):
        DenseIndex(HashEmbedder(), url, tmp_path / "dense")


def test_server_going_away_degrades_to_lexical_answers(indexed, server):
    """Last in the file: it stops the module's server (the fixture's stop is then a no-op)."""
    from pufa.assistant import Assistant

    settings, index, _ = indexed
    assistant = Assistant(Retriever(index.catalog, index.lexical, index.dense), index.catalog, settings=settings)
    assert not assistant.ask(QUESTIONS[0]).refused
    server.stop()
    answer = assistant.ask(QUESTIONS[0])  # the server is gone: lexical leg only, still a cited answer
    assert not answer.refused and answer.citations
