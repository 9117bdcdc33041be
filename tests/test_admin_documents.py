"""Uploads: validation, MANIFEST metadata, background rebuild with the old index serving, the change list."""

from __future__ import annotations

import io
import threading
import zipfile

import pytest

from fake_assistant import FakeAssistant
from pufa.embedders import HashEmbedder
from pufa.feedback import FeedbackStore
from pufa.settings import Settings
from pufa.sources import FolderSource, SourceReport
from pufa.uploads import DocumentFolder, UploadError, clean_meta, safe_name, upload_folder
from pufa.web.chat import ChatHandlers
from pufa.web.runtime import Runtime

from conftest import make_mini_db, write_config

SEED = """# 青川市餐饮油烟管理办法

第一条 为了减少餐饮油烟对居民生活的影响，制定本办法。

第二条 餐饮服务经营者应当安装油烟净化设施，并保持正常使用。
"""
NEW = """# 青川市露天烧烤管理规定

第一条 城区主干道两侧禁止露天烧烤。

第二条 违反前条规定露天烧烤的，由城市管理部门没收烧烤工具，处二千元以上二万元以下的罚款。
"""


def gbk_text() -> bytes:
    return "第一条 本办法适用于全市。".encode("gbk")


def broken_docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<not really a docx>")
    return buf.getvalue()


# ---- validation (no index needed) ------------------------------------------------------------

@pytest.mark.parametrize("name, message", [
    ("../../etc/passwd.md", "路径"),
    ("sub/dir.md", "路径"),
    ("..\\..\\win.txt", "路径"),
    ("..", "路径"),
    (".hidden.md", "开头"),
    ("report.exe", "不支持 .exe"),
    ("old.doc", "另存为 .docx"),
    ("noext", "扩展名"),
    ("", "请选择"),
    ("MANIFEST.md", "换一个文件名"),
    ("???.md", "没有可用的字符"),
])
def test_unsafe_or_unsupported_names_are_refused(name, message):
    with pytest.raises(UploadError) as e:
        safe_name(name)
    assert message in str(e.value)


