"""The staff chat: Gradio Blocks over ``ReportQA.ask``.

Every piece of user text and every passage is escaped before it reaches the
Chatbot (which renders Markdown), so a question like ``<img src=x
onerror=alert(1)>`` shows literally. Each answer is followed by a collapsed
"来源" message (ChatMessage metadata) listing the citations with the
answering clause highlighted and the department's whole section one click
away. Chat history and the per-answer records live in ``gr.State``: one per
browser tab, never shared.
"""


import html
import json
import re
import threading
import time
from pathlib import Path

from qa.answer import Answer, Citation
from qa.pipeline import QuestionError, ReportQA, Turn

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_feedback_lock = threading.Lock()

EXAMPLES = ["城管局在垃圾分类上做什么", "哪些部门提到了重要窗口", "让外迁的企业回来", "城中村改造什么时候全部完成"]
CSS = """
.source-item { border-left: 3px solid var(--color-accent); padding-left: .6em; margin: .4em 0 .8em; }
.source-item mark { background: #ffe58f; color: inherit; padding: 0 1px; }
.source-meta { font-weight: 600; }
"""


def theme():
    import gradio as gr

    # System fonts only: nothing is fetched from outside the intranet.
    return gr.themes.Default(font=["system-ui", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def md_text(text: str) -> str:
    """Text that Markdown and HTML both show literally."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate cannot reach the browser
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False)).replace("\n", "<br>")  # quotes stay literal


def html_text(text: str) -> str:
    """Text inside an HTML block, where Markdown is not applied: HTML escaping alone."""
    return html.escape(text, quote=True)


def highlighted(citation: Citation) -> str:
    """The citation's text, escaped, with its answering clause(s) in <mark>."""
    out, pos = [], citation.start
    for s, e in citation.highlights:
        out.append(html_text(citation.text[pos - citation.start:s - citation.start]))
        out.append(f"<mark>{html_text(citation.text[s - citation.start:e - citation.start])}</mark>")
        pos = e
    out.append(html_text(citation.text[pos - citation.start:]))
    return "".join(out)


def sources_markdown(answer: Answer, qa: ReportQA) -> str:
    blocks = []
    for n, c in enumerate(answer.citations, 1):
        section = qa.paragraph(c.id)
        full = "".join(
            f"<mark>{html_text(item['text'])}</mark>" if item["id"] == c.id else html_text(item["text"])
            for item in section["items"]
        )
        blocks.append(
            f'<div class="source-item"><div class="source-meta">[{n}] {html_text(c.dept)} · {html_text(c.headline)} · '
            f"{html_text(c.item_label)}</div>\n<div>{highlighted(c)}</div>\n"
            f"<details><summary>阅读{html_text(c.dept)}全文</summary><div>{full}</div></details></div>"
        )
    return "\n\n".join(blocks)


def answer_markdown(answer: Answer) -> str:
    text = md_text(answer.answer)
    return re.sub(r"\\\[(\d+)\\\]", r"<sup>[\1]</sup>", text)


def log_feedback(path: Path, record: dict, vote: str) -> None:
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "question": record["question"],
             "answer": record["answer"], "citation_ids": record["citation_ids"], "vote": vote}
    path.parent.mkdir(parents=True, exist_ok=True)
    with _feedback_lock, open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")


def respond(qa: ReportQA, question: str, messages: list, records: list, dept: str, k: int):
    """One chat turn: returns (cleared textbox, messages, records)."""
    messages = list(messages or [])
    records = list(records or [])
    history = [Turn(r["question"], r["answer"]) for r in records]
    messages.append({"role": "user", "content": md_text(question or "")})
    try:
        answer = qa.ask(question, k=int(k), dept=None if dept in (None, "全部") else dept, history=history)
    except QuestionError as exc:
        messages.append({"role": "assistant", "content": f"⚠️ {md_text(str(exc))}"})
        return "", messages, records
    records.append({"question": question, "answer": answer.answer, "message_index": len(messages),
                    "citation_ids": [c.id for c in answer.citations], "abstained": answer.abstained})
    if answer.abstained:
        messages.append({"role": "assistant", "content": f"🤔 {md_text(answer.answer)}"})
    else:
        messages.append({"role": "assistant", "content": answer_markdown(answer)})
        messages.append({"role": "assistant", "content": sources_markdown(answer, qa),
                         "metadata": {"title": f"📄 来源（{len(answer.citations)} 条）", "status": "done"}})
    return "", messages, records


def build_ui(qa: ReportQA, config):
    import gradio as gr

    departments = qa.departments
    reports = "、".join(sorted({c.title for c in qa.index.chunks}))
    with gr.Blocks(title="报告问答 report-qa", analytics_enabled=False) as blocks:
        gr.Markdown(
            f"## 工作报告问答\n本助手只根据报告原文回答，并给出引用出处。当前报告：**{md_text(reports)}**；"
            f"涉及 {len(departments)} 个部门：{md_text('、'.join(departments))}。"
        )
        records = gr.State([])
        with gr.Row():
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(label="对话", height=560, elem_id="chat", sanitize_html=True,
                                     render_markdown=True, feedback_options=("Like", "Dislike"),
                                     buttons=["copy"], placeholder="请输入问题，例如：城管局在垃圾分类上做什么")
                with gr.Row():
                    box = gr.Textbox(show_label=False, placeholder="请输入问题（最多 500 字）", scale=6,
                                     elem_id="question", autofocus=True, submit_btn=False)
                    send = gr.Button("提问", variant="primary", scale=1, elem_id="ask")
                gr.Examples(EXAMPLES, inputs=box, label="示例问题")
            with gr.Column(scale=1, min_width=220):
                dept = gr.Dropdown(["全部", *departments], value="全部", label="部门范围", elem_id="dept")
                k = gr.Slider(1, 10, value=5, step=1, label="引用段落数", elem_id="k")
                clear = gr.Button("清空对话")
                gr.Markdown("👍/👎 反馈会记录下来，用于改进检索效果。")

        def on_submit(question, messages, recs, dept_value, k_value):
            return respond(qa, question, messages, recs, dept_value, k_value)

        inputs = [box, chatbot, records, dept, k]
        box.submit(on_submit, inputs, [box, chatbot, records], api_name=False)
        send.click(on_submit, inputs, [box, chatbot, records], api_name=False)
        clear.click(lambda: ([], []), None, [chatbot, records], api_name=False)

        def on_like(recs, data: gr.LikeData):
            index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
            record = next((r for r in reversed(recs or []) if r["message_index"] <= index), None)
            if record is not None:
                vote = "up" if data.liked is True or data.liked == "Like" else "down"
                log_feedback(config.feedback_log, record, vote)

        chatbot.like(on_like, [records], None, api_name=False)
    return blocks
