"""HTTP hardening in front of the whole app (API, widget and the mounted Gradio UI): one ASGI wrapper.

* **Closed routes**: Gradio's file, upload, proxy, stream and monitoring routes (the chat needs none of
  them), traversal attempts and the project's private folders answer 403 before anything else runs.
* **Body size**: a body over ``max_body_bytes`` is refused with 413 from its ``Content-Length`` alone,
  before a byte of it is read; a body without one (chunked) is read up to the limit and no further.
  A request whose framing is ambiguous (``Content-Length`` and ``Transfer-Encoding`` together, or two
  different lengths) is refused with 400, as RFC 9112 §6.3 allows: the server reads such a body as
  chunked, so its ``Content-Length`` says nothing about its size. Whatever the framing, the app never
  reads more than the limit.
* **CORS exactly as configured**: without allowed origins no response carries any
  ``Access-Control-*`` header (whatever Gradio adds is removed) and every preflight is refused; an
  allowed origin gets ``Access-Control-Allow-Origin: <origin>`` on every response and its preflights
  answered, never with credentials.
* **Forwarded headers** (``X-Forwarded-For``, ``-Proto``, ``-Host``, ``-Port``, ``-Prefix``, ``Forwarded``) are
  dropped unless the connection comes from a configured proxy (``REPORT_QA_TRUSTED_PROXIES``), so no
  client can pose as another (feedback's per-client limit) or have a host of its choosing echoed into
  Gradio's ``/config``; a proxy's ``X-Forwarded-Host`` is kept only when it is an allowed host. The
  ``Host`` header itself is checked by Starlette's ``TrustedHostMiddleware`` inside the gate (api.py).
* **Security headers** on every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
  same-origin`` and ``Content-Security-Policy: frame-ancestors 'self'`` plus the CORS origins (the
  widget's sites are the ones that may put the chat in an iframe).
* **Methods** (``Methods``, inside the gate): HEAD is answered as GET without the body on every route,
  Gradio's included; a method a route of the API does not take gets 405 with ``Allow`` (the Gradio mount
  at ``/`` would otherwise answer 404 for it).
* **Shutdown**: once ``SHUTDOWN.set()`` is called (app.py does it on SIGTERM), Gradio's heartbeat
  streams see their client disconnect and end, so uvicorn's graceful shutdown is not held open by a
  browser tab; requests in flight finish (up to uvicorn's ``timeout_graceful_shutdown``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from urllib.parse import unquote

_BLOCKED_SEGMENTS = re.compile(
    r"^(?:file|file=.*|upload|upload_progress|proxy=.*|stream|monitoring|process_recording|vibe-.*|runs|"
    r"run-history|profiling|custom_component|dev|mcp)$")
_PRIVATE = ("/.env", "/index", "/models", "/.git", "/logs")
PREFLIGHT_MAX_AGE = "600"
# An over-limit body up to this size is read and thrown away before the 413, so that a client still
# sending it reads the answer instead of a reset connection; a bigger one gets the 413 and a close.
MAX_DRAIN_BYTES = 64 << 20


_FORWARDED = {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port",
              b"x-forwarded-prefix", b"x-real-ip", b"forwarded"}


def host_allowed(host: str, patterns: list[str]) -> bool:
    """``host`` (a ``Host`` value, port allowed) against names as TrustedHostMiddleware reads them."""
    name = host.strip().lower()
    if name.startswith("[") and "]" in name:  # [::1]:7860
        name = name[1:name.index("]")]
    elif name.count(":") == 1:  # qa.example.org:7860
        name = name.split(":")[0]
    return any(p == "*" or name == p or (p.startswith("*.") and name.endswith(p[1:])) for p in patterns)


def in_networks(address: str | None, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


_HEARTBEAT = re.compile(r"/heartbeat/[^/]+/?$")


class ShutdownSignal:
    """Set from a signal handler, awaited inside the event loop."""

    def __init__(self) -> None:
        self.is_set = False
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def event(self) -> asyncio.Event:
        if self._event is None:
            self._event, self._loop = asyncio.Event(), asyncio.get_running_loop()
            if self.is_set:
                self._event.set()
        return self._event

    def set(self) -> None:
        self.is_set = True
        if self._loop is not None and self._event is not None:
            self._loop.call_soon_threadsafe(self._event.set)


SHUTDOWN = ShutdownSignal()


def _until_shutdown(receive):
    """``receive`` that reports a disconnect once the server shuts down."""
    async def receive_or_shutdown():
        stop = SHUTDOWN.event()
        if stop.is_set():
            return {"type": "http.disconnect"}
        message, stopped = asyncio.ensure_future(receive()), asyncio.ensure_future(stop.wait())
        done, pending = await asyncio.wait({message, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return message.result() if message in done else {"type": "http.disconnect"}
    return receive_or_shutdown


def blocked_path(path: str, root_path: str = "") -> bool:
    """Gradio's file routes and monitoring, traversal attempts and private folders."""
    decoded = path
    for _ in range(3):  # %252e%252e → %2e%2e → ..
        decoded = unquote(decoded)
    lowered = decoded.lower().replace("\\", "/")
    if root_path and lowered.startswith(root_path.lower() + "/"):
        lowered = lowered[len(root_path):]
    if "file=" in lowered or "/../" in lowered or lowered.endswith("/..") or "/./" in lowered:
        return True
    if lowered.startswith("/.env") or any(lowered == p or lowered.startswith(p + "/") for p in _PRIVATE):
        return True
    segments = [s for s in lowered.split("/") if s]
    if segments[:1] == ["gradio_api"]:
        segments = segments[1:]
    return bool(segments) and bool(_BLOCKED_SEGMENTS.match(segments[0]))


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _header_values(scope, name: bytes) -> list[str]:
    """Every value of a header, comma-separated lists split (``Content-Length: 10, 10`` is two)."""
    return [part.strip() for key, value in scope.get("headers", []) if key.lower() == name
            for part in value.decode("latin-1").split(",")]


