"""The public HTTP API (JSON), a FastAPI sub-app mounted at /api with its OpenAPI docs at /api/docs.

    POST /api/ask          {"question", "persona"?, "history"?} → the `pufa ask --json` document
    POST /api/ask/stream   the same as server-sent events: sources, text pieces, final (or error)
    GET  /api/article      ?law=&num= → the `pufa article --json` document
    GET  /api/search       ?q=&k=&law= → {"hits": [...]} as `pufa search --json`

Errors are `{"error": {"code", "message"}}` with 400 / 404 / 413 / 429 (+ Retry-After) / 503 / 500.
Untrusted input is parsed with pydantic; the assistant's domain errors become HTTP errors here and
nowhere else. Only aggregate counters are kept (`Usage`) unless the operator sets PUFA_LOG_REQUESTS=1.
Being a separate app keeps the admin routes out of this schema and lets CORS apply to /api alone.
`/api/health` stays on the main app (it is matched before this mount).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..answer import FinalEvent, SourcesEvent, TextEvent, Turn
from ..errors import InputError, NotFoundError
from ..settings import Settings
from .limits import DAY, RateLimiter
from .runtime import IndexBuildingError, Runtime, Services
from .security import add_cors
from .usage import Usage

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 128 * 1024
MAX_HISTORY_TURNS = 10
SESSION_HEADER = "X-Pufa-Session"
_SESSION = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
NOT_FOUND = "没有找到您提到的法律或条文，请检查名称或条号。"
GENERIC_ERROR = "抱歉，回答这个问题时出了点问题。请稍后再试，或换一种问法。"


# ---- request and response documents ------------------------------------------------------------

class TurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(max_length=2000, description="an earlier question of this conversation")
    answer: str = Field("", max_length=8000, description="the answer it got (optional)")


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "未批先建会罚多少？", "persona": "enterprise"},
        {"question": "那如果是报告表呢？", "persona": "enterprise", "history": [{"question": "未批先建会罚多少？"}]}]})
    question: str = Field(max_length=20_000, description="the question in Chinese (at most PUFA_MAX_QUESTION_CHARS, "
                                                         "default 500 characters, after trimming)")
    persona: Literal["enterprise", "public"] = Field("enterprise", description="enterprise: full legal detail; "
                                                                             "public: plain language")
    history: list[TurnIn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS,
                                  description="the conversation so far, oldest first (follow-ups need it)")


class ErrorBody(BaseModel):
    code: str = Field(description="bad_input | empty_question | question_too_long | not_found | body_too_large | "
                                  "rate_limited | index_building | index_error | internal")
    message: str = Field(description="a sentence for the person using the client, in Chinese")


class ErrorDoc(BaseModel):
    error: ErrorBody


ERRORS = {400: {"model": ErrorDoc, "description": "bad input (empty, too long, malformed)"},
          404: {"model": ErrorDoc, "description": "unknown law or article"},
          429: {"model": ErrorDoc, "description": "rate-limited; see the Retry-After header"},
          503: {"model": ErrorDoc, "description": "the index is still being built"}}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def sse(event: str, data: dict) -> str:
    """One server-sent event; JSON keeps the data on one line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# ---- the app ------------------------------------------------------------------------------------

