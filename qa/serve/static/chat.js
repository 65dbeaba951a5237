/*
 * The staff chat page's behaviour (qa/serve/ui.py passes it to Gradio as `head`). Gradio's sanitizer keeps only
 * plain HTML in messages (no data- attributes, no inline handlers), so this script works through ids and
 * classes with delegated listeners: [n] links scroll to their source (hover, focus or long-press previews
 * it), 复制 copies the plain text, 有用 / 有问题 post to api/feedback with an optional reason, the newest
 * reply is kept in view, and message aria-labels are plain text instead of HTML.
 */
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
  // Its own English labels (whatever the browser's language) get Chinese ones.
  var ENGLISH = { "Scroll down": "滚动到最新消息", "chatbot conversation": "对话记录", "Clear": "清空对话",
                  "Copy message": "复制", "Like": "有用", "Dislike": "有问题", "Reset to default value": "恢复默认值" };
  var ENGLISH_FOR = [[/^number input for (.*)$/, "$1（输入数字）"], [/^range slider for (.*)$/, "$1（滑块）"]];
  function relabel(root) {
    root.querySelectorAll("[aria-label]").forEach(function (node) {
      var label = node.getAttribute("aria-label");
      if (ENGLISH[label]) { node.setAttribute("aria-label", ENGLISH[label]); return; }
      for (var i = 0; i < ENGLISH_FOR.length; i++) {
        if (ENGLISH_FOR[i][0].test(label)) { node.setAttribute("aria-label", label.replace(ENGLISH_FOR[i][0], ENGLISH_FOR[i][1])); return; }
      }
      if (label.indexOf("<") < 0 && label.indexOf("&lt;") < 0) return;
      var user = /^user/i.test(label);
      var text = (node.innerText || node.textContent || "").replace(/\s+/g, " ").trim().slice(0, 400);
      node.setAttribute("aria-label", (user ? "提问：" : "回答：") + text);
    });
  }

  // Scroll the chat's own scroller to the reply; move the page only when the reply is still off screen
  // (on a phone), so on a desktop the question box stays where it is.
  function scroller(node) {
    for (var n = node.parentElement; n && n !== document.body; n = n.parentElement) {
      var overflow = getComputedStyle(n).overflowY;
      if ((overflow === "auto" || overflow === "scroll") && n.scrollHeight > n.clientHeight) return n;
    }
    return null;
  }
  function reveal(target) {
    var box = scroller(target);
    if (box) box.scrollTop += target.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
    var top = target.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight - 160) target.scrollIntoView({ block: "start" });
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
    reveal(target);
  }
  var observer = new MutationObserver(function () { window.requestAnimationFrame(keepInView); });
  var pending = false;
  var pageLabels = new MutationObserver(function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; relabel(document.body); });
  });
  function watch() {
    var root = chat();
    if (!root) { setTimeout(watch, 200); return; }
    observer.observe(root, { childList: true, subtree: true, attributes: true, attributeFilter: ["aria-label"] });
    pageLabels.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["aria-label"] });
    relabel(document.body);
    keepInView();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch); else watch();
})();
