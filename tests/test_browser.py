"""The chat UI and the widget in a real headless Chromium (Debian's), driven by Playwright.

Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT
from servers import free_port, running_app, static_site

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
# The flags that keep Chromium from calling Google's hosts on this closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps"]

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


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.requests = []
    page.dialogs = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def _hosts(urls: list[str]) -> set[str]:
    return {u.split("/")[2] for u in urls if u.startswith("http")}


def _ask_in_ui(page, question: str) -> None:
    before = page.locator("#chat .message-row").count()
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .message-row').length >= n + 2", arg=before, timeout=30000)


def test_chat_ui_answers_with_citations(page, app_url):
    page.goto(app_url + "/")
    page.wait_for_selector("#question textarea", timeout=30000)
    assert "工作报告问答" in page.inner_text("body") and "区城管局" in page.inner_text("body")
    _ask_in_ui(page, "城管局在垃圾分类上做什么")
    chat = page.locator("#chat")
    chat.get_by_text("来源", exact=False).first.click()  # open the collapsed sources
    page.wait_for_selector("#chat mark")
    text = chat.inner_text()
    assert "巩固垃圾分类成效" in text and "区城管局" in text and "一是" in text
    marks = page.locator("#chat mark").all_inner_texts()
    assert any("垃圾分类" in m for m in marks)
    page.locator("#chat summary", has_text="阅读区城管局全文").first.click()
    assert "破除城市环境" in chat.inner_text()  # the department's third item, only in the full text
    page.screenshot(path=str(ARTIFACTS / "chat-answer.png"), full_page=True)
    _ask_in_ui(page, "那民政局呢？")
    assert "区民政局" in page.locator("#chat .message-row").last.inner_text()
    assert _hosts(page.requests) == {app_url.split("/")[2]}


def test_tabs_keep_their_own_history_and_votes_are_logged(browser, app_url, feedback_log):
    first, second = browser.new_page(), browser.new_page()
    for tab in (first, second):
        tab.goto(app_url + "/")
        tab.wait_for_selector("#question textarea", timeout=30000)
    _ask_in_ui(first, "城管局在垃圾分类上做什么")
    _ask_in_ui(second, "那民政局呢？")  # no earlier question in this tab: the department's overview
    assert "区民政局的工作要点" in second.locator("#chat").inner_text()
    assert "城管局在垃圾分类上做什么" not in second.locator("#chat").inner_text()
    _ask_in_ui(first, "那民政局呢？")  # follow-up of this tab's own question
    assert "区民政局的工作要点" not in first.locator("#chat").inner_text()
    first.locator("#chat").get_by_label("Like", exact=True).first.click()
    first.wait_for_timeout(1500)
    votes = [json.loads(line) for line in feedback_log.read_text(encoding="utf-8").splitlines()]
    assert votes[-1]["vote"] == "up" and votes[-1]["question"] == "城管局在垃圾分类上做什么"
    assert votes[-1]["citation_ids"][0].endswith("区城管局/item1")
    first.locator("#chat").get_by_label("Dislike", exact=True).last.click()
    first.wait_for_timeout(1500)
    votes = [json.loads(line) for line in feedback_log.read_text(encoding="utf-8").splitlines()]
    assert votes[-1]["vote"] == "down" and votes[-1]["question"] == "那民政局呢？"
    first.close()
    second.close()


def test_xss_question_shows_as_text(page, app_url):
    page.goto(app_url + "/")
    page.wait_for_selector("#question textarea", timeout=30000)
    payload = "<img src=x onerror=alert(1)>"
    _ask_in_ui(page, payload)
    page.wait_for_timeout(500)
    assert payload in page.locator("#chat").inner_text()
    assert page.locator("#chat img[src=x]").count() == 0
    assert page.dialogs == []
    markdown_like = "a*b_c* (test) #1 - [x](y)! 1.5"
    _ask_in_ui(page, markdown_like)
    assert markdown_like in page.locator("#chat").inner_text()
    page.screenshot(path=str(ARTIFACTS / "chat-xss.png"), full_page=True)


def test_widget_on_another_origin(page, app_url, site_port, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>intranet</title>"
        "<style>button{background:red!important;font-size:40px} div{border:5px solid lime}</style></head>"
        "<body><h1>内网首页</h1>"
        f"<script src='{app_url}/widget.js' data-title='区报告问答' data-accent='#0f766e' defer></script>"
        "</body></html>", encoding="utf-8")
    with static_site(site, site_port) as site_url:
        page.goto(site_url + "/")
        fab = page.locator("[data-report-qa] >> css=.fab")
        fab.wait_for(timeout=15000)
        assert "区报告问答" in fab.inner_text()
        # host page CSS does not leak in: the button keeps the accent colour
        assert page.evaluate("getComputedStyle(document.querySelector('[data-report-qa]').shadowRoot"
                             ".querySelector('.fab')).backgroundColor") == "rgb(15, 118, 110)"
        fab.focus()
        page.keyboard.press("Enter")  # keyboard opens the panel
        box = page.locator("[data-report-qa] >> css=textarea")
        box.wait_for()
        box.fill("城管局在垃圾分类上做什么")
        page.keyboard.press("Enter")
        cite = page.locator("[data-report-qa] >> css=.cite").first
        cite.wait_for(timeout=30000)
        assert "区城管局" in cite.inner_text() and "垃圾分类" in cite.inner_text()
        assert "垃圾分类" in page.locator("[data-report-qa] >> css=mark").first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "widget-desktop.png"))
        page.set_viewport_size({"width": 375, "height": 740})
        panel = page.locator("[data-report-qa] >> css=.panel")
        box_width = panel.bounding_box()["width"]
        assert box_width <= 375
        page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
        page.keyboard.press("Escape")
        assert panel.is_hidden()
    assert _hosts(page.requests) <= {app_url.split("/")[2], site_url.split("/")[2]}


def test_embed_demo_page(page, app_url):
    page.goto(app_url + "/embed-demo")
    page.locator("[data-report-qa] >> css=.fab").wait_for(timeout=15000)
    assert _hosts(page.requests) == {app_url.split("/")[2]}
