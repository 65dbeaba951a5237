"""The staff chat: Gradio Blocks over ``ReportQA.ask``.

Each turn is one user message and one assistant message. The assistant message is a single HTML
block (no Markdown is applied to it): how a follow-up was understood, notices about the scope, the
answer with its ``[n]`` markers as links to the sources, a copy button, feedback buttons (answers
only, never errors or refusals) and the sources, open, each with report, section, department and
item, only the clauses the answer quotes highlighted, and the department's whole section one click
away. Every piece of user text and every passage is escaped, so ``<img onerror=…>`` shows literally.

The behaviour of the links and buttons lives in ``HEAD`` (one script, delegated listeners, no
inline handlers: Gradio's sanitizer keeps only plain HTML): click a marker to scroll to its source,
hover or long-press it for a preview, copy as plain text, vote with a reason (``POST /api/feedback``),
and keep the newest answer in view. Chat history lives in ``gr.State``: one per browser tab.
"""

from __future__ import annotations

import html
import inspect
import re

from qa.answer import Answer, Citation
from qa.feedback import REASONS, FeedbackLog
from qa.pipeline import EXAMPLE_QUESTIONS, QuestionError, ReportQA, Turn

EXAMPLES = EXAMPLE_QUESTIONS
ALL = "全部"
_MARKER = re.compile(r"\[(\d+)\]")

CSS = """
.gradio-container { max-width: 1100px !important; margin: 0 auto !important; }
#intro p { margin: 0; }
#intro h1 { margin: 0 0 .2em; font-size: 1.4em; }
#ask-row { flex-wrap: nowrap !important; align-items: stretch; gap: 8px; }
#ask-row > * { min-width: 0 !important; }
#ask { min-width: 72px !important; max-width: 120px; }
#chat .qa-answer, #chat .qa-error, #chat .qa-refusal, #chat .qa-greeting { font-size: 15px; line-height: 1.65; }
.qa-understood { color: var(--body-text-color-subdued); font-size: 14px; margin-bottom: .3em; }
.qa-notice { border-left: 3px solid #d97706; background: rgba(217, 119, 6, .10); padding: .3em .6em; margin: .3em 0; }
.qa-text { margin: .2em 0 .4em; }
a.cite-ref { text-decoration: none; font-weight: 600; font-size: .8em; vertical-align: super; padding: 0 2px;
  color: var(--link-text-color, #1d4ed8); cursor: pointer; }
a.cite-ref:focus-visible, .qa-actions button:focus-visible { outline: 2px solid #f59e0b; outline-offset: 1px; }
.qa-actions { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: .3em 0 .5em; }
.qa-actions button, .qa-reasons button { border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 2px 10px; font-size: 13px; background: var(--background-fill-primary); color: var(--body-text-color);
  cursor: pointer; }
.qa-reasons { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: .2em 0 .5em; font-size: 14px; }
.qa-reasons label { display: inline-flex; gap: 3px; align-items: center; }
.qa-reasons input[type=text] { flex: 1 1 160px; min-width: 120px; padding: 2px 6px; font-size: 14px;
  border: 1px solid var(--border-color-primary); border-radius: 6px; background: var(--background-fill-primary);
  color: var(--body-text-color); }
.qa-feedback-done { color: #15803d; font-size: 14px; font-weight: 600; }
.dark .qa-feedback-done { color: #86efac; }
.qa-feedback-error { color: #b91c1c; font-size: 14px; }
.dark .qa-feedback-error { color: #fca5a5; }
.qa-sources > summary { cursor: pointer; font-weight: 600; margin: .2em 0; }
.source-item { border-left: 3px solid var(--color-accent); padding: .2em 0 .2em .6em; margin: .4em 0 .8em;
  font-size: 14px; color: var(--body-text-color); scroll-margin-top: 12px; }
.source-item.qa-flash { background: rgba(250, 204, 21, .25); transition: background .4s; }
.source-meta { font-weight: 600; }
.source-full p { margin: .3em 0; }
.source-full p.source-here { border-left: 3px solid var(--color-accent); padding-left: .5em; font-weight: 500; }
.source-section { color: var(--body-text-color); opacity: .8; font-size: 13px; }
.source-item mark, .qa-preview mark { background: #fde68a; color: #1f2937; padding: 0 1px; border-radius: 2px; }
.dark .source-item mark, .dark .qa-preview mark { background: #854d0e; color: #fef9c3; }
.qa-error, .qa-refusal, .qa-greeting { display: flex; gap: .5em; align-items: flex-start; }
.qa-badge { flex: none; display: inline-flex; align-items: center; justify-content: center; width: 1.4em;
  height: 1.4em; border-radius: 50%; font-weight: 700; font-size: 13px; line-height: 1; color: #fff; }
.qa-badge-error { background: #b91c1c; }
.qa-badge-refusal { background: #b45309; }
.qa-badge-greeting { background: #1d4ed8; }
.qa-plain { display: none !important; }
.qa-preview { position: fixed; z-index: 1000; max-width: min(420px, 90vw); padding: 8px 10px; border-radius: 8px;
  font-size: 14px; line-height: 1.55; background: var(--background-fill-primary); color: var(--body-text-color);
  border: 1px solid var(--border-color-primary); box-shadow: 0 6px 20px rgba(0, 0, 0, .25); }
#footer-api { text-align: center; font-size: 13px; }
#chat button[aria-label="清空对话"], #chat button[title="Clear"], #chat button[aria-label="Clear"] { display: none !important; }
@media (max-width: 640px) {
  .gradio-container { padding: 6px !important; }
  #intro h1 { font-size: 1.2em; }
  #intro .qa-subtitle { display: none; }
  #chat { height: 62vh !important; }
}
"""