@pytest.mark.parametrize("name, expected", [
    ("青川市条例.md", "青川市条例.md"), ("Rules 2024.PDF", "Rules_2024.pdf"), ("a<b>c.txt", "a_b_c.txt"),
    ("法规（2024年修订）.docx", "法规（2024年修订）.docx"),
])
def test_safe_names(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize("data, name, message", [
    (b"x" * 2000, "big.md", "文件太大"),
    (b"", "empty.md", "空文件"),
    (broken_docx(), "broken.docx", "Word 文件“broken.docx”"),
    (b"not a zip at all", "fake.docx", "另存为 .docx"),
    (gbk_text(), "gbk.txt", "UTF-8"),
    (b"%PDF-1.4 garbage", "bad.pdf", "PDF"),
])
def test_bad_content_is_refused_before_anything_is_written(tmp_path, data, name, message):
    folder = DocumentFolder(tmp_path / "docs", max_bytes=1000)
    with pytest.raises(UploadError) as e:
        folder.save(name, data, {})
    assert message in str(e.value)
    assert not (tmp_path / "docs").exists() or not any((tmp_path / "docs").iterdir())


@pytest.mark.parametrize("meta, message", [
    ({"effective": "2025/1/1"}, "施行日期"), ({"status": "有效吧"}, "效力状态"),
])
def test_bad_metadata_is_refused(meta, message):
    with pytest.raises(UploadError) as e:
        clean_meta(meta)
    assert message in str(e.value)


def test_metadata_reaches_folder_source_through_manifest(tmp_path):
    folder = DocumentFolder(tmp_path / "docs")
    folder.save("油烟.md", SEED.encode(), {"level": "地方政府规章", "issuer": "青川市人民政府", "region": "青川市",
                                          "effective": "2025-03-01", "status": "现行有效", "title": "x\ty"})
    folder.save("二.md", NEW.encode(), {"level": "地方性法规"})
    name, replaced = folder.save("油烟.md", SEED.encode(), {"level": "地方政府规章", "region": "青川市"})
    assert replaced
    docs = {d.meta.title: d.meta for d in FolderSource(tmp_path / "docs").documents(SourceReport())}
    meta = docs["x y"] if "x y" in docs else docs["青川市餐饮油烟管理办法"]
    assert meta.level == "地方政府规章" and meta.region == "青川市" and meta.issuer == ""  # replaced row
    assert docs["青川市露天烧烤管理规定"].level == "地方性法规"
    folder.delete("二.md")
    assert [d.name for d in folder.documents()] == ["油烟.md"]
    with pytest.raises(UploadError):
        folder.delete("../sources.toml")


def test_upload_folder_is_the_first_folder_source(tmp_path):
    config = write_config(tmp_path, None, [tmp_path / "a", tmp_path / "b"])
    assert upload_folder(config) == (tmp_path / "a").resolve()
    config.write_text('[[source]]\ntype = "law_database"\n', encoding="utf-8")
    with pytest.raises(Exception) as e:
        upload_folder(config)
    assert "没有文件夹来源" in str(e.value)


# ---- the whole flow through the admin pages -------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A tiny corpus (one law from the database + a folder) served by a Runtime, and a signed-in client."""
    from fastapi.testclient import TestClient

    from pufa.web.server import create_app

    root = tmp_path_factory.mktemp("upload-site")
    db = make_mini_db(root / "laws.db", ("中华人民共和国行政复议法",))
    docs = root / "documents"
    docs.mkdir()
    (docs / "油烟.md").write_text(SEED, encoding="utf-8")
    settings = Settings(index_dir=root / "index", corpus_config=write_config(root, db, [docs]), embedder="hash",
                        dense_fill=0, data_dir=root / "data", admin_token="t0ken")
    rt = Runtime(settings, lambda r, c, s: FakeAssistant(r, c, settings=s), embedder=HashEmbedder())
    rt.start(background=False)
    assert rt.ready
    store = FeedbackStore.in_dir(settings.data_dir)
    with TestClient(create_app(settings, rt, store)) as client:
        assert client.post("/admin/login", data={"token": "t0ken", "name": "李四"}).status_code == 200
        client.runtime, client.docs = rt, docs
        yield client


def found(rt: Runtime, text: str) -> bool:
    return any("露天烧烤" in h.article.law for h in rt.services.retriever.search(text, k=5))


def test_upload_rebuilds_in_background_while_the_old_index_answers(site, monkeypatch):
    import pufa.indexer

    rt = site.runtime
    real = pufa.indexer.build_index
    at_lexical, release = threading.Event(), threading.Event()

    def gated(settings, name, dim, force=False, progress=None):
        def hold(stage, done, total):
            if progress:
                progress(stage, done, total)
            if stage == "lexical" and done == 0:
                at_lexical.set()
                assert release.wait(60)
        return real(settings, name, dim, force, hold)

    monkeypatch.setattr(pufa.indexer, "build_index", gated)
    old_build = rt.services.directory
    r = site.post("/admin/documents", files={"file": ("露天烧烤.md", NEW.encode(), "text/markdown")},
                  data={"level": "地方性法规", "region": "青川市", "effective": "2025-05-01"}, follow_redirects=False)
    assert r.status_code == 303
    assert at_lexical.wait(60)
    # mid-build: the page says so, and questions are answered from the old index
    page = site.get("/admin/documents")
    assert "正在后台更新索引" in page.text and 'http-equiv="refresh"' in page.text
    assert site.get("/admin/documents/status.json").json()["state"] == "running"
    assert rt.services.directory == old_build and not found(rt, "露天烧烤罚款")
    handlers = ChatHandlers(rt, FeedbackStore.in_dir(rt.settings.data_dir), rt.settings)
    *_, (messages, conv, _, _) = handlers.respond("餐饮油烟净化设施", "enterprise", [], [])
    assert "油烟" in messages[-1]["content"] and conv[0]["answer"]
    release.set()
    assert rt.wait_rebuild(60)
    status = site.get("/admin/documents/status.json").json()
    assert status["state"] == "done", status
    assert "《青川市露天烧烤管理规定》第一条" in status["changes"]["added"]
    assert status["changes"]["changed"] == [] and status["changes"]["removed"] == []
    assert rt.services.directory != old_build and found(rt, "露天烧烤罚款")
    page = site.get("/admin/documents")
    assert "新增条文（2）" in page.text and "青川市露天烧烤管理规定" in page.text
    assert "地方性法规" in (site.docs / "MANIFEST.tsv").read_text(encoding="utf-8")
    law = rt.services.catalog.resolve_law("青川市露天烧烤管理规定")
    assert law.level == "地方性法规" and law.effective == "2025-05-01"


def test_broken_upload_is_refused_and_a_bad_file_in_the_folder_is_skipped(site):
    rt = site.runtime
    r = site.post("/admin/documents", files={"file": ("坏.docx", broken_docx(), "application/octet-stream")})
    assert r.status_code == 400 and "无法读取 Word 文件" in r.text
    assert not (site.docs / "坏.docx").exists()
    r = site.post("/admin/documents", files={"file": ("../../evil.md", NEW.encode(), "text/markdown")})
    assert r.status_code == 400 and "路径" in r.text
    # a broken file copied into the folder by hand: skipped and named, everything else still indexed
    (site.docs / "手工.docx").write_bytes(broken_docx())
    (site.docs / "油烟.md").write_text(SEED.replace("保持正常使用", "保持正常使用，定期清洗"), encoding="utf-8")
    assert site.post("/admin/reindex", follow_redirects=False).status_code == 303
    assert rt.wait_rebuild(60)
    status = rt.rebuild_status
    assert status.state == "done" and any("手工.docx" in f for f, _ in status.skipped)
    assert [c.citation() for c in status.changes.changed] == ["《青川市餐饮油烟管理办法》第二条"]
    assert "定期清洗" in rt.services.catalog.article("青川市餐饮油烟管理办法", 2).text
    assert "已跳过" in site.get("/admin/documents").text
    (site.docs / "手工.docx").unlink()


def test_delete_lists_the_removed_articles(site):
    rt = site.runtime
    r = site.post("/admin/documents/delete", data={"name": "露天烧烤.md"}, follow_redirects=False)
    assert r.status_code == 303
    assert rt.wait_rebuild(60)
    changes = rt.rebuild_status.changes
    assert [c.citation() for c in changes.removed] == ["《青川市露天烧烤管理规定》第一条", "《青川市露天烧烤管理规定》第二条"]
    assert changes.laws_removed == ("青川市露天烧烤管理规定",)
    assert "删除条文（2）" in site.get("/admin/documents").text


def test_admin_changes_need_the_token(site):
    from fastapi.testclient import TestClient

    with TestClient(site.app) as anonymous:
        assert anonymous.get("/admin/documents").status_code == 401
        assert anonymous.get("/admin/documents/status.json").status_code == 403
        r = anonymous.post("/admin/documents", files={"file": ("x.md", NEW.encode(), "text/markdown")})
        assert r.status_code == 403 and "未登录" in r.text
        assert anonymous.post("/admin/documents/delete", data={"name": "油烟.md"}).status_code == 403
        assert anonymous.post("/admin/reindex").status_code == 403
        assert anonymous.post("/admin/qa", data={"question": "q", "answer": "a"}).status_code == 403
        assert anonymous.post("/admin/qa/1/publish").status_code == 403
    assert (site.docs / "油烟.md").exists()


def test_admin_off_means_404_everywhere(site):
    from fastapi.testclient import TestClient

    from pufa.web.server import create_app

    rt = site.runtime
    with TestClient(create_app(rt.settings.with_(admin_token=""), rt, FeedbackStore.in_dir(rt.settings.data_dir))) as c:
        for method, url in (("get", "/admin/documents"), ("post", "/admin/reindex"), ("get", "/admin/qa"),
                            ("post", "/admin/qa/1/publish"), ("get", "/admin/documents/status.json")):
            assert getattr(c, method)(url).status_code == 404, url
