"""The Gradio UI (the one module that imports gradio): the chat screen (问答) and a quick article lookup (条文查询).

The handlers (`ChatHandlers`) are plain Python over our records, so tests drive them without a
browser; `build_blocks` only wires them to Gradio components. The conversation is kept per browser
session in a `gr.State` (a list of turn dicts), never on the server's disk. Every string shown as
HTML goes through `render` (escaped); errors reach the user as a Chinese sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from ..answer import FinalEvent, SourcesEvent, TextEvent, Turn
from ..errors import InputError, NotFoundError, PufaError
from ..feedback import REASONS, FeedbackStore
from ..records import STATUS_REPEALED
from ..settings import Settings
from . import render
from .handout_tab import add_tab as add_handout_tab
from .runtime import IndexBuildingError, Runtime

log = logging.getLogger(__name__)

PERSONA_CHOICES = [("企业", "enterprise"), ("公众", "public")]
EXAMPLES = {
    "enterprise": ["未批先建会罚多少？", "排污许可证过期了还能排放吗？", "收到行政处罚决定书后多久内可以申请行政复议？",
                   "大气污染防治法第九十九条现在还有效吗？"],
    "public": ["邻居装修噪声太大可以向谁投诉？", "发现企业偷排污水怎么举报？", "首次违法一定会被罚款吗？"],
}
MAX_TURNS_HISTORY = 6
GENERIC_ERROR = "抱歉，回答这个问题时出了点问题。请稍后再试，或换一种问法；如果一直这样，请联系网站管理员。"


def user_message(question: str) -> str:
    # One HTML block without blank lines, so the chat's Markdown leaves it alone: the question shows as typed.
    return "<p>" + render.esc(question).replace("\n", "<br>") + "</p>"


def error_sentence(error: Exception) -> str:
    if isinstance(error, (InputError, IndexBuildingError)):
        return str(error)  # written for the user, in Chinese
    if isinstance(error, NotFoundError):
        return "没有找到您提到的法律或条文，请检查名称或条号，也可以在“条文查询”中查找。"
    return GENERIC_ERROR


class ChatHandlers:
    def __init__(self, runtime: Runtime, store: FeedbackStore, settings: Settings):
        self.runtime = runtime
        self.store = store
        self.settings = settings

    # ---- chat ----------------------------------------------------------------------------
    def respond(self, question: str, persona: str, messages: list[dict] | None,
                conv: list[dict] | None) -> Iterator[tuple[list[dict], list[dict], str, str]]:
        """Stream one answer: yields (chat messages, conversation state, copy text, question box)."""
        messages = list(messages or [])
        conv = list(conv or [])
        question = (question or "").strip()
        if not question:
            yield messages, conv, self._copy_text(conv), ""
            return
        turn = len(conv)
        persona = persona if persona in dict((v, k) for k, v in PERSONA_CHOICES) else "enterprise"
        history = [Turn(t["question"], t["answer"]) for t in conv if t.get("answer")][-MAX_TURNS_HISTORY:]
        messages = messages + [{"role": "user", "content": user_message(question)},
                               {"role": "assistant", "content": render.answer_html("", (), turn, pending=True)}]
        entry: dict[str, Any] = {"question": question, "answer": "", "citations": [], "persona": persona,
                                 "mode": "", "plain": "", "feedback_id": None}
        conv = conv + [entry]
        yield messages, conv, self._copy_text(conv), ""
        text, sources = "", ()
        try:
            assistant = self.runtime.services.assistant
            for event in assistant.stream(question, persona, history):
                if isinstance(event, SourcesEvent):
                    sources = event.citations
                elif isinstance(event, TextEvent):
                    text += event.text
                elif isinstance(event, FinalEvent):
                    answer = event.answer
                    entry.update(answer=answer.answer, citations=[c.article.citation() for c in answer.citations],
                                 mode=answer.mode, plain=render.plain_text(answer))
                    messages[-1] = {"role": "assistant", "content": render.final_answer_html(answer, turn)}
                    yield messages, conv, self._copy_text(conv), ""
                    return
                else:
                    continue
                messages[-1] = {"role": "assistant", "content": render.answer_html(text, sources, turn, pending=True)}
                yield messages, conv, self._copy_text(conv), ""
            raise PufaError("the answer stream ended without a final answer")
        except Exception as e:  # the edge: log the details, show a sentence
            if not isinstance(e, (InputError, IndexBuildingError)):
                log.exception("answering failed for a %d-character question", len(question))
            sentence = error_sentence(e)
            entry.update(answer="", plain=sentence, mode="error")
            messages[-1] = {"role": "assistant", "content": render.error_html(sentence)}
            yield messages, conv, self._copy_text(conv), question if isinstance(e, IndexBuildingError) else ""

    @staticmethod
    def _copy_text(conv: list[dict]) -> str:
        for entry in reversed(conv):
            if entry.get("plain"):
                return entry["plain"]
        return ""

    @staticmethod
    def new_chat() -> tuple[list, list, str, str]:
        return [], [], "", ""

    # ---- feedback ------------------------------------------------------------------------
    def rate(self, conv: list[dict] | None, message_index: int, liked: bool) -> tuple[list[dict], int | None, str]:
        """A 👍/👎 on the assistant message at `message_index`: stored at once; reasons may follow."""
        conv = list(conv or [])
        turn = message_index // 2
        if not (0 <= turn < len(conv)) or not conv[turn].get("answer"):
            return conv, None, ""
        entry = dict(conv[turn])
        rating = 1 if liked else -1
        if entry.get("feedback_id"):
            self.store.update(entry["feedback_id"], rating=rating)
        else:
            entry["feedback_id"] = self.store.add(rating, question=entry["question"], answer=entry["answer"],
                                                  citations=entry["citations"], persona=entry["persona"],
                                                  mode=entry["mode"])
        conv[turn] = entry
        return conv, entry["feedback_id"], "已记录您的评价，谢谢！" + ("可以在下方选择原因或补充说明（可选）。" if not liked else "")

    def explain(self, feedback_id: int | None, reason: str | None, comment: str | None) -> str:
        if not feedback_id:
            return "请先在回答下方点 👍 或 👎。"
        reason = reason if reason in REASONS else ""
        self.store.update(int(feedback_id), reason=reason, comment=(comment or "").strip())
        return "反馈已提交，谢谢！工作人员会定期查看。"

    # ---- article lookup ------------------------------------------------------------------
    def lookup(self, law: str, number: str) -> str:
        law, number = (law or "").strip(), (number or "").strip()
        if not law:
            return '<p class="pufa-notice">请输入法律名称或简称，例如：大气法、法典、行政处罚法。</p>'
        try:
            services = self.runtime.services
            catalog = services.catalog
            if not number:
                found = catalog.resolve_law(law)
                return (f'<p><a href="{render.esc(render.law_url(found.short))}" target="_blank" rel="noopener">'
                        f'打开《{render.esc(found.title)}》的目录和全文</a> {render.status_badge(found.status)}</p>')
            article = catalog.article(law, number)
        except Exception as e:
            if not isinstance(e, (NotFoundError, IndexBuildingError)):
                log.exception("article lookup failed")
            return render.error_html(error_sentence(e))
        from ..answer import Citation

        html = render.card_html(Citation(1, article), "pufa-lookup-1", open_=True)
        if article.status == STATUS_REPEALED:
            hits = services.retriever.counterparts(article, k=2)
            for i, hit in enumerate(hits, 2):
                html += render.card_html(Citation(i, hit.article, replaces=article.citation()), f"pufa-lookup-{i}", open_=True)
        return html


def building_banner(runtime: Runtime) -> str:
    progress = f"（{render.esc(runtime.progress)}）" if runtime.progress else ""
    if runtime.state == "error":
        return f'<p class="pufa-building" role="alert">{render.esc(runtime.error)}。请查看服务器日志。</p>'
    return (f'<p class="pufa-building" role="status">正在建立索引{progress}，首次启动约需半分钟。'
            "建好后即可提问，本页会自动更新。</p>")


def disclaimer(settings: Settings) -> str:
    return (f'<p class="pufa-disclaimer">信息仅供参考，不构成法律意见；具体问题请咨询{render.esc(settings.bureau_name)}，'
            "或拨打 12348 公共法律服务热线。</p>")


def build_blocks(handlers: ChatHandlers, settings: Settings) -> gr.Blocks:
    runtime = handlers.runtime
    with gr.Blocks(title="普法助手") as demo:
        gr.HTML('<h1 style="margin:0.2em 0">普法助手 <span style="font-size:0.6em;font-weight:400">生态环境法律法规问答</span></h1>'
                + disclaimer(settings), elem_id="pufa-header")
        banner = gr.HTML(building_banner(runtime), visible=not runtime.ready, elem_id="pufa-building")
        timer = gr.Timer(2.0, active=not runtime.ready)
        with gr.Tabs():
            with gr.Tab("问答", id="chat", elem_id="pufa-tab-chat"):
                persona = gr.Radio(PERSONA_CHOICES, value="enterprise", label="我是", elem_id="pufa-persona")
                chatbot = gr.Chatbot(label="对话", elem_id="pufa-chat", height=560, buttons=[],
                                     feedback_options=("Like", "Dislike"), autoscroll=True,
                                     placeholder="请在下方输入问题，或点一个示例问题。每个回答都会列出所依据的条文。")
                with gr.Row(equal_height=True):
                    question = gr.Textbox(label="您的问题", placeholder="例如：未批先建会罚多少？（按 Enter 发送）",
                                          lines=1, max_lines=4, scale=5, elem_id="pufa-question",
                                          max_length=settings.max_question_chars)
                    send = gr.Button("提问", variant="primary", scale=1, elem_id="pufa-send")
                with gr.Row():
                    new = gr.Button("新对话", elem_id="pufa-new", size="sm")
                    copy = gr.Button("复制最新回答", elem_id="pufa-copy", size="sm")
                copy_text = gr.Textbox(visible=False, elem_id="pufa-copy-text")
                gr.Markdown("**示例问题**")
                with gr.Row(elem_id="pufa-examples"):
                    example_buttons = [gr.Button(q, size="sm", variant="secondary")
                                       for q in EXAMPLES["enterprise"] + EXAMPLES["public"][:2]]
                fb_status = gr.Markdown("", elem_id="pufa-fb-status")
                with gr.Group(visible=False, elem_id="pufa-fb-panel") as fb_panel:
                    reason = gr.Radio(list(REASONS), label="原因（可选）", elem_id="pufa-fb-reason")
                    comment = gr.Textbox(label="补充说明（可选）", max_lines=4, max_length=2000, elem_id="pufa-fb-comment")
                    fb_submit = gr.Button("提交反馈", elem_id="pufa-fb-submit", size="sm")
            with gr.Tab("条文查询", id="lookup", elem_id="pufa-tab-lookup"):
                gr.HTML('<p>按法律名称和条号查看条文；<a href="/browse" target="_blank" rel="noopener">打开条文浏览器</a>'
                        "（全部法律法规、目录和全文）。</p>")
                with gr.Row():
                    law_box = gr.Textbox(label="法律名称或简称", placeholder="如 大气法、法典、行政处罚法", elem_id="pufa-law", scale=3)
                    num_box = gr.Textbox(label="条号（可选）", placeholder="如 99、九十九、第二十条之一", elem_id="pufa-num", scale=2)
                    go = gr.Button("查看", variant="primary", elem_id="pufa-lookup-go", scale=1)
                lookup_out = gr.HTML(elem_id="pufa-lookup-out")
            add_handout_tab(runtime)

        conv = gr.State([])
        feedback_id = gr.State(None)
        outputs = [chatbot, conv, copy_text, question]
        chat_kw = dict(concurrency_limit=settings.queue_concurrency, concurrency_id="chat", show_progress="minimal")
        question.submit(handlers.respond, [question, persona, chatbot, conv], outputs, api_name="chat", **chat_kw)
        send.click(handlers.respond, [question, persona, chatbot, conv], outputs, api_name=False, **chat_kw)
        for btn in example_buttons:
            btn.click(lambda q: q, btn, question, queue=False, api_name=False).then(
                handlers.respond, [question, persona, chatbot, conv], outputs, api_name=False, **chat_kw)
        new.click(handlers.new_chat, None, [chatbot, conv, copy_text, question], queue=False, api_name=False).then(
            lambda: (gr.update(visible=False), "", None, ""), None, [fb_panel, fb_status, feedback_id, comment],
            queue=False, api_name=False)
        copy.click(None, copy_text, fb_status, api_name=False, js=COPY_JS)

        def on_like(conv_value, data: gr.LikeData):
            index = data.index if isinstance(data.index, int) else data.index[0]
            new_conv, fid, message = handlers.rate(conv_value, index, bool(data.liked))
            return new_conv, fid, message, gr.update(visible=fid is not None), None, ""

        chatbot.like(on_like, conv, [conv, feedback_id, fb_status, fb_panel, reason, comment], api_name=False, queue=False)

        def on_explain(fid, reason_value, comment_value):
            return handlers.explain(fid, reason_value, comment_value), gr.update(visible=False)

        fb_submit.click(on_explain, [feedback_id, reason, comment], [fb_status, fb_panel], api_name=False, queue=False)
        go.click(handlers.lookup, [law_box, num_box], lookup_out, api_name="article")
        num_box.submit(handlers.lookup, [law_box, num_box], lookup_out, api_name=False)
        law_box.submit(handlers.lookup, [law_box, num_box], lookup_out, api_name=False)

        def poll():
            ready = runtime.ready
            return gr.update(value=building_banner(runtime), visible=not ready), gr.Timer(active=not ready)

        timer.tick(poll, None, [banner, timer], api_name=False, queue=False)
        demo.load(poll, None, [banner, timer], api_name=False, queue=False)
    demo.queue(default_concurrency_limit=settings.queue_concurrency)
    return demo


def theme() -> gr.themes.Base:
    """Gradio's default theme with primary buttons dark enough for white text (contrast >= 4.5:1)."""
    return gr.themes.Default(primary_hue="blue").set(
        button_primary_background_fill="*primary_700", button_primary_background_fill_hover="*primary_800",
        button_primary_background_fill_dark="*primary_700", button_primary_background_fill_hover_dark="*primary_800",
        button_primary_text_color="white", button_primary_text_color_dark="white")


def mount(app, demo: gr.Blocks, settings: Settings, css_path) -> Any:
    """Mount the Blocks at / of the FastAPI app (no footer links, no run history, no share link)."""
    return gr.mount_gradio_app(app, demo, path="/", footer_links=[], css_paths=[css_path],
                               theme=theme(), run_history=False,
                               server_name=settings.host, server_port=settings.port)


# Copy the latest answer's plain text; navigator.clipboard needs a secure context (https or localhost),
# so fall back to a hidden textarea elsewhere. Returns the status line's new text.
COPY_JS = """
(text) => {
  if (!text) { return "还没有可复制的回答。"; }
  const fallback = () => {
    const area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } catch (e) {}
    document.body.removeChild(area);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).catch(fallback);
  } else { fallback(); }
  return "已复制最新回答（含来源条文）。";
}
"""