# One script for the chat page: citations, preview, copy, feedback, scrolling, plain aria-labels.
HEAD = """
<script>
(function () {
  if (window.__reportQaChat) return;
  window.__reportQaChat = true;
  var voted = {};
  function apiUrl(path) { return new URL(path, document.baseURI.replace(/[^/]*$/, "")).href; }
  // Gradio's sanitizer drops data- attributes: ids and classes carry what the script needs.
  function answerOf(node) { return node && node.closest ? node.closest(".qa-answer") : null; }
  function answerId(box) { return box ? box.id.replace(/^qa-/, "") : ""; }
  function sourceFor(link) {
    var box = answerOf(link), target = (link.getAttribute("href") || "").replace(/^#/, "");
    return box && target ? box.querySelector('[id="' + target.replace(/"/g, "") + '"]') : null;
  }
  function chat() { return document.getElementById("chat"); }

  function openSource(link) {
    var item = sourceFor(link);
    if (!item) return;
    var list = item.closest("details");
    if (list && !list.open) list.open = true;
    item.scrollIntoView({ block: "nearest", behavior: "auto" });
    item.classList.add("qa-flash");
    setTimeout(function () { item.classList.remove("qa-flash"); }, 1600);
    item.focus({ preventScroll: true });
  }

  var preview = null;
  function hidePreview() { if (preview) { preview.remove(); preview = null; } }
  function showPreview(link) {
    hidePreview();
    var item = sourceFor(link);
    if (!item) return;
    preview = document.createElement("div");
    preview.className = "qa-preview";
    preview.setAttribute("role", "tooltip");
    var meta = item.querySelector(".source-meta"), text = item.querySelector(".source-text");
    var head = document.createElement("div");
    head.style.fontWeight = "600";
    head.textContent = meta ? meta.textContent : "";
    preview.appendChild(head);
    if (text) preview.appendChild(text.cloneNode(true));
    document.body.appendChild(preview);
    var r = link.getBoundingClientRect(), w = preview.offsetWidth, h = preview.offsetHeight;
    var left = Math.max(8, Math.min(r.left, window.innerWidth - w - 8));
    var top = r.bottom + 6 + h > window.innerHeight ? Math.max(8, r.top - h - 6) : r.bottom + 6;
    preview.style.left = left + "px";
    preview.style.top = top + "px";
  }

  function plainCopy(text, done) {
    function fallback() {
      var area = document.createElement("textarea");
      area.value = text; area.style.position = "fixed"; area.style.opacity = "0";
      document.body.appendChild(area); area.select();
      try { document.execCommand("copy"); } catch (e) {}
      area.remove(); done();
    }
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
    else fallback();
  }

  function showDone(actions, id) {
    var state = voted[id];
    if (!actions || !state) return;
    var old = actions.parentNode.querySelector(".qa-reasons");
    if (old) old.remove();
    actions.querySelectorAll(".qa-vote").forEach(function (b) { b.disabled = true; b.setAttribute("aria-disabled", "true"); });
    var note = actions.querySelector(".qa-feedback-done") || document.createElement("span");
    note.className = "qa-feedback-done";
    note.setAttribute("role", "status");
    note.textContent = "已收到反馈：" + (state.vote === "up" ? "有用" : "有问题") + (state.reason ? "（" + state.reason + "）" : "") + "，谢谢！";
    actions.appendChild(note);
  }

  function send(actions, id, vote, reason, text) {
    var body = { answer_id: id, vote: vote };
    if (reason) body.reason = reason;
    if (text) body.text = text;
    fetch(apiUrl("api/feedback"), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
      .then(function (res) {
        if (!res.ok) throw new Error(typeof res.data.detail === "string" ? res.data.detail : "反馈未能保存");
        voted[id] = { vote: vote, reason: reason };
        showDone(actions, id);
      })
      .catch(function (err) {
        var note = actions.querySelector(".qa-feedback-error") || document.createElement("span");
        note.className = "qa-feedback-error";
        note.setAttribute("role", "alert");
        note.textContent = err && err.message && err.message !== "Failed to fetch" ? err.message : "无法连接问答服务，反馈未保存";
        actions.appendChild(note);
      });
  }

  function askReason(actions, id) {
    var old = actions.parentNode.querySelector(".qa-reasons");
    if (old) { old.remove(); }
    var form = document.createElement("form");
    form.className = "qa-reasons";
    form.setAttribute("aria-label", "反馈原因");
    var title = document.createElement("span");
    title.textContent = "哪里有问题（可选）：";
    form.appendChild(title);
    REASONS.forEach(function (reason, i) {
      var label = document.createElement("label"), input = document.createElement("input");
      input.type = "radio"; input.name = "reason-" + id; input.value = reason;
      label.appendChild(input); label.appendChild(document.createTextNode(reason));
      form.appendChild(label);
    });
    var text = document.createElement("input");
    text.type = "text"; text.maxLength = 500; text.placeholder = "补充说明（可选）"; text.setAttribute("aria-label", "补充说明");
    form.appendChild(text);
    var submit = document.createElement("button");
    submit.type = "submit"; submit.textContent = "提交反馈";
    form.appendChild(submit);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var checked = form.querySelector("input[type=radio]:checked");
      send(actions, id, "down", checked ? checked.value : "", text.value.trim());
    });
    actions.parentNode.insertBefore(form, actions.nextSibling);
    var first = form.querySelector("input");
    if (first) first.focus();
  }
  var REASONS = __REASONS__;

  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a.cite-ref");
    if (link) { e.preventDefault(); e.stopPropagation(); hidePreview(); openSource(link); return; }
    var copy = e.target.closest && e.target.closest("button.qa-copy");
    if (copy) {
      var plain = answerOf(copy).querySelector(".qa-plain");
      plainCopy(plain ? plain.textContent : "", function () {
        copy.textContent = "已复制";
        setTimeout(function () { copy.textContent = "复制"; }, 2000);
      });
      return;
    }
    var vote = e.target.closest && e.target.closest("button.qa-vote");
    if (vote) {
      var box = answerOf(vote), id = answerId(box), actions = vote.closest(".qa-actions");
      if (voted[id]) { showDone(actions, id); return; }
      if (vote.classList.contains("qa-vote-up")) send(actions, id, "up", "", "");
      else askReason(actions, id);
    }
  }, true);
  document.addEventListener("mouseover", function (e) {
    var link = e.target.closest && e.target.closest("a.cite-ref");
    if (link) showPreview(link);
  });
  document.addEventListener("mouseout", function (e) {
    if (e.target.closest && e.target.closest("a.cite-ref")) hidePreview();
  });
  document.addEventListener("focusin", function (e) {
    if (e.target.matches && e.target.matches("a.cite-ref")) showPreview(e.target); else hidePreview();
  });
  var pressTimer = null;
  document.addEventListener("touchstart", function (e) {
    var link = e.target.closest && e.target.closest("a.cite-ref");
    if (!link) { hidePreview(); return; }
    pressTimer = setTimeout(function () { showPreview(link); }, 450);
  }, { passive: true });
  document.addEventListener("touchend", function () { clearTimeout(pressTimer); });
  document.addEventListener("scroll", hidePreview, true);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") hidePreview(); });

  // Gradio labels each message with its raw content (HTML here): give screen readers the plain text.
  var ENGLISH = { "Scroll down": "滚动到最新消息", "chatbot conversation": "对话记录", "Clear": "清空对话",
                  "Copy message": "复制", "Like": "有用", "Dislike": "有问题" };
  function relabel(root) {
    root.querySelectorAll("[aria-label]").forEach(function (node) {
      var label = node.getAttribute("aria-label");
      if (ENGLISH[label]) { node.setAttribute("aria-label", ENGLISH[label]); return; }
      if (label.indexOf("<") < 0 && label.indexOf("&lt;") < 0) return;
      var user = /^user/i.test(label);
      var text = (node.innerText || node.textContent || "").replace(/\\s+/g, " ").trim().slice(0, 400);
      node.setAttribute("aria-label", (user ? "提问：" : "回答：") + text);
    });
  }

  var seen = 0;
  function keepInView() {
    var root = chat();
    if (!root) return;
    relabel(root);
    var answers = root.querySelectorAll(".qa-answer, .qa-error, .qa-refusal, .qa-greeting");
    Object.keys(voted).forEach(function (id) {
      var box = document.getElementById("qa-" + id);
      if (box && !box.querySelector(".qa-feedback-done")) showDone(box.querySelector(".qa-actions"), id);
    });
    if (answers.length === seen) return;
    var grew = answers.length > seen;
    seen = answers.length;
    if (!grew) return;
    var last = answers[answers.length - 1];
    var rows = root.querySelectorAll(".message-row");
    var target = last.closest(".message-row") || last;
    for (var i = rows.length - 1; i > 0; i--) {
      if (rows[i].contains(last)) {
        var previous = rows[i - 1];
        if (previous.querySelector(".qa-question")) target = previous;
        break;
      }
    }
    target.scrollIntoView({ block: "start" });
  }
  var observer = new MutationObserver(function () { window.requestAnimationFrame(keepInView); });
  function watch() {
    var root = chat();
    if (!root) { setTimeout(watch, 200); return; }
    observer.observe(root, { childList: true, subtree: true, attributes: true, attributeFilter: ["aria-label"] });
    keepInView();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch); else watch();
})();
</script>
""".replace("__REASONS__", "[" + ", ".join(f'"{r}"' for r in REASONS) + "]")


