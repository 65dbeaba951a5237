"""The staff chat: Gradio Blocks over ``ReportQA.ask``.

Each turn is one user message and one assistant message. The assistant message is a single HTML
block (no Markdown is applied to it): how a follow-up was understood, notices about the scope, the
answer with its ``[n]`` markers as links to the sources, a copy button, feedback buttons (answers
only, never errors or refusals) and the sources, open, each with report, section, department and
item, only the clauses the answer quotes highlighted, and the department's whole section one click
away. Every piece of user text and every passage is escaped, so ``<img onerror=…>`` shows literally.

The page's behaviour lives in qa/serve/static/chat.js, passed to Gradio as ``HEAD`` (delegated listeners,
no inline handlers: Gradio's sanitizer keeps only plain HTML), its styles in qa/serve/static/chat.css:
click a marker to scroll to its source, hover or long-press it for a preview, copy as plain text,
vote with a reason (``POST /api/feedback``), and keep the newest answer in view. Chat history lives
in ``gr.State``: one per browser tab. The header, the department and report selectors and the department
list follow the index being served (``library_updates``): on every page load and after every question.
"""

from __future__ import annotations

import html
import json
import re

from qa.answer.extractive import Answer, Citation
from qa.pipeline import EXAMPLE_QUESTIONS, QuestionError, ReportQA, Turn
from qa.serve.assets import static_text
from qa.serve.feedback import REASONS, FeedbackLog

EXAMPLES = EXAMPLE_QUESTIONS
ALL = "全部"
_MARKER = re.compile(r"\[(\d+)\]")


CSS = static_text("chat.css")
# One script for the chat page: citations, preview, copy, feedback, scrolling, plain aria-labels.
HEAD = "<script>\n" + static_text("chat.js").replace("__REASONS__", json.dumps(list(REASONS), ensure_ascii=False)) + "</script>"


