"""Index faults: missing, damaged or foreign index directories, and a full disk while building.

What must hold: a clear error that names the command that fixes it (never a raw traceback from
sqlite/numpy/json, never silently wrong answers), a damaged build replaced by the next build, and a
failed build (disk full at any write) leaving the previous index serving. Each test copies one small
prebuilt index (行政复议法 only) into its own temp dir; the jieba dictionary load (~2 s) is what costs.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from pufa.embedders import HashEmbedder
from pufa.errors import IndexMismatchError, IndexMissingError
from pufa.indexer import build_index, current_build, open_index, verify_build
from pufa.manifest import Manifest
from pufa.settings import Settings

from conftest import make_mini_db, write_config

LAW = "中华人民共和国行政复议法"
QUESTION = "申请行政复议的期限是多少"


@pytest.fixture(scope="module")
def small_index(tmp_path_factory) -> Path:
    """A built index (catalog + lexical) over one law; tests copy it, never change it."""
    root = tmp_path_factory.mktemp("faults")
    db = make_mini_db(root / "laws.db", (LAW,))
    emb = HashEmbedder()
    build_index(Settings(index_dir=root / "index", corpus_config=write_config(root, db), embedder="hash"),
                emb.name, emb.dim)
    return root


@pytest.fixture(scope="module")
def serving(small_index):
    """An assistant over the small index as a serving process holds it (opened once)."""
    from pufa.assistant import Assistant
    from pufa.retrieval import Retriever

    settings = Settings(index_dir=small_index / "index", embedder="hash")
    index = open_index(settings, embedder=HashEmbedder(), with_dense=False)
    assistant = Assistant(Retriever(index.catalog, index.lexical, None), index.catalog, settings=settings)
    return assistant, assistant.ask(QUESTION)


def _copy(small_index: Path, tmp_path: Path) -> Settings:
    shutil.copytree(small_index, tmp_path / "root")
    root = tmp_path / "root"
    return Settings(index_dir=root / "index", corpus_config=write_config(root, root / "laws.db"), embedder="hash")


def _change_corpus(settings: Settings, marker: str) -> None:
    conn = sqlite3.connect(settings.corpus_config.parent / "laws.db")
    conn.execute("UPDATE articles SET article_text = article_text || ? WHERE law_name=? AND article_no_arabic=20",
                 (marker, LAW))
    conn.commit()
    conn.close()


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(bytes((b * 7 + 13) % 256 for b in data))
    elif how == "flip":  # one byte changed, size kept: only the checksum can tell
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:])
    else:
        path.unlink()


# ---- missing and foreign ------------------------------------------------------------------------

def test_missing_index_dir_says_how_to_build(tmp_path, capsys):
    from pufa.cli import main

    with pytest.raises(IndexMissingError, match=r"python -m pufa index"):
        open_index(Settings(index_dir=tmp_path / "nowhere", embedder="hash"), embedder=HashEmbedder())
    assert main(["article", "行政复议法", "1", "--index-dir", str(tmp_path / "nowhere")]) == 3
    assert "python -m pufa index" in capsys.readouterr().err


def test_current_naming_a_removed_build_is_missing_not_a_crash(small_index, tmp_path):
    settings = _copy(small_index, tmp_path)
    (settings.index_dir / "CURRENT").write_text("20990101T000000-1", encoding="utf-8")
    with pytest.raises(IndexMissingError, match=r"python -m pufa index"):
        open_index(settings, embedder=HashEmbedder())


def test_index_from_another_embedder_names_the_fix(small_index, tmp_path):
    settings = _copy(small_index, tmp_path)
    other = HashEmbedder(dim=128)
    with pytest.raises(IndexMismatchError, match=r"embedder .*python -m pufa index") as err:
        open_index(settings, embedder=other)
    assert other.name in str(err.value)
    # The fixing command: the catalog and lexical index are kept, the manifest names the new embedder.
    result = build_index(settings, other.name, other.dim)
    assert result.reused and result.manifest.embedder == other.name
    assert Manifest.read(current_build(settings.index_dir) / "manifest.json").embedder == other.name


# ---- damaged files ------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["catalog.sqlite", "lexical/pufa_ids.json", "lexical/data.csc.index.npy",
                                 "lexical/vocab.index.json"])
@pytest.mark.parametrize("how", ["truncate", "garbage", "flip", "delete"])
def test_damaged_build_is_a_clear_error(small_index, tmp_path, rel, how):
    settings = _copy(small_index, tmp_path)
    _damage(current_build(settings.index_dir) / rel, how)
    with pytest.raises(IndexMismatchError, match=rf"{rel}.*python -m pufa index"):
        open_index(settings, embedder=HashEmbedder())


@pytest.mark.parametrize("rel", ["catalog.sqlite", "lexical/pufa_ids.json", "lexical/data.csc.index.npy",
                                 "lexical/params.index.json"])
def test_damage_in_a_build_without_checksums_is_still_a_clear_error(small_index, tmp_path, rel):
    """Indexes built before checksums were recorded: the load error is wrapped, with the fix."""
    settings = _copy(small_index, tmp_path)
    build = current_build(settings.index_dir)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("files")
    (build / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    _damage(build / rel, "truncate")
    with pytest.raises(IndexMismatchError, match=r"cannot be read.*python -m pufa index"):
        open_index(settings, embedder=HashEmbedder())


def test_unreadable_manifest_is_a_clear_error(small_index, tmp_path):
    settings = _copy(small_index, tmp_path)
    _damage(current_build(settings.index_dir) / "manifest.json", "truncate")
    with pytest.raises(IndexMismatchError, match=r"manifest.*python -m pufa index"):
        open_index(settings, embedder=HashEmbedder())


def test_next_build_replaces_a_damaged_one_and_the_app_recovers(small_index, tmp_path):
    """`python -m pufa index` (not only --rebuild) replaces a damaged build; the app's runtime does it by itself."""
    from pufa.web.runtime import Runtime

    settings = _copy(small_index, tmp_path)
    damaged = current_build(settings.index_dir)
    _damage(damaged / "catalog.sqlite", "flip")
    runtime = Runtime(settings.with_(dense_fill=0), embedder=HashEmbedder())
    runtime.start(background=False)  # the open fails, the background step rebuilds and opens
    assert runtime.ready and runtime.state == "ok"
    assert current_build(settings.index_dir) != damaged
    answer = runtime.services.assistant.ask(QUESTION)
    assert not answer.refused and any(c.article.law_short == "行政复议法" for c in answer.citations)


