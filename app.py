"""Pufa 普法助手 — the web app. `python app.py [--host H] [--port P] [--index-dir DIR]`

Wiring only: read the settings, open (or on a first run build) the index, build the web app, serve.
The page is at http://127.0.0.1:7860/ by default; `GET /api/health` tells whether the index is ready.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pufa.settings import Settings, apply_offline_defaults


def main(argv: list[str] | None = None) -> int:
    apply_offline_defaults()  # before gradio is imported: no analytics, no model hub
    parser = argparse.ArgumentParser(description="Pufa 普法助手 web app")
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1, or PUFA_HOST)")
    parser.add_argument("--port", type=int, help="port (default 7860, or PUFA_PORT)")
    parser.add_argument("--index-dir", type=Path, help="index location (default index/, or PUFA_INDEX_DIR)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("chromadb", "httpx", "jieba", "bm25s", "urllib3", "gradio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings.from_env(host=args.host, port=args.port, index_dir=args.index_dir)

    import uvicorn

    from pufa.feedback import FeedbackStore
    from pufa.web.runtime import Runtime
    from pufa.web.server import create_app

    runtime = Runtime(settings)
    runtime.start()
    app = create_app(settings, runtime, FeedbackStore.in_dir(settings.data_dir))
    logging.getLogger("pufa").info("Pufa 普法助手: http://%s:%d/", settings.host, settings.port)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