def theme():
    import gradio as gr

    # System fonts only: nothing is fetched from outside the intranet.
    return gr.themes.Default(font=["system-ui", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def html_text(text: str) -> str:
    """Text inside an HTML block (where Markdown is not applied): escaped, line breaks kept."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate cannot reach the browser
    # Text nodes only: quotes stay literal, never shown as &#x27;.
    return html.escape(text, quote=False).replace("\r", "").replace("\n", "<br>")


def plain_attr(text: str) -> str:
    """Escaped text whose line breaks survive as characters (``&#10;``), not as a blank line ending the HTML block."""
    return html.escape(text, quote=True).replace("\r", "").replace("\n", "&#10;")


def quoted_numbers(answer_text: str) -> set[int]:
    """The citation numbers the answer text quotes."""
    return {int(n) for n in _MARKER.findall(answer_text)}


def highlighted(citation: Citation, marks: bool = True) -> str:
    """The citation's text, escaped, with its answering clause(s) in <mark> when ``marks``."""
    if not marks:
        return html_text(citation.text)
    out, pos = [], citation.start
    for s, e in sorted(citation.highlights):
        if s < pos or e <= s:
            continue
        out.append(html_text(citation.text[pos - citation.start:s - citation.start]))
        out.append(f"<mark>{html_text(citation.text[s - citation.start:e - citation.start])}</mark>")
        pos = e
    out.append(html_text(citation.text[pos - citation.start:]))
    return "".join(out)


def item_label(citation: Citation) -> str:
    return citation.item_label or ("导语" if citation.item_no == 0 else f"第 {citation.item_no} 条")


def citation_place(citation: Citation, section: dict | None) -> tuple[str, str]:
    """(report title, section path) for a citation; the headline when it has no section path."""
    report = citation.report or (section or {}).get("title") or citation.source
    place = " › ".join(citation.section) if citation.section else citation.headline
    return report, place


def plain_text(answer: Answer, sections: list[dict | None]) -> str:
    """What 复制 copies: the answer, then the numbered sources with report, department, item and text."""
    lines = []
    if answer.understood_as:
        lines.append(f"理解为：{answer.understood_as}")
    lines.extend(f"提示：{n}" for n in answer.notices)
    lines.append(answer.answer)
    if answer.citations:
        lines.append("")
        lines.append("来源：")
        for n, (c, section) in enumerate(zip(answer.citations, sections), 1):
            report, place = citation_place(c, section)
            lines.append(f"[{n}] {report} · {c.dept} · {place} · {item_label(c)}")
            lines.append(c.text)
    return "\n".join(lines)


def _answer_text_html(answer: Answer) -> str:
    out, pos = [], 0
    for m in _MARKER.finditer(answer.answer):
        out.append(html_text(answer.answer[pos:m.start()]))
        n = int(m.group(1))
        if 1 <= n <= len(answer.citations):
            out.append(f'<a class="cite-ref" href="#src-{answer.id}-{n}" role="button">[{n}]</a>')
        else:
            out.append(html_text(m.group(0)))
        pos = m.end()
    out.append(html_text(answer.answer[pos:]))
    return "".join(out)


def _section(qa: ReportQA, citation: Citation) -> dict | None:
    try:
        return qa.paragraph(citation.id)
    except QuestionError:
        return None


def sources_html(answer: Answer, sections: list[dict | None]) -> str:
    quoted = quoted_numbers(answer.answer)
    blocks = []
    for n, (c, section) in enumerate(zip(answer.citations, sections), 1):
        report, place = citation_place(c, section)
        full = ""
        if section:
            # The cited item is outlined in the full text; its answering clauses are marked only when quoted.
            full = "".join(
                f'<p class="source-here">{highlighted(c, marks=n in quoted)}</p>' if item["id"] == c.id
                else f"<p>{html_text(item['text'])}</p>"
                for item in section["items"]
            )
            full = f"<details class=\"source-full\"><summary>阅读{html_text(c.dept)}全文</summary>{full}</details>"
        blocks.append(
            f'<div class="source-item" id="src-{answer.id}-{n}" tabindex="-1">'
            f'<div class="source-meta">[{n}] {html_text(c.dept)} · {html_text(item_label(c))}</div>'
            f'<div class="source-section">{html_text(report)} › {html_text(place)}</div>'
            f'<div class="source-text">{highlighted(c, marks=n in quoted)}</div>{full}</div>'
        )
    return (f'<details class="qa-sources" open><summary>来源（{len(answer.citations)} 条）</summary>'
            + "".join(blocks) + "</details>")


def answer_html(answer: Answer, qa: ReportQA) -> str:
    """The assistant message for one answer, refusal or greeting: one HTML block without blank lines."""
    head = ""
    if answer.understood_as:
        head += f'<div class="qa-understood">理解为：{html_text(answer.understood_as)}</div>'
    head += "".join(f'<div class="qa-notice" role="note">{html_text(n)}</div>' for n in answer.notices)
    if answer.kind == "greeting":
        return (f'<div class="qa-greeting"><span class="qa-badge qa-badge-greeting" aria-hidden="true">i</span>'
                f"<div>{html_text(answer.answer)}</div></div>")
    if answer.abstained:
        return (f'<div class="qa-refusal"><span class="qa-badge qa-badge-refusal" aria-hidden="true">?</span>'
                f"<div>{head}{html_text(answer.answer)}</div></div>")
    sections = [_section(qa, c) for c in answer.citations]
    actions = ('<div class="qa-actions">'
               '<button type="button" class="qa-copy">复制</button>'
               '<button type="button" class="qa-vote qa-vote-up">有用</button>'
               '<button type="button" class="qa-vote qa-vote-down">有问题</button>'
               "</div>")
    return (f'<div class="qa-answer" id="qa-{answer.id}">{head}'
            f'<div class="qa-text">{_answer_text_html(answer)}</div>{actions}'
            f"{sources_html(answer, sections)}"
            f'<div class="qa-plain" hidden>{plain_attr(plain_text(answer, sections))}</div></div>')


def error_html(message: str) -> str:
    return (f'<div class="qa-error" role="alert"><span class="qa-badge qa-badge-error" aria-hidden="true">!</span>'
            f"<div>{html_text(message)}</div></div>")


def question_html(question: str) -> str:
    return f'<div class="qa-question">{html_text(question)}</div>'


def report_label(report: dict) -> str:
    """How the chat names a report in its selector: district and year before the title, when known."""
    place = "".join(str(v) for v in (report.get("district"), report.get("year") and f"{report['year']}年") if v)
    return f"{place}·{report['title']}" if place else report["title"]


def _ask_kwargs(qa: ReportQA, report: str | None) -> dict:
    """``report=`` only when a report is chosen in the selector."""
    return {"report": report} if report and report != ALL else {}


HISTORY_TURNS_SENT = 10  # well under MAX_HISTORY_TURNS (qa/pipeline.py)


def respond(qa: ReportQA, question: str, messages: list, records: list, dept: str, k: int,
            feedback: FeedbackLog | None = None, report: str | None = None):
    """One chat turn: returns (textbox value, messages, records). A rejected question stays in the box."""
    messages = list(messages or [])
    records = list(records or [])
    # The recent turns carry a follow-up's context; a long chat never reaches the history limit.
    history = [Turn(r["question"], r["answer"]) for r in records[-HISTORY_TURNS_SENT:]]
    try:
        answer = qa.ask(question, k=int(k), dept=None if dept in (None, ALL) else dept, history=history,
                        **_ask_kwargs(qa, report))
    except QuestionError as exc:
        kept = "问题仍在输入框中，修改后可重新提问。" if (question or "").strip() else ""
        messages.append({"role": "assistant", "content": error_html(f"{exc}{(' ' + kept) if kept else ''}")})
        return question or "", messages, records
    messages.append({"role": "user", "content": question_html(answer.question)})
    messages.append({"role": "assistant", "content": answer_html(answer, qa)})
    if answer.kind != "greeting":
        records.append({"question": answer.question, "answer": answer.answer, "answer_id": answer.id,
                        "abstained": answer.abstained})
    if feedback is not None:
        feedback.remember(answer)
    return "", messages, records


def library_view(qa: ReportQA) -> dict:
    """What the page shows of the library being served: the header, the department and report choices, the
    department list. Computed again on every page load and after every question, so a hot reload shows."""
    with qa.pinned() as retriever:  # one index for all four, even if a reload swaps it meanwhile
        index = retriever.index
        departments = list(index.departments)
        # (label, report id) per report; the selector shows only when there is a choice to make
        reports = [(report_label({"title": r.title, "district": r.district, "year": r.year}), r.id)
                   for r in index.reports]
        titles = "、".join(sorted({c.title for c in index.chunks}))
    return {"intro": (f'<h1>工作报告问答</h1><p class="qa-subtitle">只根据报告原文回答，并给出引用出处。'
                      f"当前报告：{html_text(titles)}</p>"),
            "departments": departments, "reports": reports,
            "dept_list": (f'<p>涉及 {len(departments)} 个部门：{html_text("、".join(departments))}。'
                          "对回答点“有用”或“有问题”会记录下来，用于改进检索效果。</p>")}


def library_updates(qa: ReportQA, dept: str | None = ALL, report: str | None = ALL) -> tuple:
    """Gradio updates of the header, the department selector, the report selector and the department list;
    a choice the new index no longer has falls back to 全部."""
    import gradio as gr

    view = library_view(qa)
    ids = [report_id for _, report_id in view["reports"]]
    return (view["intro"],
            gr.update(choices=[ALL, *view["departments"]], value=dept if dept in view["departments"] else ALL),
            gr.update(choices=[(ALL, ALL), *view["reports"]], value=report if report in ids else ALL,
                      visible=len(view["reports"]) > 1),
            view["dept_list"])


def build_ui(qa: ReportQA, config, feedback: FeedbackLog | None = None):
    import gradio as gr

    feedback = feedback if feedback is not None else FeedbackLog(config.feedback_log)
    view = library_view(qa)
    departments, reports = view["departments"], view["reports"]
    root = (getattr(config, "root_path", "") or "").rstrip("/")
    with gr.Blocks(title="报告问答 report-qa", analytics_enabled=False) as blocks:
        intro = gr.HTML(view["intro"], elem_id="intro")
        records = gr.State([])
        with gr.Row(elem_id="ask-row"):
            box = gr.Textbox(show_label=False, label="问题", placeholder="请输入问题（最多 500 字）",
                             scale=6, min_width=0, elem_id="question", autofocus=True, submit_btn=False, lines=1,
                             max_lines=4)
            send = gr.Button("提问", variant="primary", scale=1, min_width=72, elem_id="ask")
        gr.Examples(EXAMPLES, inputs=box, label="示例问题（点击填入）", examples_per_page=len(EXAMPLES))
        with gr.Accordion("筛选与设置", open=False, elem_id="filters"):
            with gr.Row():
                dept = gr.Dropdown([ALL, *departments], value=ALL, label="部门范围", elem_id="dept", min_width=160)
                report = gr.Dropdown([(ALL, ALL), *reports], value=ALL, label="报告", elem_id="report",
                                     min_width=160, visible=len(reports) > 1)
                k = gr.Slider(1, 10, value=5, step=1, label="引用段落数", elem_id="k", buttons=[], min_width=160)
            dept_list = gr.HTML(view["dept_list"], elem_id="dept-list")
        clear = gr.Button("清空对话", size="sm", elem_id="clear", variant="secondary")
        chatbot = gr.Chatbot(label="对话", show_label=False, height=520, elem_id="chat", sanitize_html=True,
                             render_markdown=True, feedback_options=None, buttons=[], autoscroll=False,
                             latex_delimiters=[], group_consecutive_messages=False,
                             placeholder="回答和引用出处会显示在这里。")
        gr.HTML(f'<p><a href="{plain_attr(root)}/docs" target="_blank" rel="noopener">通过 API 使用（接口文档）</a>'
                f' · <a href="{plain_attr(root)}/embed-demo" target="_blank" rel="noopener">网页挂件示例</a></p>',
                elem_id="footer-api")

        def on_submit(question, messages, recs, dept_value, k_value, report_value):
            turn = respond(qa, question, messages, recs, dept_value, k_value, feedback, report_value)
            return turn + library_updates(qa, dept_value, report_value)  # the library as it is after this question

        library = [intro, dept, report, dept_list]
        inputs = [box, chatbot, records, dept, k, report]
        box.submit(on_submit, inputs, [box, chatbot, records, *library], api_name=False)
        send.click(on_submit, inputs, [box, chatbot, records, *library], api_name=False)
        # Every page load shows the index being served now, not the one the app started with (hot reload).
        blocks.load(lambda: library_updates(qa), None, library, api_name=False)
        # One clear action: it empties the conversation and the hidden context follow-ups read.
        clear.click(lambda: ([], [], ""), None, [chatbot, records, box], api_name=False)
        chatbot.clear(lambda: [], None, [records], api_name=False)
    return blocks
