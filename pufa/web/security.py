"""Who may embed the widget and who may call the API from a browser: CSP for /widget, CORS for /api.

The defaults allow the app's own origin only: `frame-ancestors 'self'` on the widget pages and no
CORS headers on the API (a browser then refuses cross-origin reads). Operators add partner sites
with `PUFA_EMBED_ORIGINS` (framing the widget) and `PUFA_CORS_ORIGINS` (calling the API from their
own scripts). The widget page itself runs only our own script and style files (no inline code, no
outside host), so an injected tag could not run even if escaping failed somewhere.
"""

from __future__ import annotations

import re

from fastapi import FastAPI

from ..errors import ConfigError
from ..settings import Settings

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


def parse_origins(raw: str, setting: str) -> list[str]:
    """`"https://a.example, https://b.example:8443"` → a checked list of origins (scheme://host[:port])."""
    out = []
    for item in re.split(r"[\s,]+", raw or ""):
        item = item.strip().rstrip("/")
        if not item:
            continue
        if not _ORIGIN.match(item):
            raise ConfigError(f"PUFA_{setting.upper()}: {item!r} is not an origin like https://www.example.gov.cn "
                              "(scheme and host, optional port, no path)")
        out.append(item)
    return list(dict.fromkeys(out))


def widget_headers(settings: Settings) -> dict[str, str]:
    """Response headers for the widget's pages: who may frame them and what they may load."""
    ancestors = " ".join(["'self'", *parse_origins(settings.embed_origins, "embed_origins")])
    csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
           f"base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}")
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store"}


def asset_headers() -> dict[str, str]:
    return {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def add_cors(app: FastAPI, settings: Settings) -> None:
    """CORS for the API sub-app: only the configured origins (none by default = same origin only)."""
    origins = parse_origins(settings.cors_origins, "cors_origins")
    if not origins:
        return
    from fastapi.middleware.cors import CORSMiddleware

    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type", "X-Pufa-Session"], expose_headers=["Retry-After"],
                       allow_credentials=False, max_age=600)
