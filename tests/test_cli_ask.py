"""`pufa ask` as a user runs it: one answer document, batches, history files and clear errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = {"answer", "citations", "refused", "refusal_reason", "as_of", "mode", "notices"}
CITATION_KEYS = {"n", "law", "law_short", "article_num", "article_no", "status", "level", "effective_date", "text"}


def run(settings, *args):
    env = dict(os.environ, PUFA_INDEX_DIR=str(settings.index_dir), PUFA_EMBEDDER="hash", PYTHONPATH=str(REPO))
    env.pop("PUFA_LLM_BASE_URL", None)
    return subprocess.run([sys.executable, "-m", "pufa", "ask", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=180)


def test_ask_json_is_one_answer_document(mini_index):
    out = run(mini_index, "没批环评就开工了，会被怎么处罚？", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert KEYS <= doc.keys() and doc["mode"] == "extractive" and doc["refused"] is False
    assert doc["citations"] and all(CITATION_KEYS <= c.keys() for c in doc["citations"])
    assert {c["n"] for c in doc["citations"]} == {int(n) for n in __import__("re").findall(r"\[(\d+)\]", doc["answer"])}


def test_ask_batch_prints_one_document_per_row_with_its_id(mini_index, tmp_path):
    rows = [{"id": "a", "question": "法典第八十条说的什么"},
            {"id": "b", "question": "红烧肉怎么做", "persona": "public"},
            {"id": "c", "question": ""}]
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out = run(mini_index, "--batch", str(batch), "--json")
    assert out.returncode == 0, out.stderr
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["id"] for d in docs] == ["a", "b", "c"]
    assert docs[0]["citations"][0]["article_num"] == 80
    assert docs[1]["refused"] is True and docs[1]["persona"] == "public"
    assert docs[2]["error"]["code"] == "bad_input"  # one bad row does not stop the batch


def test_ask_with_history_reads_the_follow_up_in_context(mini_index, tmp_path):
    history = tmp_path / "h.json"
    history.write_text(json.dumps([{"question": "没批环评就开工了，会被怎么处罚？"}], ensure_ascii=False), encoding="utf-8")
    out = run(mini_index, "那如果是第一次呢？", "--history", str(history), "--json")
    doc = json.loads(out.stdout)
    assert "没批环评" in doc["resolved_question"]


def test_ask_human_output_streams_markdown_with_notices(mini_index):
    out = run(mini_index, "大气污染防治法第九十九条还适用吗")
    assert out.returncode == 0 and "不再适用" in out.stdout and "※" in out.stdout


def test_bad_input_is_exit_2_with_a_message(mini_index, tmp_path):
    out = run(mini_index, "   ")
    assert out.returncode == 2 and "空" in out.stderr and out.stdout == ""
    broken = tmp_path / "h.json"
    broken.write_text("[{oops", encoding="utf-8")
    out = run(mini_index, "那罚款呢", "--history", str(broken))
    assert out.returncode == 2 and "not valid JSON" in out.stderr
