"""The public outreach widget: `/widget` (kiosk: `/widget?kiosk=1`) and `/embed.js` for partner sites.

The page is plain HTML rendered here (every text escaped) plus our own `widget.js`/`widget.css`;
the script calls `/api/ask/stream` with the public persona and builds answers with DOM text nodes
only (never innerHTML). Conversation state lives in the page's memory, one per widget instance
(iframe), with its own random session id for the rate limits; nothing is stored on the server. The
QR code is drawn here with `qrcode` (SVG data URI), so nothing is fetched from outside.
Deliberately left out: any link to, or knowledge of, the administration pages.
"""

from __future__ import annotations

import base64
import json
import tomllib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ..errors import ConfigError
from ..settings import Settings
from .render import esc
from .security import asset_headers, widget_headers

HERE = Path(__file__).parent
STATIC = HERE / "static"
DEFAULT_QUESTIONS = HERE / "widget.toml"
MIN_PRESETS, MAX_PRESETS = 6, 10


def load_questions(settings: Settings) -> list[str]:
    """The preset questions from the configured TOML file (6–10 non-empty questions within the length limit)."""
    path = Path(settings.widget_questions).expanduser() if settings.widget_questions else DEFAULT_QUESTIONS
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"PUFA_WIDGET_QUESTIONS: cannot read {path}: {e}") from e
    questions = doc.get("questions")
    if not isinstance(questions, list) or not all(isinstance(q, str) and q.strip() for q in questions):
        raise ConfigError(f"{path}: expected `questions = [\"…\", …]` with non-empty strings")
    questions = [q.strip() for q in questions]
    if not MIN_PRESETS <= len(questions) <= MAX_PRESETS:
        raise ConfigError(f"{path}: give {MIN_PRESETS} to {MAX_PRESETS} preset questions, not {len(questions)}")
    too_long = [q for q in questions if len(q) > settings.max_question_chars]
    if too_long:
        raise ConfigError(f"{path}: question longer than {settings.max_question_chars} characters: {too_long[0][:40]}…")
    return questions


@lru_cache(maxsize=32)
def qr_data_uri(url: str) -> str:
    """An SVG QR code of `url` as a data URI (drawn locally)."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4,
                       image_factory=SvgPathImage)
    qr.add_data(url)
    qr.make(fit=True)
    svg = qr.make_image().to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def widget_url(settings: Settings, request: Request) -> str:
    if settings.widget_url:
        return settings.widget_url
    return str(request.base_url).rstrip("/") + "/widget"


def privacy_notice(settings: Settings) -> str:
    if settings.log_requests:
        return "隐私说明：本站为改进服务会记录提问内容和访问地址；请不要输入姓名、电话等个人信息。"
    return "隐私说明：本页不记录您的身份和提问内容，对话只保存在本页面，关闭或闲置后即清除。"


def page_html(settings: Settings, questions: list[str], url: str, kiosk: bool) -> str:
    config = {"api": "/api/ask/stream", "persona": "public", "maxChars": settings.max_question_chars,
              "kiosk": kiosk, "idleSeconds": settings.kiosk_idle_seconds}
    # JSON inside a data block: "<" escaped, so no text can close the <script> element.
    config_json = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    presets = "".join(f'<button type="button" class="pw-preset" data-q="{esc(q)}">{esc(q)}</button>'
                      for q in questions)
    qr = (f'<img class="pw-qr-img" src="{esc(qr_data_uri(url))}" alt="二维码：用手机扫码打开普法助手" '
          f'width="180" height="180"><p class="pw-qr-caption">手机扫一扫，随时问</p>'
          f'<p class="pw-qr-url">{esc(url)}</p>')
    body_class = "pw" + (" pw-kiosk" if kiosk else "")
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<title>普法助手 · 生态环境法律法规问答</title><link rel="stylesheet" href="/widget/widget.css"></head>'
        f'<body class="{body_class}"><div class="pw-app">'
        '<header class="pw-head"><div class="pw-brand"><h1>普法助手</h1><p class="pw-sub">生态环境法律法规问答</p></div>'
        '<button type="button" class="pw-qr-btn" id="pw-qr-btn" aria-expanded="false" aria-controls="pw-qr">手机扫码</button>'
        '</header>'
        f'<div class="pw-qr" id="pw-qr"{"" if kiosk else " hidden"}>{qr}</div>'
        '<section class="pw-presets" aria-labelledby="pw-presets-h"><h2 id="pw-presets-h">大家常问（点一下就能问）</h2>'
        f'<div class="pw-preset-list">{presets}</div></section>'
        '<div class="pw-log" id="pw-log" aria-live="polite"></div>'
        '<p class="pw-status" id="pw-status" role="status"></p>'
        '<form class="pw-form" id="pw-form" autocomplete="off">'
        '<label for="pw-q" class="pw-hidden">您的问题</label>'
        f'<textarea id="pw-q" name="q" rows="2" maxlength="{settings.max_question_chars}" '
        'placeholder="请输入您的问题，例如：装修噪声扰民找谁？"></textarea>'
        '<button type="submit" class="pw-send" id="pw-send">提问</button></form>'
        '<footer class="pw-foot">'
        f'<p class="pw-privacy">{esc(privacy_notice(settings))}</p>'
        f'<p class="pw-disclaimer">信息仅供参考，不构成法律意见；具体问题请咨询{esc(settings.bureau_name)}，'
        '或拨打 12348 公共法律服务热线。</p>'
        '<button type="button" class="pw-clear" id="pw-clear">清空对话</button></footer>'
        '</div>'
        f'<script type="application/json" id="pw-config">{config_json}</script>'
        '<script src="/widget/widget.js"></script></body></html>')


def widget_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    questions = load_questions(settings)  # a broken file fails at start-up, not on a visitor's screen
    headers = widget_headers(settings)

    @router.get("/widget", response_class=HTMLResponse)
    def widget(request: Request, kiosk: str = ""):
        html = page_html(settings, questions, widget_url(settings, request), kiosk in ("1", "true", "yes"))
        return HTMLResponse(html, headers=headers)

    @router.get("/widget/widget.js")
    def script():
        return Response(_asset("widget.js"), media_type="text/javascript; charset=utf-8", headers=asset_headers())

    @router.get("/widget/widget.css")
    def style():
        return Response(_asset("widget.css"), media_type="text/css; charset=utf-8", headers=asset_headers())

    @router.get("/embed.js")
    def embed():
        return Response(_asset("embed.js"), media_type="text/javascript; charset=utf-8", headers=asset_headers())

    return router


@lru_cache(maxsize=8)
def _asset(name: str) -> bytes:
    return (STATIC / name).read_bytes()
