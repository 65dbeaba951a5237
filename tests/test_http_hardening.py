"""The HTTP surface in front of everything, Gradio included: closed routes, exact CORS, body limit,
the app stopping on SIGTERM with a browser's heartbeat stream open, and /healthz after a hot reload."""

from __future__ import annotations

import contextlib
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
from servers import LOCAL, free_port, wait_ready

ALLOWED = "http://intranet.example:8080"


@pytest.fixture(scope="module")
def same_origin(qa, tmp_path_factory):
    config = ServerConfig(feedback_log=tmp_path_factory.mktemp("fb") / "feedback.jsonl")
    with TestClient(create_app(qa, config), base_url=LOCAL) as client:
        yield client


@pytest.fixture(scope="module")
def with_cors(qa, tmp_path_factory):
    config = ServerConfig(cors_origins=[ALLOWED], feedback_log=tmp_path_factory.mktemp("fb") / "feedback.jsonl")
    with TestClient(create_app(qa, config), base_url=LOCAL) as client:
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


# ---------------------------------------------------------------- issue 17: framing, hosts, proxies, methods, headers


def _gate_call(headers: list[tuple[bytes, bytes]], body: list[bytes], limit: int = 1 << 20, **gate_args):
    """Run one request through the Gate alone: (status, body the app read or None, response headers)."""
    import asyncio

    from qa.serve.guard import Gate

    seen = {}

    async def app(scope, receive, send):
        data = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                seen["disconnect"] = True
                break
            data += message.get("body", b"")
            if not message.get("more_body", False):
                break
        seen["body"] = data
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    messages = [{"type": "http.request", "body": b, "more_body": i < len(body) - 1} for i, b in enumerate(body)]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/ask", "raw_path": b"/api/ask", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:7860"), *headers], "query_string": b"", "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 7860), "scheme": "http", "http_version": "1.1"}
    asyncio.run(Gate(app, cors_origins=[], max_body_bytes=limit, **gate_args)(scope, receive, send))
    return sent[0]["status"], seen.get("body"), dict(sent[0]["headers"])


@pytest.mark.parametrize("headers, body, status", [
    ([(b"content-length", b"10"), (b"transfer-encoding", b"chunked")], [b"x" * 600, b"x" * 600], 400),
    ([(b"transfer-encoding", b"chunked"), (b"content-length", b"10")], [b"x" * 10], 400),
    ([(b"content-length", b"2000"), (b"transfer-encoding", b"chunked")], [b"x" * 2000], 400),
    ([(b"content-length", b"10"), (b"content-length", b"2000")], [b"x" * 10], 400),
    ([(b"content-length", b"10, 2000")], [b"x" * 10], 400),
    ([(b"content-length", b"2000")], [b"x" * 2000], 413),
    ([(b"transfer-encoding", b"chunked")], [b"x" * 600, b"x" * 600], 413),
    ([(b"transfer-encoding", b"gzip, chunked")], [b"x" * 600, b"x" * 600], 413),
    ([(b"content-length", b"10")], [b"x" * 10], 200),
    ([(b"content-length", b"10, 10")], [b"x" * 10], 200),
    ([(b"transfer-encoding", b"chunked")], [b"x" * 500, b"x" * 500], 200),
    ([], [b""], 200),
])
def test_every_framing_is_bounded_and_an_ambiguous_one_refused(headers, body, status):
    got, read, _ = _gate_call(headers, body, limit=1000)
    assert got == status, (headers, got)
    if status != 200:
        assert read is None  # refused before the app read a byte
    else:
        assert len(read) <= 1000


def test_a_body_longer_than_its_length_never_reaches_the_app_past_the_limit():
    """The server holds a body to its Content-Length; should one run past it, the app still stops at the limit."""
    got, read, _ = _gate_call([(b"content-length", b"10")], [b"x" * 600, b"x" * 600], limit=1000)
    assert got == 200 and len(read) <= 1000


