"""The JSON API through FastAPI's TestClient, with the Gradio UI mounted (real app, real index)."""

import json

import pytest
from fastapi.testclient import TestClient

from qa.config import ServerConfig
from qa.serve.api import create_app
from servers import LOCAL

ALLOWED = "http://intranet.example:8080"


@pytest.fixture(scope="module")
def client(qa, tmp_path_factory):
    config = ServerConfig(cors_origins=[ALLOWED], feedback_log=tmp_path_factory.mktemp("fb") / "feedback.jsonl")
    with TestClient(create_app(qa, config), base_url=LOCAL) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def same_origin_client(qa):
    with TestClient(create_app(qa, ServerConfig(), with_ui=False), base_url=LOCAL) as test_client:
        yield test_client


def test_ask_returns_the_cli_object(client, qa):
    r = client.post("/api/ask", json={"question": "城管局在垃圾分类上做什么", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body == qa.ask("城管局在垃圾分类上做什么", k=3).to_json()
    assert body["citations"][0]["dept"] == "区城管局" and len(body["citations"]) <= 3


def test_ask_with_dept_and_history(client):
    r = client.post("/api/ask", json={"question": "那民政局呢？",
                                      "history": [{"question": "住建局在重要窗口建设上做什么"}]})
    assert r.status_code == 200 and {c["dept"] for c in r.json()["citations"]} == {"区民政局"}
    r = client.post("/api/ask", json={"question": "那民政局呢？",
                                      "history": [{"role": "user", "content": "住建局在重要窗口建设上做什么"},
                                                  {"role": "assistant", "content": "…"}]})
    assert {c["dept"] for c in r.json()["citations"]} == {"区民政局"}
    r = client.post("/api/ask", json={"question": "垃圾分类", "dept": "城管"})
    assert {c["dept"] for c in r.json()["citations"]} == {"区城管局"}


@pytest.mark.parametrize("payload, message", [
    ({"question": ""}, "问题不能为空"),
    ({"question": "   \t"}, "问题不能为空"),
    ({"question": "问" * 501}, "问题过长"),
    ({"question": 123}, "必须是文本"),
    ({}, "Field required"),
    ({"question": "垃圾分类", "dept": "区财政局"}, "未知部门"),
    ({"question": "垃圾分类", "k": 0}, "k 必须是"),
    ({"question": "垃圾分类", "k": 100}, "k 必须是"),
    ({"question": "垃圾分类", "k": "五"}, "k 必须是"),
    ({"question": "垃圾分类", "history": "oops"}, "history"),
])
def test_user_errors_are_422_with_a_message(client, payload, message):
    r = client.post("/api/ask", json=payload)
    assert r.status_code == 422
    assert message in r.json()["detail"]


def test_malformed_json_is_422(client):
    r = client.post("/api/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "invalid request" in r.json()["detail"]


def test_search_departments_paragraph_health(client):
    r = client.get("/api/search", params={"q": "垃圾分类", "k": 3})
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    assert r.json()["results"][0]["dept"] == "区城管局"
    assert client.get("/api/search", params={"q": "", "k": 3}).status_code == 422
    assert client.get("/api/search", params={"q": "x", "k": "many"}).status_code == 422
    depts = client.get("/api/departments").json()["departments"]
    assert len(depts) == 10 and "城管" in next(d for d in depts if d["name"] == "区城管局")["aliases"]
    para = client.get("/api/paragraph", params={"id": "gongshu-departments-plenum-2020/区城管局/item1"}).json()
    assert para["dept"] == "区城管局" and [i["label"] for i in para["items"]] == ["导语", "一是", "二是", "三是"]
    assert client.get("/api/paragraph", params={"id": "nope"}).status_code == 422
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["chunks"] == 48 and health["model"]["id"] == "m3e-small"
    assert client.get("/docs").status_code == 200 and "/api/ask" in client.get("/openapi.json").json()["paths"]


def test_cors_allows_configured_origin_only(client, same_origin_client):
    preflight = {"Origin": ALLOWED, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    r = client.options("/api/ask", headers=preflight)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ALLOWED
    assert "access-control-allow-credentials" not in r.headers
    r = client.post("/api/ask", json={"question": "垃圾分类"}, headers={"Origin": ALLOWED})
    assert r.headers["access-control-allow-origin"] == ALLOWED
    evil = {**preflight, "Origin": "http://evil.example"}
    r = client.options("/api/ask", headers=evil)
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    r = client.post("/api/ask", json={"question": "垃圾分类"}, headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = same_origin_client.post("/api/ask", json={"question": "垃圾分类"}, headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("path", [
    "/file=/etc/passwd",
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=../../../../etc/passwd",
    "/gradio_api/FILE=/etc/passwd",
    "/gradio_api/file%3D/etc/passwd",
    "/gradio_api/file=%2e%2e/%2e%2e/etc/passwd",
    "/gradio_api/file=%252e%252e/etc/passwd",
    "/gradio_api/file=index/manifest.json",
    "/gradio_api/file=models/m3e-small/config.json",
    "/gradio_api/file=.env",
    "/gradio_api/file=http://example.com/x",
    "/static/../../etc/passwd",
    "/assets/..%2f..%2f..%2fetc/passwd",
    "/index/manifest.json",
    "/models/m3e-small/config.json",
    "/.env",
])
def test_file_routes_serve_nothing_sensitive(client, path):
    r = client.get(path)
    assert r.status_code in (403, 404), (path, r.status_code)
    assert "root:" not in r.text and "model_sha256" not in r.text and "hidden_size" not in r.text


def test_upload_route_is_closed(client):
    r = client.post("/gradio_api/upload", files={"files": ("a.txt", b"x")})
    assert r.status_code in (403, 404)


def test_widget_and_demo_are_self_contained(client):
    js = client.get("/widget.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("application/javascript")
    assert "attachShadow" in js.text and "/api/ask" in js.text
    assert "http://" not in js.text.replace("http://HOST:7860", "") and "https://" not in js.text
    demo = client.get("/embed-demo")
    assert demo.status_code == 200 and '<script src="/widget.js"' in demo.text
    assert "https://" not in demo.text


def test_ui_page_loads(client):
    r = client.get("/")
    assert r.status_code == 200 and "gradio" in r.text.lower()


def test_feedback_is_logged(qa, tmp_path):
    from qa.serve.feedback import FeedbackLog
    from qa.serve.ui import respond

    log = FeedbackLog(tmp_path / "fb.jsonl")
    _, messages, records = respond(qa, "城管局在垃圾分类上做什么", [], [], "全部", 3, log)
    log.record(records[0]["answer_id"], "up", client="127.0.0.1")
    entry = json.loads((tmp_path / "fb.jsonl").read_text(encoding="utf-8"))
    assert entry["vote"] == "up" and entry["question"] == "城管局在垃圾分类上做什么"
    assert entry["answer_id"] == records[0]["answer_id"] and f'id="qa-{entry["answer_id"]}"' in messages[-1]["content"]
    assert entry["citation_ids"][0].endswith("区城管局/item1") and entry["answer"] and entry["time"]


def test_ui_escapes_user_text(qa):
    from qa.serve.ui import respond

    _, messages, _ = respond(qa, "<img src=x onerror=alert(1)>", [], [], "全部", 3)
    assert "<img" not in messages[0]["content"] and "&lt;img" in messages[0]["content"]
    assert all("<img" not in m["content"] for m in messages)


def test_root_path_for_a_reverse_proxy(qa):
    with TestClient(create_app(qa, ServerConfig(root_path="/qa"), with_ui=False), base_url=LOCAL, root_path="/qa") as proxied:
        assert '<script src="/qa/widget.js"' in proxied.get("/embed-demo").text
        assert proxied.get("/healthz").status_code == 200
        assert "/qa/openapi.json" in proxied.get("/docs").text


def test_sources_show_passages_verbatim(qa):
    from qa.serve.ui import respond

    _, messages, _ = respond(qa, "绿道要建多长", [], [], "全部", 2)
    reply = messages[-1]["content"]
    assert "来源（2 条）" in reply and "\n\n" not in reply  # one HTML block
    assert "高标准完成36.4公里绿道建设" in reply and "\\" not in reply
    assert "<mark>" in reply and "阅读区住建局全文" in reply


def test_the_chat_page_shows_the_library_being_served(qa, library_qa):
    """Issue 17, item 2: the header, selectors and department list come from the index now served (hot reload),
    not from the one the app started with; a choice the new index lacks falls back to 全部."""
    from qa.serve.ui import library_updates, library_view

    one, four = library_view(qa), library_view(library_qa)
    assert len(one["reports"]) == 1 and len(four["reports"]) == 4
    assert "2023年部门重点工作计划汇编" not in one["intro"] and "2023年部门重点工作计划汇编" in four["intro"]
    assert "区交通运输局" in four["departments"] and "区交通运输局" in four["dept_list"]
    assert f"涉及 {len(four['departments'])} 个部门" in four["dept_list"]
    intro, dept, report, dept_list = library_updates(library_qa, "区交通运输局", "linjiang-departments-plan-2023")
    assert report["visible"] is True and report["value"] == "linjiang-departments-plan-2023"
    assert dept["value"] == "区交通运输局" and "区交通运输局" in dept["choices"]
    _, dept, report, _ = library_updates(qa, "区交通运输局", "linjiang-departments-plan-2023")  # gone again
    assert dept["value"] == "全部" and report["value"] == "全部" and report["visible"] is False
