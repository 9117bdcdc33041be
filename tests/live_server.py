"""Run the real app in a thread on a loopback port until its health check says ok (browser tests)."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn


def serve(app, port: int, timeout: float = 60.0) -> tuple[str, uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(base + "/api/health", timeout=2).json()["status"] == "ok":
                return base, server, thread
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.2)