@contextlib.contextmanager
def _uvicorn_in_a_thread(qa, config):
    """The app (API only) under a real uvicorn in a thread, configured as app.py configures it."""
    import threading

    import uvicorn

    from qa.serve.server import uvicorn_config

    server = uvicorn.Server(uvicorn_config(create_app(qa, config, with_ui=False), config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield config.port
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def live_api(qa, tmp_path_factory):
    config = ServerConfig(port=free_port(), feedback_log=tmp_path_factory.mktemp("fb") / "feedback.jsonl",
                          read_timeout=1.5, max_connections=50)
    with _uvicorn_in_a_thread(qa, config) as port:
        yield port


def _raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out and b"connection: close" not in out.lower():
                    break
        except (ConnectionResetError, socket.timeout):
            pass
        return out


def test_content_length_with_a_big_chunked_body_is_refused_by_the_real_server(live_api):
    """The audit's request: Content-Length: 10 and a chunked body; the server reads it as chunked."""
    head = (f"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1:{live_api}\r\nContent-Type: application/json\r\n"
            "Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"x" * (64 << 10)
    answer = _raw(live_api, head + b"%x\r\n%s\r\n" % (len(chunk), chunk))  # and more to come: refused at once
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"ambiguous" in answer


# ---------------------------------------------------------------- hosts (item 6) and forwarded headers (item 5)


@pytest.mark.parametrize("path", ["/api/feedback/summary", "/healthz", "/", "/config", "/api/departments"])
def test_a_host_that_is_not_allowed_gets_400(same_origin, path):
    """A DNS-rebinding page sends its own name as Host: nothing answers it, the loopback-only summary included."""
    r = same_origin.get(path, headers={"Host": "evil.example"})
    assert r.status_code == 400 and "evil.example" not in r.text
    for host in ("127.0.0.1:7860", "localhost", "LOCALHOST:7860"):
        assert same_origin.get(path, headers={"Host": host}).status_code != 400, host  # the summary: 403, not loopback


def test_forwarded_host_is_not_echoed_into_the_config_or_the_page(same_origin):
    spoofed = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "Forwarded": "host=evil.example"}
    for path in ("/config", "/"):
        r = same_origin.get(path, headers=spoofed)
        assert r.status_code == 200 and "evil.example" not in r.text, path


def test_allowed_hosts_default_to_the_bind_address_and_come_from_the_setting(monkeypatch):
    assert ServerConfig(host="10.1.2.3").hosts() == ["10.1.2.3", "localhost", "127.0.0.1"]
    monkeypatch.setenv("REPORT_QA_ALLOWED_HOSTS", "QA.intranet.example, *.intranet.example")
    monkeypatch.setenv("REPORT_QA_TRUSTED_PROXIES", "10.0.0.5, 192.168.0.0/16")
    config = ServerConfig.from_env()
    assert config.hosts() == ["qa.intranet.example", "*.intranet.example"]
    assert config.trusted_proxies == ["10.0.0.5", "192.168.0.0/16"]


@pytest.mark.parametrize("name, value", [("REPORT_QA_ALLOWED_HOSTS", "a.*.example"),
                                         ("REPORT_QA_TRUSTED_PROXIES", "proxy.example")])
def test_a_bad_host_or_proxy_setting_is_refused(monkeypatch, name, value):
    from qa.config import ConfigError

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        ServerConfig.from_env()


def _votes_until_refused(post, answer_id: str, forwarded_for) -> int:
    """Votes sent (each with its own note, so none is a duplicate) until the per-client limit answers 429."""
    for n in range(1, 40):
        r = post(answer_id, n, forwarded_for(n))
        if r == 429:
            return n
        assert r == 200, r
    return 0


def test_forwarded_for_from_an_ordinary_client_is_not_believed_by_the_real_server(live_api):
    import json
    import urllib.error
    import urllib.request

    base = f"http://127.0.0.1:{live_api}"
    request = urllib.request.Request(base + "/api/ask", data=json.dumps({"question": "城管局在垃圾分类上做什么"}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    answer_id = json.loads(urllib.request.urlopen(request, timeout=60).read())["id"]

    def post(answer_id, n, forwarded):
        body = json.dumps({"answer_id": answer_id, "vote": "up", "text": f"note {n}"}).encode()
        req = urllib.request.Request(base + "/api/feedback", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded})
        try:
            return urllib.request.urlopen(req, timeout=30).status
        except urllib.error.HTTPError as exc:
            return exc.code

    # 31 votes posing as 31 people from one loopback client: the 31st is over that one client's limit.
    assert _votes_until_refused(post, answer_id, lambda n: f"198.51.100.{n}") == 31


def test_forwarded_for_is_believed_from_a_trusted_proxy_only(qa, tmp_path):
    def client(config, peer):
        return TestClient(create_app(qa, config, with_ui=False), base_url=LOCAL, client=(peer, 4000))

    def poster(c):
        def post(answer_id, n, forwarded):
            return c.post("/api/feedback", json={"answer_id": answer_id, "vote": "up", "text": f"note {n}"},
                          headers={"X-Forwarded-For": forwarded}).status_code
        return post

    proxied = ServerConfig(trusted_proxies=["10.0.0.0/8"], feedback_log=tmp_path / "a.jsonl")
    with client(proxied, "10.0.0.5") as c:
        answer_id = c.post("/api/ask", json={"question": "城管局在垃圾分类上做什么"}).json()["id"]
        assert _votes_until_refused(poster(c), answer_id, lambda n: "192.0.2.1") == 31  # one person behind the proxy
        assert poster(c)(answer_id, 99, "192.0.2.2") == 200  # another person behind it is not limited
    direct = ServerConfig(feedback_log=tmp_path / "b.jsonl")
    with client(direct, "10.0.0.5") as c:
        answer_id = c.post("/api/ask", json={"question": "城管局在垃圾分类上做什么"}).json()["id"]
        assert _votes_until_refused(poster(c), answer_id, lambda n: f"192.0.2.{n}") == 31


# ---------------------------------------------------------------- item 9: headers, body errors, bidi controls


@pytest.mark.parametrize("method, path, status", [("GET", "/", 200), ("GET", "/config", 200), ("GET", "/healthz", 200),
                                                  ("GET", "/widget.js", 200), ("GET", "/monitoring", 403),
                                                  ("GET", "/docs", 200), ("POST", "/api/ask", 422)])
def test_security_headers_on_every_response(same_origin, with_cors, method, path, status):
    r = same_origin.request(method, path)
    assert r.status_code == status
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "same-origin"
    assert r.headers["content-security-policy"] == "frame-ancestors 'self'"
    embedded = with_cors.request(method, path)
    assert embedded.headers["content-security-policy"] == f"frame-ancestors 'self' {ALLOWED}"  # the widget's sites
    assert embedded.headers.get_list("content-security-policy") == [embedded.headers["content-security-policy"]]


def test_refusals_of_the_gate_carry_the_security_headers_too(same_origin):
    for r in (same_origin.post("/api/ask", content=b"x" * (2 << 20)), same_origin.get("/gradio_api/file/x"),
              same_origin.get("/healthz", headers={"Host": "evil.example"})):
        assert r.status_code in (400, 403, 413) and r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("body, reason", [
    (b'{"question": "x", "k": ' + b"9" * 4400 + b"}", "too many digits"),
    (b'{"question": "x", "k": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b'{"question": "\xff\xfe"}', "not valid UTF-8"),
])
def test_a_body_the_parser_refuses_gets_its_real_reason(same_origin, body, reason):
    r = same_origin.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and reason in r.json()["detail"], r.json()
    assert "set_int_max_str_digits" not in r.text


def test_bidirectional_controls_are_stripped_from_questions_and_feedback(same_origin, tmp_path):
    from qa.pipeline import normalise_text
    from qa.serve.feedback import clean

    bidi = "\u202e\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    assert normalise_text(f"城管局{bidi}在垃圾分类上做什么") == "城管局在垃圾分类上做什么"
    assert clean(f"说明{bidi}文字\u202e", 100) == "说明文字"
    r = same_origin.post("/api/ask", json={"question": "城管局\u202e在垃圾分类上做什么"})
    assert r.status_code == 200 and r.json()["question"] == "城管局在垃圾分类上做什么"


# ---------------------------------------------------------------- item 4: methods


@pytest.mark.parametrize("path", ["/healthz", "/widget.js", "/api/departments", "/api/reports", "/docs", "/embed-demo",
                                  "/", "/config", "/openapi.json"])
def test_head_works_on_every_get_route(same_origin, path):
    got, head = same_origin.get(path), same_origin.head(path)
    assert head.status_code == got.status_code == 200, (path, head.status_code)
    assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]


@pytest.mark.parametrize("method, path, allow", [("GET", "/api/ask", "POST"), ("OPTIONS", "/api/ask", "POST"),
                                                 ("PUT", "/api/ask", "POST"), ("POST", "/healthz", "GET, HEAD"),
                                                 ("DELETE", "/api/feedback", "POST"), ("POST", "/widget.js", "GET, HEAD"),
                                                 ("GET", "/api/feedback", "POST")])
def test_a_wrong_method_is_405_with_allow(same_origin, method, path, allow):
    r = same_origin.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow, (method, path, r.status_code)


def test_head_and_405_behind_a_root_path(qa):
    with TestClient(create_app(qa, ServerConfig(root_path="/qa"), with_ui=False), base_url=LOCAL,
                    root_path="/qa") as proxied:
        assert proxied.head("/healthz").status_code == 200
        assert proxied.get("/api/ask").status_code == 405


# ---------------------------------------------------------------- item 3: half-sent requests, connection cap


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """What the server sent before closing, and after how long; fails if still open after ``seconds``."""
    t0 = time.monotonic()
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except socket.timeout:
        pytest.fail(f"still open after {seconds} s: {data[:200]!r}")
    except ConnectionResetError:
        pass
    return data, time.monotonic() - t0


@pytest.mark.parametrize("sent", [
    b"",  # connected, sent nothing
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never finished
    b"G",
    b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"q",
    b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"que\r\n",
])
def test_a_half_sent_request_is_closed_after_the_read_timeout(live_api, sent):
    with socket.create_connection(("127.0.0.1", live_api)) as s:
        s.sendall(sent)
        data, waited = _closed_within(s, 10)
    assert 1.0 <= waited < 5, waited
    assert data.startswith(b"HTTP/1.1 408") or (not data and not sent), data[:200]


def _response(sock: socket.socket) -> bytes:
    """One whole response (headers and its Content-Length of body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(4096)
    return head


def test_a_slow_but_complete_request_and_a_kept_alive_connection_are_served(live_api):
    with socket.create_connection(("127.0.0.1", live_api), timeout=10) as s:
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
            s.sendall(part)
            time.sleep(0.4)  # 1.2 s in all, under the 1.5 s deadline
        assert _response(s).startswith(b"HTTP/1.1 200")
        time.sleep(2.0)  # idle between requests: the keep-alive timeout (30 s) applies, not the read deadline
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _response(s).startswith(b"HTTP/1.1 200")


def test_connections_past_the_cap_get_503_and_are_closed(qa, tmp_path):
    config = ServerConfig(port=free_port(), feedback_log=tmp_path / "fb.jsonl", read_timeout=30, max_connections=5)
    with _uvicorn_in_a_thread(qa, config) as port:
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as extra:
            data, waited = _closed_within(extra, 5)
        assert data.startswith(b"HTTP/1.1 503") and waited < 2
        held.pop().close()
        time.sleep(0.3)
        assert _raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").startswith(
            b"HTTP/1.1 200")
        for s in held:
            s.close()


@pytest.mark.parametrize("peer, forwarded_host, kept", [
    ("10.0.0.5", b"qa.intranet.example", {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}),
    ("10.0.0.5", b"evil.example", {b"x-forwarded-for", b"x-forwarded-proto"}),  # a proxy's host must be allowed
    ("192.0.2.9", b"qa.intranet.example", set()),  # not a proxy: nothing forwarded is believed
])
def test_the_gate_keeps_forwarded_headers_of_trusted_proxies_only(peer, forwarded_host, kept):
    import asyncio

    from qa.serve.guard import Gate

    seen = {}

    async def app(scope, receive, send):
        seen["headers"] = {k for k, _ in scope["headers"]}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    forwarded = [(b"x-forwarded-for", b"198.51.100.7"), (b"x-forwarded-proto", b"https"),
                 (b"x-forwarded-host", forwarded_host)]
    scope = {"type": "http", "method": "GET", "path": "/healthz", "raw_path": b"/healthz", "root_path": "",
             "headers": [(b"host", b"qa.intranet.example"), *forwarded], "query_string": b"", "client": (peer, 5000)}
    gate = Gate(app, cors_origins=[], max_body_bytes=1 << 20, trusted_proxies=["10.0.0.0/8"],
                allowed_hosts=["qa.intranet.example"])
    asyncio.run(gate(scope, receive, send))
    assert seen["headers"] - {b"host"} == kept