def theme():
    import gradio as gr

    # System fonts only: nothing is fetched from outside the intranet.
    return gr.themes.Default(font=["system-ui", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def html_text(text: str) -> str:
    """Text inside an HTML block (where Markdown is not applied): escaped, line breaks kept."""
    return html.escape(text, quote=True).replace("\r", "").replace("\n", "<br>")


def plain_attr(text: str) -> str:
    """Escaped text whose line breaks survive as characters (``&#10;``), not as a blank line ending the HTML block."""
    return html.escape(text, quote=True).replace("\r", "").replace("\n", "&#10;")


def md_text(text: str) -> str:
    """Kept for callers that put text into Markdown: HTML escaping, line breaks as <br>."""
    return html_text(text)


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
    """(report title, section path) for a citation; uses the library's ``report`` / ``section`` when present."""
    report = getattr(citation, "report", None) or (section or {}).get("title") or citation.source
    path = getattr(citation, "section", None)
    if isinstance(path, (list, tuple)) and path:
        place = " › ".join(str(p) for p in path)
    else:
        place = citation.headline
    return str(report), str(place)


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


def _ask_kwargs(qa: ReportQA, report: str | None) -> dict:
    """``report=`` only when a report is chosen and ``ReportQA.ask`` takes it (the library's filter)."""
    if report and report != ALL and "report" in inspect.signature(qa.ask).parameters:
        return {"report": report}
    return {}


def respond(qa: ReportQA, question: str, messages: list, records: list, dept: str, k: int,
            feedback: FeedbackLog | None = None, report: str | None = None):
    """One chat turn: returns (textbox value, messages, records). A rejected question stays in the box."""
    messages = list(messages or [])
    records = list(records or [])
    history = [Turn(r["question"], r["answer"]) for r in records]
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


def build_ui(qa: ReportQA, config, feedback: FeedbackLog | None = None):
    import gradio as gr

    feedback = feedback if feedback is not None else FeedbackLog(config.feedback_log)
    departments = qa.departments
    reports = list(getattr(qa, "reports", None) or []) if hasattr(qa, "reports") else []
    titles = "、".join(sorted({c.title for c in qa.index.chunks}))
    root = (getattr(config, "root_path", "") or "").rstrip("/")
    with gr.Blocks(title="报告问答 report-qa", analytics_enabled=False) as blocks:
        gr.HTML(f'<h1>工作报告问答</h1><p class="qa-subtitle">只根据报告原文回答，并给出引用出处。'
                f"当前报告：{html_text(titles)}</p>", elem_id="intro")
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
                report = gr.Dropdown([ALL, *reports], value=ALL, label="报告", elem_id="report", min_width=160,
                                     visible=bool(reports))
                k = gr.Slider(1, 10, value=5, step=1, label="引用段落数", elem_id="k", buttons=[], min_width=160)
            gr.HTML(f'<p>涉及 {len(departments)} 个部门：{html_text("、".join(departments))}。'
                    "对回答点“有用”或“有问题”会记录下来，用于改进检索效果。</p>")
        clear = gr.Button("清空对话", size="sm", elem_id="clear", variant="secondary")
        chatbot = gr.Chatbot(label="对话", show_label=False, height=520, elem_id="chat", sanitize_html=True,
                             render_markdown=True, feedback_options=None, buttons=[], autoscroll=False,
                             latex_delimiters=[], group_consecutive_messages=False,
                             placeholder="回答和引用出处会显示在这里。")
        gr.HTML(f'<p><a href="{html_text(root)}/docs" target="_blank" rel="noopener">通过 API 使用（接口文档）</a>'
                f' · <a href="{html_text(root)}/embed-demo" target="_blank" rel="noopener">网页挂件示例</a></p>',
                elem_id="footer-api")

        def on_submit(question, messages, recs, dept_value, k_value, report_value):
            return respond(qa, question, messages, recs, dept_value, k_value, feedback, report_value)

        inputs = [box, chatbot, records, dept, k, report]
        box.submit(on_submit, inputs, [box, chatbot, records], api_name=False)
        send.click(on_submit, inputs, [box, chatbot, records], api_name=False)
        # One clear action: it empties the conversation and the hidden context follow-ups read.
        clear.click(lambda: ([], [], ""), None, [chatbot, records, box], api_name=False)
        chatbot.clear(lambda: [], None, [records], api_name=False)
    return blocks