async def _send_plain(send, status: int, body: bytes, content_type: bytes, extra: list | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive) -> bool:
    """Read a request body to its end, keeping none of it; False if the client went away."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return False
        if not message.get("more_body", False):
            return True


AMBIGUOUS_FRAMING = json.dumps(
    {"detail": "请求格式错误：Content-Length 与 Transfer-Encoding 不能同时出现 / bad request: ambiguous message "
               "framing (Content-Length with Transfer-Encoding, or conflicting lengths)"}, ensure_ascii=False).encode()


def _capped(receive, limit: int):
    """``receive`` that reports a disconnect instead of handing the app more than ``limit`` bytes."""
    size = 0

    async def capped():
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                return {"type": "http.disconnect"}
        return message
    return capped


def too_large_body(limit: int) -> bytes:
    mb = limit / 2**20
    return json.dumps({"detail": f"请求体过大（上限 {mb:g} MB）/ request body too large (limit {mb:g} MB)"},
                      ensure_ascii=False).encode()


class Gate:
    """Wrap an ASGI app with the route block list, the body size limit, the CORS policy, the forwarded
    headers of trusted proxies only and the security headers."""

    def __init__(self, app, cors_origins: list[str], max_body_bytes: int, root_path: str = "",
                 trusted_proxies: list[str] = (), allowed_hosts: list[str] = ("*",)):
        self.app = app
        self.origins = set(cors_origins)
        self.max_body_bytes = max_body_bytes
        self.root_path = root_path.rstrip("/")
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        ancestors = " ".join(["'self'", *(o for o in cors_origins if o not in ("*", "null"))])
        self.security_headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                                 (b"content-security-policy", f"frame-ancestors {ancestors}".encode("latin-1"))]
        self.allowed_hosts = list(allowed_hosts)

    def _forwarded(self, scope):
        """The scope with forwarded headers dropped, unless the peer is a trusted proxy."""
        headers = scope.get("headers", [])
        if not any(key.lower() in _FORWARDED for key, _ in headers):
            return scope
        peer = (scope.get("client") or (None,))[0]
        if in_networks(peer, self.proxies):
            kept = [(k, v) for k, v in headers if k.lower() != b"x-forwarded-host"
                    or host_allowed(v.decode("latin-1").split(",")[0], self.allowed_hosts)]
        else:
            kept = [(k, v) for k, v in headers if k.lower() not in _FORWARDED]
        return {**scope, "headers": kept}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = self._forwarded(scope)
        if scope["type"] == "http":
            send = self._secure_send(send)
        if scope["type"] != "http":
            if scope["type"] == "websocket" and blocked_path(scope.get("path", ""), self.root_path):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if blocked_path(scope.get("path", ""), self.root_path):
            await _send_plain(send, 403, b"Forbidden", b"text/plain; charset=utf-8")
            return
        origin = _header(scope, b"origin")
        allowed = origin is not None and origin in self.origins
        if scope["method"] == "OPTIONS" and origin is not None and _header(scope, b"access-control-request-method"):
            await self._preflight(send, origin if allowed else None)
            return
        receive = await self._bounded(scope, receive, send, allowed and origin)
        if receive is None:
            return
        if _HEARTBEAT.search(scope.get("path", "")):
            receive = _until_shutdown(receive)
        await self.app(scope, receive, self._cors_send(send, origin if allowed else None))

    async def _preflight(self, send, origin: str | None) -> None:
        if origin is None:
            await _send_plain(send, 400, b"CORS preflight refused: origin not allowed", b"text/plain; charset=utf-8",
                              [(b"vary", b"Origin")])
            return
        await _send_plain(send, 200, b"OK", b"text/plain; charset=utf-8", [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"GET, POST"),
            (b"access-control-allow-headers", b"Content-Type"),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
            (b"vary", b"Origin"),
        ])

    def _secure_send(self, send):
        names = {name for name, _ in self.security_headers}

        async def secure_send(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": headers + self.security_headers}
            await send(message)
        return secure_send

    def _cors_send(self, send, origin: str | None):
        async def cors_send(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not k.lower().startswith(b"access-control-")]
                if origin is not None:
                    headers += [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
                message = {**message, "headers": headers}
            await send(message)
        return cors_send

    async def _bounded(self, scope, receive, send, cors_origin):
        """``receive`` for a body within the limit; ``None`` after answering 413."""
        extra = [(b"connection", b"close")]
        if cors_origin:
            extra.append((b"access-control-allow-origin", cors_origin.encode("latin-1")))
        lengths, encodings = _header_values(scope, b"content-length"), _header_values(scope, b"transfer-encoding")
        if (lengths and encodings) or len(set(lengths)) > 1:
            await _send_plain(send, 400, AMBIGUOUS_FRAMING, b"application/json", extra)
            return None
        if lengths:
            length = lengths[0]
            declared = int(length) if length.isascii() and length.isdigit() else None
            if declared is None or declared > self.max_body_bytes:  # unreadable lengths ("²") count as too large
                if declared is not None and declared <= MAX_DRAIN_BYTES and await _drain(receive):
                    extra = extra[1:]  # read to the end: the connection stays usable, the client sees the 413
                await _send_plain(send, 413, too_large_body(self.max_body_bytes), b"application/json", extra)
                return None
            return _capped(receive, self.max_body_bytes)  # the server holds the body to its length; this is a second bound
        if not encodings:
            return _capped(receive, self.max_body_bytes)
        # Chunked: read up to the limit, then replay what was read to the app.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive  # the client went away: let the app see the disconnect
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                await _send_plain(send, 413, too_large_body(self.max_body_bytes), b"application/json", extra)
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        return _capped(replay, self.max_body_bytes)


METHOD_NOT_ALLOWED = json.dumps({"detail": "请求方法不受支持 / method not allowed"}, ensure_ascii=False).encode()


class Methods:
    """HEAD as GET without the body everywhere; 405 with ``Allow`` for a wrong method on a route of ``routes``
    (path -> the methods it takes, GET implying HEAD)."""

    def __init__(self, app, routes: dict[str, set[str]], root_path: str = ""):
        self.app = app
        self.routes = {path: set(methods) | ({"HEAD"} if "GET" in methods else set()) for path, methods in routes.items()}
        self.root_path = root_path.rstrip("/")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if self.root_path and path.startswith(self.root_path + "/"):
            path = path[len(self.root_path):]
        allowed = self.routes.get(path)
        if allowed is not None and scope["method"] not in allowed:
            await _send_plain(send, 405, METHOD_NOT_ALLOWED, b"application/json",
                              [(b"allow", ", ".join(sorted(allowed)).encode())])
            return
        if scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def receive_until_answered():
            return {"type": "http.disconnect"} if finished else await receive()

        async def headers_only(message) -> None:
            nonlocal finished
            if finished:
                return  # the rest of a streamed body: not sent
            if message["type"] == "http.response.body":
                finished = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)
        await self.app({**scope, "method": "GET"}, receive_until_answered, headers_only)
