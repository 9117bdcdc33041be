"""The 培训材料 tab: staff pick a topic, an audience and a length, preview the handout, download md/docx.

`HandoutHandlers` is plain Python over `pufa.handout` (tests drive it without a browser); `add_tab`
only wires it to Gradio components and is called inside the app's `gr.Tabs()`. The handout is built
with the serving process's open index (never reopened); exports go to a per-process temporary folder
that Gradio serves as downloads, removed when the handlers are (at the latest when the process exits).
Nothing about the user is stored.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
import weakref
from pathlib import Path

import gradio as gr

from ..errors import InputError, NotFoundError
from ..handout import LENGTH_LABELS, audiences, build_handout, suggested_topics
from ..handout_export import to_docx, to_markdown
from .runtime import IndexBuildingError, Runtime

log = logging.getLogger(__name__)
FREE_TEXT = "（自定义主题，见右侧输入）"


class HandoutHandlers:
    def __init__(self, runtime: Runtime, out_dir: Path | None = None):
        self.runtime = runtime
        if out_dir is None:
            self.out_dir = Path(tempfile.mkdtemp(prefix="pufa-handouts-"))
            weakref.finalize(self, shutil.rmtree, self.out_dir, ignore_errors=True)
        else:
            self.out_dir = Path(out_dir)
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._assistant = None
        self._for = None

    def _assistant_now(self):
        services = self.runtime.services
        if self._for is not services:  # the index may have been swapped for a rebuilt one
            from ..assistant import Assistant

            self._assistant = Assistant(services.retriever, services.catalog, settings=self.runtime.settings)
            self._for = services
        return self._assistant

    def build(self, topic_choice: str, topic_text: str, audience: str, length: str):
        """(preview markdown, md file, docx file, status line)."""
        topic = (topic_text or "").strip() or ("" if topic_choice == FREE_TEXT else topic_choice or "")
        try:
            t0 = time.perf_counter()
            handout = build_handout(self._assistant_now(), topic, audience or "enterprise", length or "standard")
            markdown = to_markdown(handout)
            stem = re.sub(r"[^\w\u4e00-\u9fff-]+", "_", f"{handout.topic}_{handout.audience_label}_{handout.as_of}")
            md_path = self.out_dir / f"{stem}.md"
            md_path.write_text(markdown, encoding="utf-8")
            docx_path = to_docx(handout, self.out_dir / f"{stem}.docx")
            status = (f"已生成：{sum(len(s.provisions) for s in handout.sections)} 条重点条文、{len(handout.checklist)} 项自查、"
                      f"{len(handout.liabilities)} 行法律责任、{len(handout.quiz)} 道测验题（{time.perf_counter() - t0:.1f} 秒）。"
                      "请核对后再下载使用。")
            return markdown, str(md_path), str(docx_path), status
        except (InputError, NotFoundError, IndexBuildingError) as e:
            return "", None, None, str(e)
        except Exception:  # the page must say something in Chinese; details go to the log
            log.exception("handout failed for topic %r", topic)
            return "", None, None, "生成培训材料时出错，请稍后再试或换一个主题。"


def add_tab(runtime: Runtime) -> HandoutHandlers:
    """The 培训材料 tab; call inside `with gr.Tabs():`."""
    handlers = HandoutHandlers(runtime)
    names = [t.name for t in suggested_topics()]
    with gr.Tab("培训材料", id="handout", elem_id="pufa-tab-handout"):
        gr.Markdown("按主题生成普法培训材料：重点条文、合规自查清单、违法情形与法律责任表、知识测验（附答案）和所引条文全文。"
                    "所有内容均摘自条文原文并注明出处，导出前请核对。")
        with gr.Row():
            topic = gr.Dropdown(names + [FREE_TEXT], value=names[0], label="主题", elem_id="pufa-handout-topic", scale=2)
            free = gr.Textbox(label="或输入自定义主题", placeholder="如 危险废物转移、建设项目环评", max_length=60,
                              elem_id="pufa-handout-free", scale=2)
            audience = gr.Radio([(a.label, k) for k, a in audiences().items()], value="enterprise", label="对象",
                                elem_id="pufa-handout-audience", scale=2)
            length = gr.Radio([(v, k) for k, v in LENGTH_LABELS.items()], value="standard", label="篇幅",
                              elem_id="pufa-handout-length", scale=1)
        go = gr.Button("生成培训材料", variant="primary", elem_id="pufa-handout-go")
        status = gr.Markdown("", elem_id="pufa-handout-status")
        with gr.Row():
            md_file = gr.File(label="下载 Markdown", elem_id="pufa-handout-md", interactive=False)
            docx_file = gr.File(label="下载 Word（.docx）", elem_id="pufa-handout-docx", interactive=False)
        preview = gr.Markdown("", elem_id="pufa-handout-preview")
    go.click(handlers.build, [topic, free, audience, length], [preview, md_file, docx_file, status],
             api_name="handout", concurrency_limit=1, concurrency_id="handout")
    return handlers
