"""The HTTP surface in front of everything, Gradio included: closed routes, exact CORS, body limit,
the app stopping on SIGTERM with a browser's heartbeat stream open, and /healthz after a hot reload."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from qa.config import ServerConfig, PROJECT_ROOT, environment
from qa.serve.api import create_app
from qa.serve.guard import blocked_path
from qa.serve.ui import html_text
from servers import free_port, wait_ready

ALLOWED = "http://intranet.example:8080"


@pytest.fixture(scope="module")
def same_origin(qa, tmp_path_factory):
    config = ServerConfig(feedback_log=tmp_path_factory.mktemp("fb") / "feedback.jsonl")
    with TestClient(create_app(qa, config)) as client:
        yield client


@pytest.fixture(scope="module")
def with_cors(qa, tmp_path_factory):
    config = ServerConfig(cors_origins=[ALLOWED], feedback_log=tmp_path_factory.mktemp("fb") / "feedback.jsonl")
    with TestClient(create_app(qa, config)) as client:
        yield client


@pytest.mark.parametrize("method, path", [
    ("GET", "/gradio_api/file/tmp/gradio/x.txt"),
    ("GET", "/gradio_api/file//etc/passwd"),
    ("GET", "/gradio_api/FILE/etc/passwd"),
    ("GET", "/gradio_api/file%2Fetc%2Fpasswd"),
    ("GET", "/gradio_api/file=/etc/passwd"),
    ("POST", "/gradio_api/upload"),
    ("GET", "/gradio_api/upload_progress?upload_id=x"),
    ("GET", "/gradio_api/proxy=http://example.com/"),
    ("GET", "/monitoring"),
    ("GET", "/monitoring/summary"),
    ("GET", "/monitoring/abc"),
    ("GET", "/gradio_api/monitoring"),
    ("GET", "/gradio_api/stream/x/y/z/playlist.m3u8"),
    ("POST", "/gradio_api/process_recording"),
    ("GET", "/gradio_api/vibe-code"),
    ("GET", "/logs/feedback.jsonl"),
])
def test_gradio_file_upload_and_monitoring_routes_are_closed(same_origin, method, path):
    r = same_origin.request(method, path)
    assert r.status_code == 403, (path, r.status_code)


@pytest.mark.parametrize("path", ["/", "/config", "/gradio_api/info", "/theme.css", "/healthz", "/widget.js",
                                  "/api/departments", "/docs"])
def test_routes_the_ui_needs_stay_open(same_origin, path):
    assert same_origin.get(path).status_code == 200
    assert not blocked_path(path)


def test_blocked_path_strips_the_root_path():
    assert blocked_path("/qa/gradio_api/file/etc/passwd", "/qa") and blocked_path("/qa/monitoring", "/qa")
    assert not blocked_path("/qa/api/ask", "/qa")


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:9999", "http://evil.example", "null"])
@pytest.mark.parametrize("path", ["/api/ask", "/gradio_api/queue/join", "/config", "/gradio_api/info"])
def test_without_cors_origins_nothing_is_echoed(same_origin, origin, path):
    preflight = same_origin.options(path, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 400
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]
    r = same_origin.get(path, headers={"Origin": origin})
    assert not [h for h in r.headers if h.lower().startswith("access-control-")], dict(r.headers)


def test_configured_origin_is_allowed_without_credentials_everywhere(with_cors):
    for path in ("/api/ask", "/config"):
        r = with_cors.options(path, headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ALLOWED
        assert "access-control-allow-credentials" not in r.headers
    r = with_cors.get("/config", headers={"Origin": ALLOWED})
    assert r.headers["access-control-allow-origin"] == ALLOWED and "access-control-allow-credentials" not in r.headers
    r = with_cors.get("/config", headers={"Origin": "http://localhost:5173"})
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]


def test_body_limit_covers_gradio_routes(same_origin):
    r = same_origin.post("/gradio_api/queue/join", content=b"x" * (2 << 20), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]


def test_apostrophes_are_not_double_escaped():
    assert html_text("it's") == "it's"
    assert html_text('<b>"x"</b>') == '&lt;b&gt;"x"&lt;/b&gt;'


def test_chat_turn_with_a_lone_surrogate_is_answered_and_serialisable(qa):
    import json

    from qa.serve.ui import respond

    _, messages, records = respond(qa, "城管局\ud800垃圾分类", [], [], "全部", 3)
    json.dumps(messages, ensure_ascii=False).encode("utf-8")  # what Gradio sends to the browser
    assert len(records) == 1 and messages[-1]["role"] == "assistant"


def test_sigterm_stops_the_app_with_a_heartbeat_stream_open(built):
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port)],
                            env=environment(built, REPORT_QA_SHUTDOWN_SECONDS="30"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", proc, timeout=180)
        stream = socket.create_connection(("127.0.0.1", port))
        stream.sendall(f"GET /gradio_api/heartbeat/reliability HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       "Accept: text/event-stream\r\n\r\n".encode())
        assert b"200 OK" in stream.recv(400)  # the stream is open, as a browser tab keeps it
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)  # well before the 30 s graceful-shutdown timeout: the heartbeat did not hold it
        assert time.monotonic() - t0 < 15
        stderr = proc.stderr.read()
        assert "Traceback" not in stderr, stderr[-2000:]
        stream.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_healthz_lists_reports_and_index_version(same_origin):
    health = same_origin.get("/healthz").json()
    assert health["index"]["reports"] and health["index"]["version"].startswith(".index.v-")
    assert health["index"]["loaded_at"] and health["index"]["reload_error"] == ""
    assert os.path.basename(health["index"]["version"]) == health["index"]["version"]


def test_an_unreadable_content_length_is_refused_not_a_500():
    """``'²'.isdigit()`` is True in Python: the gate must not hand such a length to ``int``."""
    import asyncio

    from qa.serve.guard import Gate

    async def app(scope, receive, send):  # pragma: no cover - the gate answers first
        raise AssertionError("the request reached the app")

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/ask", "raw_path": b"/api/ask", "root_path": "",
             "headers": [(b"content-length", "²".encode("latin-1")), (b"content-type", b"application/json")],
             "query_string": b""}
    asyncio.run(Gate(app, cors_origins=[], max_body_bytes=1 << 20)(scope, receive, send))
    assert sent[0]["status"] == 413
