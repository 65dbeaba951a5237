/*
 * report-qa intranet chat widget. One tag on any page:
 *   <script src="http://HOST:7860/widget.js" defer></script>
 * Options (data- attributes on the tag): data-title, data-position ("right" | "left"),
 * data-accent (CSS colour), data-dept (department preset), data-report (report preset, sent as "report"),
 * data-question (first question).
 * Talks only to the server the script came from; no CDN, fonts or outside requests.
 * Everything lives in a Shadow DOM, so host CSS and widget CSS cannot touch each other.
 * All server text is inserted with textContent, never as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__reportQaWidget) return;
  window.__reportQaWidget = true;

  var base = new URL(".", script.src).href.replace(/\/$/, "");
  var opts = {
    title: script.dataset.title || "报告问答",
    position: script.dataset.position === "left" ? "left" : "right",
    accent: /^[#a-zA-Z0-9(),.% -]{1,40}$/.test(script.dataset.accent || "") ? script.dataset.accent : "#1d4ed8",
    dept: script.dataset.dept || "",
    report: script.dataset.report || "",
    question: script.dataset.question || ""
  };
  var history = [];

  var host = document.createElement("div");
  host.setAttribute("data-report-qa", "");
  var root = host.attachShadow({ mode: "open" });
  var side = opts.position + ": 16px;";
  root.innerHTML =
    "<style>" +
    ":host { all: initial; }" +
    "* { box-sizing: border-box; font-family: system-ui, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif; }" +
    ".fab { position: fixed; bottom: 16px; " + side + " z-index: 2147483000; border: 0; border-radius: 999px;" +
    "  padding: 12px 18px; font-size: 15px; color: #fff; background: var(--accent); cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); }" +
    ".fab:focus-visible, button:focus-visible, textarea:focus-visible, summary:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }" +
    ".panel { position: fixed; bottom: 76px; " + side + " z-index: 2147483000; width: 380px; max-width: calc(100vw - 32px);" +
    "  height: 560px; max-height: calc(100vh - 100px); display: flex; flex-direction: column; background: #fff; color: #111;" +
    "  border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3); overflow: hidden; font-size: 14px; line-height: 1.55; }" +
    ".panel[hidden] { display: none; }" +
    "header { display: flex; align-items: center; justify-content: space-between; padding: 10px 14px; color: #fff; background: var(--accent); }" +
    "header h2 { margin: 0; font-size: 16px; font-weight: 600; }" +
    "header button { background: transparent; color: #fff; border: 0; font-size: 20px; cursor: pointer; line-height: 1; }" +
    ".log { position: relative; flex: 1; overflow-y: auto; padding: 12px; background: #f8fafc; }" +
    ".msg { margin: 0 0 10px; padding: 8px 10px; border-radius: 8px; white-space: pre-wrap; word-break: break-word; }" +
    ".user { background: #e0e7ff; margin-left: 40px; }" +
    ".bot { background: #fff; border: 1px solid #e2e8f0; margin-right: 20px; }" +
    ".abstain { border-color: #fcd34d; background: #fffbeb; }" +
    ".error { border-color: #fca5a5; background: #fef2f2; }" +
    ".cite { margin-top: 8px; padding: 6px 8px; border-left: 3px solid var(--accent); background: #f1f5f9; white-space: normal; }" +
    ".meta { font-weight: 600; font-size: 13px; }" +
    "mark { background: #fde68a; color: #1f2937; }" +
    ".ref { border: 0; background: none; padding: 0 2px; margin: 0; font: inherit; font-size: 12px; font-weight: 700;" +
    "  vertical-align: super; line-height: 1; color: var(--accent); cursor: pointer; }" +
    ".cite.flash { background: #fef3c7; }" +
    ".note { margin: 0 0 6px; padding: 4px 8px; border-left: 3px solid #d97706; background: #fffbeb; white-space: normal; }" +
    ".understood { margin: 0 0 4px; color: #475569; font-size: 13px; white-space: normal; }" +
    ".where { color: #475569; font-size: 12px; }" +
    ".votes { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 6px 0 2px; white-space: normal; }" +
    ".vote { border: 1px solid #cbd5e1; border-radius: 6px; background: #fff; color: #111; padding: 2px 10px; font-size: 13px; cursor: pointer; }" +
    ".votes select { font-size: 13px; padding: 2px; border: 1px solid #cbd5e1; border-radius: 6px; background: #fff; color: #111; }" +
    ".done { color: #15803d; font-weight: 600; font-size: 13px; } .fail { color: #b91c1c; font-size: 13px; }" +
    "details p { margin: 4px 0; } details p.here { border-left: 3px solid var(--accent); padding-left: 6px; }" +
    ".typing { display: inline-flex; gap: 4px; align-items: center; }" +
    ".typing i { width: 7px; height: 7px; border-radius: 50%; background: #64748b; animation: qa-blink 1s infinite ease-in-out; }" +
    ".typing i:nth-child(2) { animation-delay: .15s; } .typing i:nth-child(3) { animation-delay: .3s; }" +
    "@keyframes qa-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }" +
    ".preview { position: absolute; z-index: 5; left: 12px; right: 12px; padding: 8px 10px; border-radius: 8px; background: #fff;" +
    "  color: #111; border: 1px solid #cbd5e1; box-shadow: 0 6px 20px rgba(0,0,0,.2); font-size: 13px; white-space: normal; }" +
    ".fab svg { width: 18px; height: 18px; vertical-align: -3px; margin-right: 6px; fill: currentColor; }" +
    ".badge { display: inline-block; width: 18px; height: 18px; margin-right: 6px; border-radius: 50%; color: #fff; background: #b91c1c;" +
    "  font-weight: 700; font-size: 12px; line-height: 18px; text-align: center; }" +
    "details { margin-top: 4px; } summary { cursor: pointer; color: var(--accent); }" +
    "form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e2e8f0; background: #fff; }" +
    "textarea { flex: 1; resize: none; height: 44px; padding: 8px; font-size: 14px; border: 1px solid #cbd5e1; border-radius: 8px; color: #111; background: #fff; }" +
    "form button { border: 0; border-radius: 8px; padding: 0 14px; color: #fff; background: var(--accent); font-size: 14px; cursor: pointer; }" +
    "form button[disabled] { opacity: .6; cursor: wait; }" +
    "@media (max-width: 480px) { .panel { left: 8px; right: 8px; width: auto; max-width: none; bottom: 68px; height: calc(100vh - 84px); } }" +
    "</style>" +
    '<button class="fab" type="button" aria-haspopup="dialog" aria-expanded="false"></button>' +
    '<section class="panel" role="dialog" aria-modal="false" hidden>' +
    '  <header><h2></h2><button type="button" class="close" aria-label="关闭">×</button></header>' +
    '  <div class="log" role="log" aria-live="polite"></div>' +
    '  <form><textarea aria-label="问题" maxlength="500" placeholder="请输入问题，回车发送"></textarea>' +
    '  <button type="submit">提问</button></form>' +
    "</section>";
  host.style.setProperty("--accent", opts.accent);
  root.host.style.setProperty("--accent", opts.accent);

  var fab = root.querySelector(".fab");
  var panel = root.querySelector(".panel");
  var log = root.querySelector(".log");
  var form = root.querySelector("form");
  var input = root.querySelector("textarea");
  var submit = form.querySelector("button");
  // Inline SVG, not an emoji: many intranet desktops have no emoji font.
  fab.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  fab.appendChild(document.createTextNode(opts.title));
  root.querySelector("h2").textContent = opts.title;
  panel.setAttribute("aria-label", opts.title);

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function numeral(n) {
    var d = "零一二三四五六七八九";
    if (n < 10) return d[n];
    var tens = Math.floor(n / 10), ones = n % 10;
    return (tens === 1 ? "" : d[tens]) + "十" + (ones ? d[ones] : "");
  }

  function open(state) {
    panel.hidden = !state;
    fab.setAttribute("aria-expanded", String(state));
    if (state) input.focus(); else fab.focus();
  }

  // The answer quotes clauses of the citations verbatim: "部门：clause。clause。[n]".
  function clausesFor(answer, n) {
    var out = [];
    answer.split("\n").forEach(function (line) {
      var marker = "[" + n + "]";
      if (line.slice(-marker.length) !== marker) return;
      var body = line.slice(0, -marker.length);
      var colon = body.indexOf("：");
      if (colon >= 0) body = body.slice(colon + 1);
      body.split("。").forEach(function (part) { if (part.trim().length > 1) out.push(part.trim()); });
    });
    return out;
  }

  function highlighted(text, clauses) {
    var frag = document.createDocumentFragment();
    var spans = [];
    clauses.forEach(function (clause) {
      var at = text.indexOf(clause);
      if (at >= 0) spans.push([at, at + clause.length]);
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var pos = 0;
    spans.forEach(function (span) {
      if (span[0] < pos) return;
      frag.appendChild(document.createTextNode(text.slice(pos, span[0])));
      frag.appendChild(el("mark", "", text.slice(span[0], span[1])));
      pos = span[1];
    });
    frag.appendChild(document.createTextNode(text.slice(pos)));
    return frag;
  }

  function fullText(details, citation, clauses) {
    var loaded = false;
    details.addEventListener("toggle", function () {
      if (!details.open || loaded) return;
      loaded = true;
      var body = el("div", "", "加载中…");
      details.appendChild(body);
      fetch(base + "/api/paragraph?id=" + encodeURIComponent(citation.id))
        .then(function (r) { return r.json(); })
        .then(function (section) {
          body.textContent = "";
          section.items.forEach(function (item) {
            var para = el("p", item.id === citation.id ? "here" : "");
            // The cited item is outlined; only the clauses the answer quotes are marked.
            para.appendChild(item.id === citation.id ? highlighted(item.text, clauses) : document.createTextNode(item.text));
            body.appendChild(para);
          });
        })
        .catch(function () { body.textContent = "无法加载全文"; });
    });
  }

  var preview = null;
  function hidePreview() { if (preview) { preview.remove(); preview = null; } }
  function showPreview(ref, cite) {
    hidePreview();
    preview = el("div", "preview");
    preview.setAttribute("role", "tooltip");
    preview.appendChild(cite.querySelector(".meta").cloneNode(true));
    preview.appendChild(cite.querySelector(".quote").cloneNode(true));
    log.appendChild(preview);
    var top = ref.offsetTop + ref.offsetHeight + 4;
    if (top + preview.offsetHeight > log.scrollTop + log.clientHeight) top = Math.max(0, ref.offsetTop - preview.offsetHeight - 4);
    preview.style.top = top + "px";
  }

  // "[n]" in the answer becomes a button that scrolls to source n; hover, focus or long-press previews it.
  function answerText(text, cites) {
    var frag = document.createDocumentFragment();
    var re = /\[(\d+)\]/g, pos = 0, m;
    while ((m = re.exec(text))) {
      var n = parseInt(m[1], 10), cite = cites[n - 1];
      frag.appendChild(document.createTextNode(text.slice(pos, m.index)));
      if (cite) {
        var ref = el("button", "ref", "[" + n + "]");
        ref.type = "button";
        ref.setAttribute("aria-label", "来源 " + n);
        (function (ref, cite) {
          ref.addEventListener("click", function () {
            hidePreview();
            cite.scrollIntoView({ block: "nearest" });
            cite.classList.add("flash");
            cite.focus({ preventScroll: true });
            setTimeout(function () { cite.classList.remove("flash"); }, 1600);
          });
          ref.addEventListener("mouseenter", function () { showPreview(ref, cite); });
          ref.addEventListener("mouseleave", hidePreview);
          ref.addEventListener("focus", function () { showPreview(ref, cite); });
          ref.addEventListener("blur", hidePreview);
          var timer = null;
          ref.addEventListener("touchstart", function () { timer = setTimeout(function () { showPreview(ref, cite); }, 450); }, { passive: true });
          ref.addEventListener("touchend", function () { clearTimeout(timer); });
        })(ref, cite);
        frag.appendChild(ref);
      } else {
        frag.appendChild(document.createTextNode(m[0]));
      }
      pos = m.index + m[0].length;
    }
    frag.appendChild(document.createTextNode(text.slice(pos)));
    return frag;
  }

  function showAnswer(data) {
    var box = el("div", "msg bot" + (data.abstained ? " abstain" : ""));
    if (data.understood_as) box.appendChild(el("div", "understood", "理解为：" + data.understood_as));
    (data.notices || []).forEach(function (note) { box.appendChild(el("div", "note", note)); });
    var body = el("div", "answer");
    box.appendChild(body);
    var quoted = {};
    (data.answer.match(/\[\d+\]/g) || []).forEach(function (m) { quoted[m] = true; });
    var cites = (data.citations || []).map(function (c, i) {
      var cite = el("div", "cite");
      cite.tabIndex = -1;
      var label = c.item_no > 0 ? numeral(c.item_no) + "是" : "导语";
      cite.appendChild(el("div", "meta", "[" + (i + 1) + "] " + c.dept + " · " + label));
      var section = Array.isArray(c.section) && c.section.length ? c.section.join(" › ") : c.headline;
      cite.appendChild(el("div", "where", (c.report ? c.report + " › " : "") + section));
      var text = el("div", "quote");
      // Only the clauses the answer quotes are highlighted; a source only listed gets none.
      var clauses = quoted["[" + (i + 1) + "]"] ? clausesFor(data.answer, i + 1) : [];
      text.appendChild(highlighted(c.text, clauses));
      cite.appendChild(text);
      var details = el("details");
      details.appendChild(el("summary", "", "阅读" + c.dept + "全文"));
      fullText(details, c, clauses);
      cite.appendChild(details);
      return cite;
    });
    body.appendChild(answerText(data.answer, cites));
    if (!data.abstained && data.id && cites.length) box.appendChild(feedbackBar(data));
    cites.forEach(function (cite) { box.appendChild(cite); });
    log.appendChild(box);
    return box;
  }

  // 有用 / 有问题 (with an optional reason) on answers only, recorded against the answer's id.
  var REASONS = ["错误", "不完整", "引用不对", "其他"];
  function feedbackBar(data) {
    var bar = el("div", "votes");
    var up = el("button", "vote", "有用"), down = el("button", "vote", "有问题");
    up.type = down.type = "button";
    bar.appendChild(up); bar.appendChild(down);
    function send(vote, reason) {
      var body = { answer_id: data.id, vote: vote };
      if (reason) body.reason = reason;
      fetch(base + "/api/feedback", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
        .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
        .then(function (res) {
          if (!res.ok) throw new Error(typeof res.data.detail === "string" ? res.data.detail : "反馈未能保存");
          bar.textContent = "";
          var done = el("span", "done", "已收到反馈：" + (vote === "up" ? "有用" : "有问题") + (reason ? "（" + reason + "）" : "") + "，谢谢！");
          done.setAttribute("role", "status");
          done.tabIndex = -1;
          bar.appendChild(done);
          done.focus({ preventScroll: true });  // the pressed button is gone: keep focus (and Escape) in the panel
        })
        .catch(function (err) {
          var note = bar.querySelector(".fail") || el("span", "fail");
          note.textContent = err && err.message && err.message !== "Failed to fetch" ? err.message : "反馈未能保存";
          bar.appendChild(note);
        });
    }
    up.addEventListener("click", function () { send("up", ""); });
    down.addEventListener("click", function () {
      if (bar.querySelector("select")) return;
      var pick = el("select");
      pick.setAttribute("aria-label", "哪里有问题");
      pick.appendChild(el("option", "", "原因（可选）")).value = "";
      REASONS.forEach(function (r) { pick.appendChild(el("option", "", r)).value = r; });
      var ok = el("button", "vote", "提交");
      ok.type = "button";
      ok.addEventListener("click", function () { send("down", pick.value); });
      bar.appendChild(pick); bar.appendChild(ok);
      pick.focus();
    });
    return bar;
  }

  // Keep the start of the newest reply (or the question before it) at the top of the log.
  function reveal(node) {
    var target = node.previousElementSibling && node.previousElementSibling.classList.contains("user") ? node.previousElementSibling : node;
    log.scrollTop = Math.max(0, target.offsetTop - 8);
  }

  function showError(text) {
    var box = el("div", "msg bot error");
    box.setAttribute("role", "alert");
    box.appendChild(el("span", "badge", "!"));
    box.appendChild(document.createTextNode(text));
    log.appendChild(box);
    return box;
  }

  // A fetch that fails outright is either a CORS refusal (the server answers, but not to this page)
  // or an unreachable server: a no-cors request for the script itself tells them apart.
  function explainFailure() {
    var here = location.origin;
    if (new URL(base).origin === here) return Promise.resolve("无法连接问答服务（" + base + "）：请检查服务是否在运行。");
    return fetch(base + "/widget.js", { mode: "no-cors", cache: "no-store" }).then(
      function () { return "本页面不在允许的来源中：请管理员用 --cors-origin 添加 " + here + "（问答服务：" + base + "）。"; },
      function () { return "无法连接问答服务（" + base + "）：请检查服务是否在运行、网络是否连通。"; });
  }

  function ask(question) {
    question = question.trim();
    if (!question) return;
    log.appendChild(el("div", "msg user", question));
    submit.disabled = true;
    var typing = el("div", "msg bot typing-msg");
    typing.setAttribute("role", "status");
    var dots = el("span", "typing");
    dots.setAttribute("aria-label", "正在查找答案");
    dots.appendChild(el("i")); dots.appendChild(el("i")); dots.appendChild(el("i"));
    typing.appendChild(dots);
    typing.appendChild(document.createTextNode(" 正在查找答案…"));
    log.appendChild(typing);
    log.scrollTop = log.scrollHeight;
    var body = { question: question, k: 3, history: history.slice(-5) };
    if (opts.dept) body.dept = opts.dept;
    if (opts.report) body.report = opts.report;
    fetch(base + "/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    })
      .then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, status: r.status, data: data }; },
                             function () { return { ok: false, status: r.status, data: {} }; });
      })
      .then(function (res) {
        typing.remove();
        if (!res.ok) {
          var error = new Error(typeof res.data.detail === "string" ? res.data.detail : "请求失败（" + res.status + "）");
          error.server = true;
          throw error;
        }
        history.push({ question: question, answer: res.data.answer });
        reveal(showAnswer(res.data));
      })
      .catch(function (err) {
        typing.remove();
        if (err && err.server) { reveal(showError(err.message)); return; }
        return explainFailure().then(function (text) { reveal(showError(text)); });
      })
      .then(function () {
        submit.disabled = false;
      });
  }

  fab.addEventListener("click", function () { open(panel.hidden); });
  root.querySelector(".close").addEventListener("click", function () { open(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") open(false); });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var q = input.value;
    input.value = "";
    ask(q);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });

  function mount() {
    document.body.appendChild(host);
    if (opts.question) { open(true); ask(opts.question); }
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