def create_api(settings: Settings, runtime: Runtime, usage: Usage | None = None,
               limiter: RateLimiter | None = None) -> FastAPI:
    from fastapi_offline import FastAPIOffline  # Swagger UI served from the package, no CDN

    usage = usage or Usage()
    limiter = limiter or RateLimiter.from_settings(settings)
    api = FastAPIOffline(title="Pufa 普法助手 API", version="1",
                         description="普法助手的公开接口：带出处的法律问答、条文查询和检索。每个回答都引用条文；"
                                     "错误为 `{\"error\": {\"code\", \"message\"}}`。",
                         docs_url="/docs", redoc_url=None, openapi_url="/openapi.json", static_url="/docs-static")
    api.state.usage = usage
    api.state.limiter = limiter
    api.state.runtime = runtime
    add_cors(api, settings)

    @api.exception_handler(ApiError)
    async def on_api_error(request: Request, e: ApiError):
        usage.add(f"status_{e.status}")
        return error_response(e.status, e.code, e.message, e.headers)

    @api.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, e: RequestValidationError):
        usage.add("status_400")
        return error_response(400, "bad_input", "请求格式不正确：" + _describe(e.errors()))

    @api.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, e: StarletteHTTPException):
        usage.add(f"status_{e.status_code}")
        message = {404: "没有这个接口。接口说明见 /api/docs。", 405: "不支持这种请求方法。"}.get(e.status_code, str(e.detail))
        return error_response(e.status_code, "not_found" if e.status_code == 404 else "bad_request", message)

    @api.exception_handler(Exception)
    async def on_crash(request: Request, e: Exception):
        log.exception("API request failed")  # the question is not logged
        usage.add("status_500")
        return error_response(500, "internal", GENERIC_ERROR)

    @api.middleware("http")
    async def body_cap(request: Request, call_next):
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            usage.add("status_413")
            return error_response(413, "body_too_large", f"请求太大（上限 {MAX_BODY_BYTES // 1024} KB）。")
        return await call_next(request)

    def services() -> Services:
        try:
            return runtime.services
        except IndexBuildingError as e:
            if runtime.state == "error":
                raise ApiError(503, "index_error", "索引建立失败，服务暂不可用，请联系网站管理员。") from e
            raise ApiError(503, "index_building", str(e), {"Retry-After": "10"}) from e

    def rate_limit(request: Request) -> str:
        ip = request.client.host if request.client else "unknown"
        session = request.headers.get(SESSION_HEADER, "")
        session = session if _SESSION.match(session) else ""
        verdict = limiter.hit(ip, session)
        usage.add("requests")
        if not verdict.allowed:
            usage.add("rate_limited")
            span = "今天" if verdict.window >= DAY else "这一分钟"
            wait = f"{verdict.retry_after} 秒" if verdict.retry_after < 120 else f"{verdict.retry_after // 60} 分钟"
            raise ApiError(429, "rate_limited", f"{span}提问次数较多，请 {wait}后再试。",
                           {"Retry-After": str(verdict.retry_after)})
        if settings.log_requests:
            log.info("api %s %s ip=%s session=%s", request.method, request.url.path, ip, session or "-")
        return session

    def question_of(body: AskIn) -> tuple[str, list[Turn]]:
        question = body.question.strip()
        if not question:
            raise ApiError(400, "empty_question", "问题是空的，请输入想咨询的问题。")
        limit = settings.max_question_chars
        if len(question) > limit:
            raise ApiError(400, "question_too_long", f"问题太长（{len(question)} 字），请控制在 {limit} 字以内。")
        if settings.log_requests:
            log.info("api question (%s): %s", body.persona, question)
        return question, [Turn(t.question, t.answer) for t in body.history]

    @api.post("/ask", summary="回答一个问题（带出处）", responses=ERRORS)
    def ask(body: AskIn, _session: str = Depends(rate_limit)) -> dict:
        """The whole answer at once: the same JSON document as `pufa ask --json`."""
        question, history = question_of(body)
        assistant = services().assistant
        usage.add("ask")
        try:
            answer = assistant.ask(question, body.persona, history)
        except InputError as e:
            raise ApiError(400, "bad_input", str(e)) from e
        except NotFoundError as e:
            raise ApiError(404, "not_found", NOT_FOUND) from e
        usage.add("refused" if answer.refused else "answered")
        return answer.to_json()

    @api.post("/ask/stream", summary="回答一个问题，以服务器推送事件（SSE）逐步返回", responses=ERRORS | {
        200: {"content": {"text/event-stream": {}}, "description":
              "events in order: `sources` {citations}, `text` {text} (many; append them), `final` (the answer "
              "document; its text replaces the pieces), or `error` {error} if answering fails midway"}})
    def ask_stream(body: AskIn, _session: str = Depends(rate_limit)):
        question, history = question_of(body)
        assistant = services().assistant
        usage.add("ask_stream")
        events = iter(assistant.stream(question, body.persona, history))
        try:  # the first step checks the input: its errors are still an HTTP status, not an event
            first = next(events, None)
        except InputError as e:
            raise ApiError(400, "bad_input", str(e)) from e
        except NotFoundError as e:
            raise ApiError(404, "not_found", NOT_FOUND) from e
        return StreamingResponse(_event_stream(first, events, usage), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @api.get("/article", summary="查看一条条文", responses=ERRORS)
    def article(law: str = Query(min_length=1, max_length=100, description="法律名称、简称或别名，如 大气法、法典"),
                num: str = Query(min_length=1, max_length=30, description="条号：99、九十九、第九十九条、20-1、第二十条之一"),
                _session: str = Depends(rate_limit)) -> dict:
        """The same JSON document as `pufa article --json`."""
        catalog = services().catalog
        usage.add("article")
        law, num = law.strip(), num.strip()
        try:
            info = catalog.resolve_law(law)
        except NotFoundError as e:
            raise ApiError(404, "not_found", f"没有找到名为“{law}”的法律法规。") from e
        m = re.fullmatch(r"(\d+)-(\d+)", num)
        try:
            found = catalog.article(law, int(m.group(1)), int(m.group(2))) if m else catalog.article(law, num)
        except NotFoundError as e:
            raise ApiError(404, "not_found", f"没有找到《{info.short}》{num}（共 {info.article_count} 条）。") from e
        info = catalog.law(found.law_id)
        return found.to_json() | {"promulgated": info.promulgated, "issuer": info.issuer}

    @api.get("/search", summary="检索相关条文", responses=ERRORS)
    def search(q: str = Query(max_length=2000, description="问题或关键词"),
               k: int = Query(10, ge=1, le=50, description="返回条数"),
               law: str | None = Query(None, max_length=100, description="只在这部法律中检索"),
               _session: str = Depends(rate_limit)) -> dict:
        """Ranked articles: the same JSON document as `pufa search --json`."""
        q = q.strip()
        if not q:
            raise ApiError(400, "empty_question", "检索词是空的。")
        if len(q) > settings.max_question_chars:
            raise ApiError(400, "question_too_long", f"检索词太长（{len(q)} 字），请控制在 {settings.max_question_chars} 字以内。")
        retriever = services().retriever
        usage.add("search")
        law = (law or "").strip() or None
        try:
            if law:
                retriever.catalog.resolve_law(law)  # an unknown law is a 404, not an empty list
            hits = retriever.search(q, k=k, law=law)
        except NotFoundError as e:
            raise ApiError(404, "not_found", f"没有找到名为“{law}”的法律法规。") from e
        return {"hits": [h.to_json() for h in hits]}

    return api


def _event_stream(first, events: Iterator, usage: Usage) -> Iterator[str]:
    event = first
    try:
        while event is not None:
            if isinstance(event, SourcesEvent):
                yield sse("sources", {"citations": [c.to_json() for c in event.citations]})
            elif isinstance(event, TextEvent):
                yield sse("text", {"text": event.text})
            elif isinstance(event, FinalEvent):
                usage.add("refused" if event.answer.refused else "answered")
                yield sse("final", event.answer.to_json())
                return
            event = next(events, None)
        raise RuntimeError("the answer stream ended without a final answer")
    except Exception as e:  # the status line is sent already: report in-band
        log.exception("streamed answer failed")
        usage.add("stream_error")
        code, message = ("bad_input", str(e)) if isinstance(e, InputError) else ("internal", GENERIC_ERROR)
        yield sse("error", {"error": {"code": code, "message": message}})


def _describe(errors) -> str:
    parts = []
    for err in list(errors)[:3]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
        parts.append(f"{where or '请求体'}：{err.get('msg', '')}")
    return "；".join(parts)
