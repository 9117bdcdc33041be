"""The feedback store under SIGKILL and with several writing processes.

A child process writes entries and prints an acknowledgement after each `add` returns (the commit);
it is killed with SIGKILL mid-way. Every acknowledged entry must then be in the store, intact. Two
processes writing at once (as two app processes behind a load balancer) must lose nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pufa.feedback import FeedbackStore

REPO = Path(__file__).resolve().parents[1]

WRITER = r"""
import sys
from pathlib import Path
from pufa.feedback import FeedbackStore

store = FeedbackStore(Path(sys.argv[1]))
tag, count = sys.argv[2], int(sys.argv[3])
for i in range(count):
    fid = store.add(-1 if i % 2 else 1, question=f"{tag} 问题 {i}", answer="回答" * 50 + str(i),
                    citations=[f"《大气污染防治法》第{i}条"], persona="public", mode="extractive",
                    reason="引用有误" if i % 2 else "", comment=f"{tag}-{i}")
    print(f"ack {fid} {tag}-{i}", flush=True)
"""


def _writer(db: Path, tag: str, count: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", WRITER, str(db), tag, str(count)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _assert_intact(store: FeedbackStore, acked: dict[int, str]) -> None:
    for fid, comment in acked.items():
        item = store.get(fid)
        assert item is not None, f"acknowledged entry {fid} ({comment}) is lost"
        i = int(comment.rsplit("-", 1)[1])
        tag = comment.rsplit("-", 1)[0]
        assert item.comment == comment and item.question == f"{tag} 问题 {i}"
        assert item.answer == "回答" * 50 + str(i) and item.citations == (f"《大气污染防治法》第{i}条",)
        assert item.rating == (-1 if i % 2 else 1) and item.reason == ("引用有误" if i % 2 else "")


def test_acknowledged_feedback_survives_sigkill(tmp_path):
    db = tmp_path / "feedback.sqlite"
    proc = _writer(db, "kill", 100_000)
    acked: dict[int, str] = {}
    deadline = time.monotonic() + 60
    try:
        for line in proc.stdout:  # kill after a few dozen commits, mid-stream
            _, fid, comment = line.split()
            acked[int(fid)] = comment
            if len(acked) >= 40 or time.monotonic() > deadline:
                break
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    for line in rest.splitlines():  # acknowledgements already in the pipe when it died
        _, fid, comment = line.split()
        acked[int(fid)] = comment
    assert proc.returncode == -signal.SIGKILL and len(acked) >= 40
    store = FeedbackStore(db)  # opens (and recovers the WAL) after the crash
    _assert_intact(store, acked)
    assert store.counts()["total"] >= len(acked)
    with __import__("sqlite3").connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "feedback.sqlite"
    FeedbackStore(db)  # created once, as the app does at start
    procs = [_writer(db, tag, 150) for tag in ("a", "b")]
    acked: dict[int, str] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        for line in out.splitlines():
            _, fid, comment = line.split()
            assert int(fid) not in acked, "two entries got the same id"
            acked[int(fid)] = comment
    assert len(acked) == 300
    store = FeedbackStore(db)
    _assert_intact(store, acked)
    assert store.counts()["total"] == 300
    # the admin's export sees both writers' entries
    assert {f.comment.split("-")[0] for f in store.list(limit=1000)} == {"a", "b"}
    assert json.dumps([f.to_json() for f in store.list(limit=5)], ensure_ascii=False)