# ---- disk full while building -------------------------------------------------------------------

class _FullFile:
    """A file object whose writes fail with ENOSPC after half of the first write (a disk filling up)."""

    def __init__(self, f, name: str):
        self._f = f
        self._name = name

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()
        return False

    def __getattr__(self, name):
        return getattr(self._f, name)


def _disk_full_at(monkeypatch, root: Path, file_name: str) -> list[str]:
    """Every file opened for writing under `root` whose name is `file_name` fails with ENOSPC."""
    real_open = io.open
    hit: list[str] = []

    def fake_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            path = Path(os.fspath(file))
            if path.name == file_name and str(root) in str(path.resolve()):
                hit.append(str(path))
                return _FullFile(f, str(path))
        return f

    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr("io.open", fake_open)
    return hit


def _sqlite_full(monkeypatch) -> list[str]:
    from pufa.catalog import Catalog

    hit: list[str] = []

    def full(self):
        hit.append("catalog.sqlite")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Catalog, "commit", full)
    return hit


@pytest.mark.parametrize("where", ["catalog.sqlite", "data.csc.index.npy", "pufa_ids.json", "manifest.json",
                                   "CURRENT.tmp"])
def test_disk_full_while_building_keeps_the_previous_index_serving(small_index, serving, tmp_path, monkeypatch,
                                                                   where):
    from pufa.catalog import Catalog

    settings = _copy(small_index, tmp_path)
    emb = HashEmbedder()
    good = current_build(settings.index_dir)
    good_manifest = Manifest.read(good / "manifest.json")
    assistant, before = serving

    _change_corpus(settings, "（磁盘已满测试）")
    with monkeypatch.context() as m:
        hit = _sqlite_full(m) if where == "catalog.sqlite" else _disk_full_at(m, settings.index_dir, where)
        with pytest.raises((OSError, sqlite3.OperationalError)) as err:
            build_index(settings, emb.name, emb.dim)
        assert hit, f"the build never wrote {where}"
    assert "disk" in str(err.value) or err.value.errno == errno.ENOSPC

    assert (settings.index_dir / "CURRENT").read_text(encoding="utf-8").strip() == good.name
    assert current_build(settings.index_dir) == good
    verify_build(good, good_manifest)  # not a byte of the serving build changed
    assert not list((settings.index_dir / "builds").glob(".tmp-*"))
    assert assistant.ask(QUESTION).answer == before.answer  # the open index keeps answering the same

    if where != "CURRENT.tmp":
        return
    # Space again: the next build swaps in the changed corpus and removes the build that was never swapped in.
    assert len(list((settings.index_dir / "builds").iterdir())) == 2
    result = build_index(settings, emb.name, emb.dim)
    assert not result.reused and current_build(settings.index_dir) == result.build
    assert {p.name for p in (settings.index_dir / "builds").iterdir()} == {good.name, result.build.name}
    verify_build(result.build, result.manifest)
    assert "磁盘已满测试" in Catalog.open(result.build / "catalog.sqlite").article("行政复议法", 20).text
