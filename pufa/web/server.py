"""The one serving process: a FastAPI app with the JSON API, the article pages and the Gradio UI at `/`.

Routes declared here come before the Gradio mount, so `/api/*`, `/browse`, `/law/*`, `/article/*`
and `/admin/*` are ours and everything else is Gradio's. The widget/API issue adds its routes to
the same app through `create_app`'s FastAPI object.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from ..feedback import FeedbackStore
from ..settings import Settings
from .admin import admin_router
from .api import create_api
from .chat import ChatHandlers, build_blocks, mount
from .pages import deep_link, pages_router
from .runtime import Runtime
from .usage import Usage
from .widget import widget_router

CSS_PATH = Path(__file__).with_name("pufa.css")


def create_app(settings: Settings, runtime: Runtime, store: FeedbackStore) -> FastAPI:
    app = FastAPI(title="Pufa 普法助手", docs_url=None, redoc_url=None, openapi_url=None)
    usage = Usage()  # aggregate API counters (pufa/web/usage.py), shown on /api/health

    @app.get("/api/health")
    def health() -> JSONResponse:
        return JSONResponse(runtime.health() | {"usage": usage.snapshot()})

    @app.middleware("http")
    async def article_deep_link(request: Request, call_next):
        # /?law=大气污染防治法&num=99 → /article/大气污染防治法/99 (the Gradio page has no routing of its own)
        if request.url.path == "/" and request.method == "GET" and request.query_params.get("law"):
            params = request.query_params
            return RedirectResponse(deep_link(params["law"], params.get("num", "")), status_code=307)
        return await call_next(request)

    app.include_router(pages_router(runtime))
    app.include_router(admin_router(settings, runtime, store))
    app.mount("/api", create_api(settings, runtime, usage))  # the public JSON API, docs at /api/docs
    app.include_router(widget_router(settings))  # /widget, /embed.js
    demo = build_blocks(ChatHandlers(runtime, store, settings), settings)
    return mount(app, demo, settings, CSS_PATH)
