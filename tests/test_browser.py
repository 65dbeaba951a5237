"""The chat UI and the widget in a real headless Chromium (Debian's), driven by Playwright.

One test per finding of the "new user" review (issue 11), numbered as there. Screenshots go to
test-artifacts/ (gitignored) on every run: chat-desktop.png (1366×800), chat-phone.png (390×844),
chat-dark.png, chat-followup.png, widget-desktop.png, widget-phone.png, widget-cors-error.png,
docs-offline.png.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT
from servers import free_port, running_app, static_site

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
# The flags that keep Chromium from calling Google's hosts on this closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps"]
DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
# Emoji and pictographs that need an emoji font (absent on many Kylin/UOS desktops).
EMOJI = re.compile("[\u2600-\u27bf\U0001f300-\U0001faff\u2b50\u2b06\u2b07\u2934\u2935]")
ENGLISH_LABELS = {"Copy message", "Copy", "Like", "Dislike", "Clear", "Reset to default", "Reset to default value",
                  "Scroll down", "chatbot conversation", "Submit"}

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")]


@pytest.fixture(scope="module")
def site_port():
    return free_port()


@pytest.fixture(scope="module")
def feedback_log(tmp_path_factory):
    return tmp_path_factory.mktemp("feedback") / "feedback.jsonl"


@pytest.fixture(scope="module")
def app_url(built, site_port, feedback_log):
    with running_app(built, free_port(), REPORT_QA_CORS_ORIGINS=f"http://127.0.0.1:{site_port}",
                     REPORT_QA_FEEDBACK_LOG=str(feedback_log)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _context(browser, viewport=DESKTOP, **extra):
    context = browser.new_context(viewport=viewport, locale="zh-CN", **extra)
    page = context.new_page()
    page.requests = []
    page.dialogs = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    return context, page


@pytest.fixture
def page(browser):
    context, page = _context(browser)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context, page = _context(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    yield page
    context.close()


def _hosts(urls: list[str]) -> set[str]:
    return {u.split("/")[2] for u in urls if u.startswith("http")}


def _open(page, app_url: str) -> None:
    page.goto(app_url + "/")
    page.wait_for_selector("#question textarea", timeout=30000)
    page.wait_for_timeout(300)


REPLIES = "#chat .qa-answer, #chat .qa-error, #chat .qa-refusal, #chat .qa-greeting"


def _ask(page, question: str) -> None:
    """Type a question, press 提问 and wait for its reply (answer, refusal, greeting or error)."""
    before = page.locator(REPLIES).count()
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length > n", arg=[REPLIES, before],
                           timeout=30000)
    page.wait_for_timeout(300)  # the page script's scroll runs on the next animation frame


def _last(page, selector: str = ".qa-answer"):
    return page.locator(f"#chat {selector}").last


def _in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= -1 and box["y"] + min(box["height"], 40) <= size["height"]


def _votes(feedback_log: Path) -> list[dict]:
    return [json.loads(line) for line in feedback_log.read_text(encoding="utf-8").splitlines()]


def _choose_dept(page, dept: str) -> None:
    page.get_by_text("筛选与设置").click()
    page.locator("#dept input").click()
    page.get_by_role("option", name=dept, exact=True).click()
    page.keyboard.press("Escape")


# ---------------------------------------------------------------- the chat, as before


def test_chat_ui_answers_with_citations(page, app_url):
    _open(page, app_url)
    assert "工作报告问答" in page.inner_text("body")
    _ask(page, "城管局在垃圾分类上做什么")
    answer = _last(page)
    assert _in_viewport(page, answer.locator(".qa-text")) and _in_viewport(page, page.locator("#ask"))
    text = answer.inner_text()
    assert "巩固垃圾分类成效" in text and "区城管局" in text and "一是" in text
    assert any("垃圾分类" in m for m in answer.locator("mark").all_inner_texts())
    answer.locator("summary", has_text="阅读区城管局全文").first.click()
    assert "破除城市环境" in answer.inner_text()  # the department's third item, only in the full text
    page.screenshot(path=str(ARTIFACTS / "chat-desktop.png"))
    _ask(page, "那民政局呢？")  # 区民政局 says nothing on 垃圾分类: refused, with the reading shown
    assert "区民政局" in _last(page, ".qa-refusal").inner_text()
    assert _hosts(page.requests) == {app_url.split("/")[2]}


def test_tabs_keep_their_own_history(browser, app_url):
    (c1, first), (c2, second) = _context(browser), _context(browser)
    for tab in (first, second):
        _open(tab, app_url)
    _ask(first, "城管局在垃圾分类上做什么")
    _ask(second, "那民政局呢？")  # no earlier question in this tab: the department's overview
    assert "区民政局的工作要点" in _last(second).inner_text()
    assert "理解为" not in second.locator("#chat").inner_text()
    _ask(first, "那民政局呢？")  # follow-up of this tab's own question (refused: 民政局 has no 垃圾分类)
    assert "区民政局的工作要点" not in _last(first, ".qa-refusal").inner_text()
    understood = _last(first, ".qa-refusal").locator(".qa-understood").inner_text()
    assert "民政局" in understood and "垃圾分类" in understood
    c1.close()
    c2.close()


def test_xss_question_shows_as_text(page, app_url):
    _open(page, app_url)
    payload = "<img src=x onerror=alert(1)>"
    _ask(page, payload)
    assert payload in page.locator("#chat").inner_text()
    assert page.locator("#chat img[src=x]").count() == 0
    assert page.dialogs == []
    markdown_like = "a*b_c* (test) #1 - [x](y)! 1.5 it's"
    _ask(page, markdown_like)
    assert markdown_like in page.locator("#chat").inner_text()
    assert "&#x27;" not in page.locator("#chat").inner_text()


# ---------------------------------------------------------------- issue 11, item by item


def test_1_one_clear_action_resets_the_hidden_context(page, app_url):
    _open(page, app_url)
    _ask(page, "城管局在垃圾分类上做什么")
    clears = [b for b in page.locator("button:visible").all()
              if re.search(r"清空|Clear|🗑", (b.inner_text() or "") + (b.get_attribute("aria-label") or ""))]
    assert len(clears) == 1, "one clear action, not two that behave differently"
    clears[0].click()
    page.wait_for_function("document.querySelectorAll('#chat .qa-answer').length === 0")
    _ask(page, "那住建局呢？")
    reply = _last(page).inner_text()
    assert "理解为" not in reply and "垃圾分类" not in reply  # not rewritten from the cleared question
    assert "区住建局的工作要点" in reply


def test_2_feedback_only_on_answers_with_reason_confirmation_and_id(page, app_url, feedback_log):
    _open(page, app_url)
    _ask(page, "区财政局今年的预算是多少")  # a refusal, which cannot be rated
    _ask(page, "城管局在垃圾分类上做什么")
    answer = _last(page)
    answer_id = answer.get_attribute("id").removeprefix("qa-")
    page.fill("#question textarea", "")
    page.click("#ask")  # empty question: an error, which cannot be rated either
    page.wait_for_selector("#chat .qa-error")
    assert page.locator("#chat .qa-refusal").count() == 1
    assert page.locator("#chat .qa-error .qa-vote, #chat .qa-refusal .qa-vote").count() == 0
    assert page.locator("#chat .qa-vote").count() == 2  # 有用 / 有问题 on the one answer
    assert page.locator("#chat [aria-label=Like], #chat [aria-label=Dislike]").count() == 0
    answer.locator(".qa-vote-down").click()
    answer.locator(".qa-reasons label", has_text="不完整").click()
    answer.locator(".qa-reasons input[type=text]").fill("没有说明时间安排")
    answer.locator(".qa-reasons button[type=submit]").click()
    done = answer.locator(".qa-feedback-done")
    done.wait_for(timeout=10000)
    assert "已收到反馈" in done.inner_text() and "不完整" in done.inner_text()
    vote = _votes(feedback_log)[-1]
    assert vote["answer_id"] == answer_id and vote["question"] == "城管局在垃圾分类上做什么"
    assert vote["vote"] == "down" and vote["reason"] == "不完整" and vote["text"] == "没有说明时间安排"
    assert vote["citation_ids"][0].endswith("区城管局/item1")
    summary = page.request.get(app_url + "/api/feedback/summary").json()  # loopback: allowed
    row = next(r for r in summary["questions"] if r["question"] == "城管局在垃圾分类上做什么")
    assert row["down"] >= 1 and row["reasons"]["不完整"] >= 1


def test_3_copy_gives_plain_text_and_labels_have_no_html(browser, app_url):
    context, page = _context(browser)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    _open(page, app_url)
    _ask(page, "城管局在垃圾分类上做什么")
    _last(page).locator(".qa-copy").click()
    page.wait_for_function("document.querySelector('#chat .qa-copy').textContent === '已复制'")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "<" not in copied and "&" not in copied
    assert copied.startswith("区城管局：巩固垃圾分类成效")
    assert "来源：" in copied and "[1] " in copied and "区城管局 · " in copied and "一是" in copied
    assert "为全面高质量建成运河沿岸名区而努力奋斗" in copied  # the report
    labels = page.eval_on_selector_all("#chat [aria-label]", "ns => ns.map(n => n.getAttribute('aria-label'))")
    assert labels and not [label for label in labels if "<" in label or "&lt;" in label]
    context.close()


def test_4_department_filter_that_contradicts_the_question_is_named(page, app_url):
    _open(page, app_url)
    _choose_dept(page, "区住建局")
    _ask(page, "城管局在垃圾分类上做什么")
    # 区住建局 has nothing on 垃圾分类: answered or refused, the notice names the filter and the department asked
    notice = page.locator("#chat .qa-answer, #chat .qa-refusal").last.locator(".qa-notice").first.inner_text()
    assert "您选择了区住建局" in notice and "区城管局" in notice


def test_5_followup_shows_its_reading_and_departments_that_have_the_topic(page, app_url):
    _open(page, app_url)
    _ask(page, "民政局在养老方面做了什么")
    _ask(page, "那住建局呢？")
    answer = _last(page, ".qa-refusal")  # 住建局 has nothing on 养老: refused, with the reading and the notice
    understood = answer.locator(".qa-understood").inner_text()
    assert understood.startswith("理解为：") and "住建局" in understood and "养老" in understood
    notices = " ".join(answer.locator(".qa-notice").all_inner_texts())
    assert "区住建局的内容中没有提到“养老”" in notices and "区民政局" in notices
    page.screenshot(path=str(ARTIFACTS / "chat-followup.png"))


def test_6_citations_are_links_sources_open_and_only_quoted_clauses_marked(page, app_url):
    _open(page, app_url)
    _ask(page, "城管局在垃圾分类上做什么")
    answer = _last(page)
    sources = answer.locator(".source-item")
    assert sources.count() >= 3 and sources.nth(0).is_visible()  # open without a click
    assert sources.nth(0).locator("mark").count() >= 1
    for n in range(1, sources.count()):  # [2].. are only listed: no highlight
        assert sources.nth(n).locator("mark").count() == 0
    meta = sources.nth(0).inner_text()
    assert "为全面高质量建成运河沿岸名区而努力奋斗" in meta and "一是" in meta  # report, section, item
    last_source = sources.nth(sources.count() - 1)
    last_source.scroll_into_view_if_needed()
    marker = answer.locator("a.cite-ref", has_text="[1]")
    marker.scroll_into_view_if_needed()
    marker.hover()
    preview = page.locator(".qa-preview")
    preview.wait_for(timeout=5000)
    assert "区城管局" in preview.inner_text() and "垃圾分类" in preview.inner_text()
    marker.click()
    page.wait_for_timeout(200)
    assert "qa-flash" in (sources.nth(0).get_attribute("class") or "")
    assert _in_viewport(page, sources.nth(0))
    assert page.url.rstrip("/") == app_url  # the link scrolled; it did not navigate


def test_7_phone_layout_keeps_input_and_answers_in_view(phone, app_url):
    page = phone
    _open(page, app_url)
    assert _in_viewport(page, page.locator("#ask")) and _in_viewport(page, page.locator("#question textarea"))
    assert _in_viewport(page, page.locator("#clear"))
    assert _in_viewport(page, page.get_by_text("城管局在垃圾分类上做什么").first)  # examples above the fold
    assert not page.locator("#dept").is_visible()  # filters folded away
    assert page.get_by_text("筛选与设置").is_visible()
    assert page.locator("#chat label:visible", has_text="对话").count() == 0  # no floating label over messages
    page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
    _ask(page, "城管局在垃圾分类上做什么")
    assert _in_viewport(page, _last(page).locator(".qa-text"))
    _last(page).locator("a.cite-ref").first.dispatch_event("touchstart")  # long press: a preview
    page.wait_for_timeout(700)
    page.dispatch_event("body", "touchend")
    assert "垃圾分类" in page.locator(".qa-preview").inner_text()
    _last(page).locator("summary", has_text="阅读区城管局全文").first.click()
    _ask(page, "民政局在养老方面做了什么")
    assert _in_viewport(page, _last(page).locator(".qa-text")), "the new answer must land in view"
    page.screenshot(path=str(ARTIFACTS / "chat-phone-answer.png"))


def test_8_dark_mode_is_readable(browser, app_url):
    context, page = _context(browser, color_scheme="dark")
    _open(page, app_url)
    _ask(page, "城管局在垃圾分类上做什么")
    mark = _last(page).locator("mark").first
    colours = mark.evaluate("m => [getComputedStyle(m).color, getComputedStyle(m).backgroundColor]")
    assert _contrast(*colours) >= 4.5, colours
    size = _last(page).locator(".source-text").first.evaluate("n => parseFloat(getComputedStyle(n).fontSize)")
    assert size >= 14
    text_colour = _last(page).locator(".qa-text").evaluate("n => getComputedStyle(n).color")
    assert _luminance(text_colour) > 0.5  # light text on the dark theme
    page.screenshot(path=str(ARTIFACTS / "chat-dark.png"))
    context.close()


def test_9_docs_work_offline_and_the_footer_points_at_them(page, app_url):
    _open(page, app_url)
    link = page.get_by_role("link", name=re.compile("通过 API 使用"))
    assert link.get_attribute("href").endswith("/docs")
    page.goto(app_url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20000)
    assert "/api/ask" in page.inner_text("body")
    assert _hosts(page.requests) == {app_url.split("/")[2]}
    page.screenshot(path=str(ARTIFACTS / "docs-offline.png"))


def _widget_site(tmp_path: Path, app_url: str, extra: str = "") -> Path:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>intranet</title>"
        "<style>button{background:red!important;font-size:40px} div{border:5px solid lime}</style></head>"
        "<body><h1>内网首页</h1>"
        f"<script src='{app_url}/widget.js' data-title='区报告问答' data-accent='#0f766e' {extra} defer></script>"
        "</body></html>", encoding="utf-8")
    return site


W = "[data-report-qa] >> css="


def _widget_ask(page, question: str) -> None:
    box = page.locator(W + "textarea")
    box.wait_for()
    box.fill(question)
    page.keyboard.press("Enter")


def test_10_widget_names_the_cors_cause_in_chinese(page, app_url, tmp_path):
    site = _widget_site(tmp_path, app_url)
    with static_site(site, free_port()) as site_url:  # a port the app was not told to allow
        page.goto(site_url + "/")
        page.locator(W + ".fab").click()
        _widget_ask(page, "城管局在垃圾分类上做什么")
        error = page.locator(W + ".error")
        error.wait_for(timeout=15000)
        text = error.inner_text()
        assert "本页面不在允许的来源中" in text and "--cors-origin" in text and site_url in text
        assert "Failed to fetch" not in text
        page.screenshot(path=str(ARTIFACTS / "widget-cors-error.png"))


def test_10_widget_typing_indicator_clickable_citations_answer_in_view(page, app_url, site_port, tmp_path,
                                                                     feedback_log):
    site = _widget_site(tmp_path, app_url, "data-report='为全面高质量建成运河沿岸名区而努力奋斗'")
    held, bodies = [], []

    def hold(route):
        bodies.append(json.loads(route.request.post_data or "{}"))
        held.append(route)

    with static_site(site, site_port) as site_url:
        page.goto(site_url + "/")
        fab = page.locator(W + ".fab")
        fab.wait_for(timeout=15000)
        assert "区报告问答" in fab.inner_text() and not EMOJI.search(fab.inner_text())
        assert page.evaluate("getComputedStyle(document.querySelector('[data-report-qa]').shadowRoot"
                             ".querySelector('.fab')).backgroundColor") == "rgb(15, 118, 110)"
        fab.focus()
        page.keyboard.press("Enter")  # keyboard opens the panel
        page.route("**/api/ask", hold)
        _widget_ask(page, "城管局在垃圾分类上做什么")
        page.locator(W + ".typing").wait_for(timeout=5000)  # visible while the answer is on its way
        assert page.locator(W + ".typing").is_visible()
        assert bodies[0]["report"] == "为全面高质量建成运河沿岸名区而努力奋斗"
        held[0].continue_()
        page.locator(W + ".cite").first.wait_for(timeout=30000)
        assert page.locator(W + ".typing").count() == 0
        answer = page.locator(W + ".msg.bot .answer").last
        log_box = page.locator(W + ".log").bounding_box()
        top = answer.bounding_box()["y"]
        assert log_box["y"] <= top <= log_box["y"] + log_box["height"] - 20, "the answer is kept in view"
        cites = page.locator(W + ".cite")
        assert cites.first.locator("mark").count() >= 1
        assert all(cites.nth(n).locator("mark").count() == 0 for n in range(1, cites.count()))
        ref = page.locator(W + "button.ref").first
        ref.hover()
        assert "垃圾分类" in page.locator(W + ".preview").inner_text()
        cites.last.scroll_into_view_if_needed()
        ref.scroll_into_view_if_needed()
        ref.click()
        assert "flash" in cites.first.get_attribute("class")
        page.locator(W + ".vote", has_text="有问题").click()
        page.locator(W + ".votes select").select_option("引用不对")
        page.locator(W + ".vote", has_text="提交").click()
        assert "已收到反馈" in page.locator(W + ".done").inner_text(timeout=10000)
        vote = _votes(feedback_log)[-1]
        assert vote["reason"] == "引用不对" and vote["question"] == "城管局在垃圾分类上做什么"
        page.screenshot(path=str(ARTIFACTS / "widget-desktop.png"))
        page.set_viewport_size({"width": 375, "height": 740})
        panel = page.locator(W + ".panel")
        assert panel.bounding_box()["width"] <= 375
        page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
        page.keyboard.press("Escape")
        assert panel.is_hidden()
    assert _hosts(page.requests) <= {app_url.split("/")[2], site_url.split("/")[2]}


def test_11_long_question_kept_greeting_chinese_labels_no_emoji_examples_first(page, app_url):
    _open(page, app_url)
    first_example = page.get_by_text("城管局在垃圾分类上做什么").first
    assert _in_viewport(page, first_example)
    order = page.evaluate("document.querySelector('#question textarea')"
                          ".compareDocumentPosition(document.querySelector('#chat'))")
    assert order & 4, "the input comes before the messages in tab order"
    long_question = "城管局" * 200
    page.fill("#question textarea", long_question)
    page.click("#ask")
    page.wait_for_selector("#chat .qa-error")
    assert "问题过长" in page.locator("#chat .qa-error").inner_text()
    assert page.input_value("#question textarea") == long_question
    _ask(page, "你好")
    greeting = _last(page, ".qa-greeting").inner_text()
    assert "您好" in greeting and "报告中没有提到" not in greeting and "城管局在垃圾分类上做什么" in greeting
    _ask(page, "城管局在垃圾分类上做什么")
    page.get_by_text("筛选与设置").click()
    labels = page.eval_on_selector_all(
        "[aria-label], [title]", "ns => ns.filter(n => n.offsetParent !== null)"
        ".map(n => n.getAttribute('aria-label') || n.getAttribute('title'))")
    assert not ENGLISH_LABELS & set(labels), labels
    assert not [label for label in labels if re.search(r"\b(for|input|slider|message|default)\b", label or "")], labels
    buttons = page.eval_on_selector_all("button", "ns => ns.filter(n => n.offsetParent !== null)"
                                        ".map(n => n.innerText.trim())")
    assert not ENGLISH_LABELS & set(buttons), buttons
    assert not EMOJI.search(page.inner_text("body"))


def test_embed_demo_page(page, app_url):
    page.goto(app_url + "/embed-demo")
    page.locator(W + ".fab").wait_for(timeout=15000)
    assert _hosts(page.requests) == {app_url.split("/")[2]}


def _luminance(colour: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", colour)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


# ---------------------------------------------------------------- issue 17, item 2: the chat follows a hot reload


def _dept_list(page) -> str:
    return page.get_by_text(re.compile(r"涉及 \d+ 个部门")).inner_text(timeout=5000)


def test_the_chat_follows_a_hot_reload(browser, model_dir, tmp_path):
    """A report added while the app runs: a page loaded afterwards shows it in the header, the report selector
    and the department list, and answers from its department; a page already open catches up after its
    next question."""
    import shutil
    import time
    import urllib.request

    from qa.config import Settings
    from qa.pipeline import answer_models
    from qa.search.index import build_index

    corpus = tmp_path / "corpus"
    shutil.copytree(PROJECT_ROOT / "corpus", corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model_dir=model_dir,
                        cache_dir=Settings.from_env().cache_dir)
    build_index(settings, answer_models(), progress=False)
    with running_app(settings, free_port(), REPORT_QA_FEEDBACK_LOG=str(tmp_path / "fb.jsonl")) as url:
        (c1, before), (c2, after) = _context(browser), _context(browser)
        _open(before, url)
        before.get_by_text("筛选与设置").click()  # the department list is in the filters, rendered once opened
        assert "区交通运输局" not in _dept_list(before)
        assert not before.locator("#report").is_visible()  # one report: no selector
        shutil.copy(PROJECT_ROOT / "eval" / "library" / "linjiang-departments-plan-2023.txt", corpus)
        build_index(settings, answer_models(), progress=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # each request lets the app look for the new index
            with urllib.request.urlopen(url + "/healthz", timeout=10) as r:
                if len(json.loads(r.read())["index"]["reports"]) == 2:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the app did not switch to the rebuilt index")
        _open(after, url)  # a fresh page load
        assert "临江区2023年部门重点工作计划汇编" in after.inner_text("#intro")
        _choose_dept(after, "区交通运输局")  # a department only the new report has
        assert "区交通运输局" in _dept_list(after) and "涉及 13 个部门" in _dept_list(after)  # 10 + 区教育局, 区卫健局, 区交通运输局
        assert after.locator("#report").is_visible()  # two reports now: the selector shows
        _ask(after, "全年计划完成多少交通基础设施投资")
        answer = _last(after).inner_text()
        assert "38亿元" in answer and "区交通运输局" in answer
        _ask(before, "城管局在垃圾分类上做什么")  # the page opened before the reload: its next question
        before.wait_for_function("document.querySelector('#intro').innerText.includes('2023年部门重点工作计划汇编')",
                                 timeout=10000)
        assert "区交通运输局" in _dept_list(before)
        c1.close()
        c2.close()
