"""Documents staff upload through the admin pages, written into the corpus folder the index reads.

Uploads go into the first `folder` source of the corpus configuration (by default
`corpus/documents/`, declared in corpus/sources.toml), so `python -m pufa index` and the app's
background rebuild see exactly the same files. Metadata (title, level, issuer, region, dates,
status) is written to the folder's `MANIFEST.tsv`, the file `FolderSource` reads.

Every upload is checked before anything is written: extension (md/txt/docx/pdf), size, a safe
file name (no directories, no traversal, no hidden files) and that the text can be extracted — a
broken .docx is refused with a message, so it never reaches the corpus. Messages are in Chinese,
for staff. Deliberately left out: virus scanning and versioning of replaced files.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import re
import tempfile
import threading
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, InputError, PufaError

ALLOWED = (".md", ".txt", ".docx", ".pdf")
MAX_BYTES = 20 * 1024 * 1024
MAX_NAME = 120
META_FIELDS = ("title", "level", "issuer", "region", "effective", "promulgated", "status")
META_LABELS = {"title": "标题", "level": "效力级别", "issuer": "制定机关", "region": "适用地区",
               "effective": "施行日期", "promulgated": "公布日期", "status": "效力状态"}
LEVELS = ("法律", "行政法规", "部门规章", "地方性法规", "地方政府规章", "规范性文件", "国家标准", "工作指南", "其他")
STATUSES = ("现行有效", "尚未生效", "已被修改", "已废止")
MANIFEST_COLUMNS = ("file",) + META_FIELDS
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UNSAFE = re.compile(r"[^\w\u4e00-\u9fff().（）《》〈〉【】\-—、·]+")


class UploadError(InputError):
    """An upload refused before anything was written (message in Chinese, for staff)."""


@dataclass(frozen=True)
class StoredDocument:
    name: str
    size: int
    meta: dict[str, str]


def upload_folder(corpus_config: Path) -> Path:
    """The first folder source declared in the corpus configuration (created if absent)."""
    try:
        with Path(corpus_config).open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"无法读取语料配置 {corpus_config}：{e}") from e
    for entry in data.get("source", []):
        if entry.get("type") == "folder" and entry.get("path"):
            return (Path(corpus_config).parent / entry["path"]).resolve()
    raise ConfigError(f"语料配置 {corpus_config} 中没有文件夹来源，无法上传文件。请添加 "
                      '[[source]] type = "folder"，path = "documents"。')


def safe_name(raw: str) -> str:
    """A plain file name for the corpus folder, or UploadError. Directory parts are refused, not stripped."""
    name = unicodedata.normalize("NFC", (raw or "").strip())
    if not name:
        raise UploadError("请选择要上传的文件。")
    if "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise UploadError("文件名不能包含路径（/、\\ 或 ..），请只上传文件本身。")
    if name.startswith("."):
        raise UploadError("文件名不能以“.”开头。")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        raise UploadError(f"文件没有扩展名。只接受 {'、'.join(ALLOWED)} 文件。")
    ext = "." + ext.lower()
    if ext not in ALLOWED:
        raise UploadError(f"不支持 {ext} 文件。只接受 {'、'.join(ALLOWED)} 文件"
                          "（.doc 请先用 Word 另存为 .docx）。")
    stem = _UNSAFE.sub("_", stem).strip("._ ")
    if not stem:
        raise UploadError("文件名中没有可用的字符，请改用中文、字母或数字命名后再上传。")
    if stem.upper() in ("MANIFEST", "README"):
        raise UploadError("这个文件名留给语料目录的说明文件使用，请换一个文件名。")
    return stem[:MAX_NAME] + ext


def clean_meta(values: dict[str, str]) -> dict[str, str]:
    """Metadata as MANIFEST.tsv takes it: one line each, dates as YYYY-MM-DD, a known status."""
    out: dict[str, str] = {}
    for key in META_FIELDS:
        value = re.sub(r"[\t\r\n]+", " ", (values.get(key) or "")).strip()[:200]
        if not value:
            continue
        if key in ("effective", "promulgated") and not _DATE.match(value):
            raise UploadError(f"{META_LABELS[key]}请写成 2025-01-01 这样的格式。")
        if key == "status" and value not in STATUSES:
            raise UploadError(f"效力状态只能是 {'、'.join(STATUSES)} 之一（不确定时请留空）。")
        out[key] = value
    return out


def check_readable(name: str, data: bytes) -> int:
    """Parse the upload in a temporary folder; return its article/section count, or UploadError saying why not."""
    from .documents import parse_document

    with tempfile.TemporaryDirectory(prefix="pufa-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            parsed = parse_document(path)
        except PufaError as e:
            raise UploadError(_explain(name, str(e))) from e
        except Exception as e:  # a parser failing on odd input is still the file's problem for staff
            raise UploadError(f"无法从“{name}”中读取文字（{type(e).__name__}）。请检查文件能否正常打开。") from e
    if not parsed.articles:
        raise UploadError(f"“{name}”中没有读到任何正文内容。")
    return len(parsed.articles)


def _explain(name: str, detail: str) -> str:
    low = detail.lower()
    if name.lower().endswith(".docx"):
        return f"无法读取 Word 文件“{name}”：文件已损坏或不是 .docx 格式。请用 Word 打开后另存为 .docx 再上传。"
    if "text layer" in low or "no text" in low or name.lower().endswith(".pdf") and "ocr" in low:
        return f"PDF 文件“{name}”没有文字层（可能是扫描件），无法读取条文。请上传带文字的 PDF 或 Word 文件。"
    if "utf-8" in low:
        return f"文本文件“{name}”不是 UTF-8 编码。请在记事本中“另存为”，编码选择 UTF-8 后再上传。"
    if name.lower().endswith(".pdf"):
        return f"无法读取 PDF 文件“{name}”：文件已损坏或加密。"
    return f"无法读取“{name}”：文件不是可读的文本（扩展名是否正确？）。"


class DocumentFolder:
    """The corpus folder uploads go into, with its MANIFEST.tsv."""

    _write_lock = threading.Lock()  # MANIFEST.tsv is read-modify-write: one change at a time per process

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES):
        self.path = Path(path)
        self.max_bytes = max_bytes

    @classmethod
    def from_config(cls, corpus_config: Path, max_bytes: int = MAX_BYTES) -> DocumentFolder:
        return cls(upload_folder(corpus_config), max_bytes)

    def validate(self, raw_name: str, data: bytes, meta: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
        name = safe_name(raw_name)
        if len(data) > self.max_bytes:
            raise UploadError(f"文件太大（{len(data) / 1048576:.1f} MB），单个文件不能超过 "
                              f"{self.max_bytes / 1048576:.0f} MB。")
        if not data:
            raise UploadError(f"“{name}”是空文件。")
        meta = clean_meta(meta or {})
        check_readable(name, data)
        return name, meta

    def save(self, raw_name: str, data: bytes, meta: dict[str, str] | None = None) -> tuple[str, bool]:
        """Validate, then write the file (atomically) and its MANIFEST row. Returns (name, replaced)."""
        name, meta = self.validate(raw_name, data, meta)
        self.path.mkdir(parents=True, exist_ok=True)
        target = self._inside(name)
        with self._locked():
            replaced = target.exists()
            tmp = self.path / f".upload-{os.getpid()}-{name}"
            tmp.write_bytes(data)
            os.replace(tmp, target)
            self._write_manifest_row(name, meta)
        return name, replaced

    def delete(self, raw_name: str) -> None:
        name = safe_name(raw_name)
        target = self._inside(name)
        with self._locked():
            if not target.is_file():
                raise UploadError(f"语料目录中没有“{name}”。")
            target.unlink()
            rows = self._read_manifest()
            if name in rows:
                del rows[name]
                self._write_manifest(rows)

    def documents(self) -> list[StoredDocument]:
        if not self.path.is_dir():
            return []
        rows = self._read_manifest()
        return [StoredDocument(p.name, p.stat().st_size, {k: v for k, v in rows.get(p.name, {}).items() if k != "file" and v})
                for p in sorted(self.path.iterdir())
                if p.is_file() and p.suffix.lower() in ALLOWED and not p.name.startswith(".")
                and p.name not in ("MANIFEST.tsv", "README.md")]

    @contextlib.contextmanager
    def _locked(self):
        """One change at a time: across threads (a lock) and across app processes (flock on a lock file)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with self._write_lock, open(self.path / ".manifest.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ---- MANIFEST.tsv -----------------------------------------------------------------------------
    def _inside(self, name: str) -> Path:
        target = (self.path / name).resolve()
        if target.parent != self.path.resolve():  # belt and braces after safe_name
            raise UploadError("文件名不能包含路径。")
        return target

    def _read_manifest(self) -> dict[str, dict[str, str]]:
        manifest = self.path / "MANIFEST.tsv"
        if not manifest.exists():
            return {}
        with manifest.open(encoding="utf-8", newline="") as f:
            return {row["file"]: row for row in csv.DictReader(f, delimiter="\t") if row.get("file")}

    def _write_manifest_row(self, name: str, meta: dict[str, str]) -> None:
        rows = self._read_manifest()
        rows[name] = {"file": name, **meta}
        self._write_manifest(rows)

    def _write_manifest(self, rows: dict[str, dict[str, str]]) -> None:
        columns = list(MANIFEST_COLUMNS)
        for row in rows.values():  # keep columns someone added by hand
            columns += [k for k in row if k and k not in columns]
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for name in sorted(rows):
            writer.writerow({k: rows[name].get(k) or "" for k in columns})
        tmp = self.path / f".MANIFEST-{os.getpid()}.tsv"
        tmp.write_text(out.getvalue(), encoding="utf-8")
        os.replace(tmp, self.path / "MANIFEST.tsv")
