"""Admin uploads from several app processes at once: every MANIFEST.tsv row survives."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pufa.uploads import DocumentFolder
    folder = DocumentFolder(Path(sys.argv[1]))
    tag = sys.argv[2]
    for i in range(60):
        text = f"# 测试规定{tag}{i}\\n\\n第一条 为了测试，制定本规定。\\n\\n第二条 本规定自公布之日起施行。\\n"
        folder.save(f"{tag}-{i}.md", text.encode("utf-8"), {"level": "规范性文件", "issuer": f"测试{tag}"})
""")


def test_two_processes_uploading_at_once_lose_no_manifest_row(tmp_path):
    folder = tmp_path / "documents"
    folder.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder), tag], cwd=REPO,
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}) for tag in ("a", "b")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    with (folder / "MANIFEST.tsv").open(encoding="utf-8") as f:
        rows = {r["file"]: r for r in csv.DictReader(f, delimiter="\t")}
    assert set(rows) == {f"{tag}-{i}.md" for tag in ("a", "b") for i in range(60)}
    assert rows["b-7.md"]["issuer"] == "测试b"
