"""Run the app: ``python app.py`` (and ``make run``) parse the server flags and serve it with uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
import time

# No telemetry, no hub: set before gradio or any Hugging Face library is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_SERVER_NAME", "127.0.0.1")


def parse_args(argv=None):
    from qa.config import SERVER_VARIABLES, ServerConfig, add_flags, help_text

    p = argparse.ArgumentParser(description="report-qa chat app", epilog=help_text(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(p, SERVER_VARIABLES)
    return ServerConfig.from_env(p.parse_args(argv))


def main(argv=None) -> int:
    from qa.config import ConfigError

    t0 = time.perf_counter()
    try:
        config = parse_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from qa.serve.api import create_app
    from qa.search.index import IndexUnusable
    from qa.search.model import ModelMissingError
    from qa.pipeline import ReportQA

    qa = ReportQA()
    try:
        qa.retriever  # load the index and encoder now, so the first question is fast
    except (IndexUnusable, ModelMissingError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(qa, config)
    print(f"report-qa: loaded in {time.perf_counter() - t0:.1f} s; serving http://{config.host}:{config.port}"
          f"{config.root_path}/", file=sys.stderr, flush=True)
    from qa.serve.guard import SHUTDOWN

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            SHUTDOWN.set()  # browser tabs' heartbeat streams end now instead of holding the shutdown open
            super().handle_exit(sig, frame)

    Server(uvicorn_config(app, config)).run()
    return 0


def uvicorn_config(app, config):
    """How uvicorn serves ``app`` for ``config`` (app.py, and the tests that run a real server)."""
    import uvicorn

    # On SIGTERM requests in flight finish; whatever is still open after timeout_graceful_shutdown is closed.
    # timeout_keep_alive 30 s (uvicorn's default is 5): a busy client that reuses a connection just as the
    # server drops it as idle gets a reset; 30 s makes that race rare under load.
    # http: uvicorn's h11 protocol with a read deadline and a connection cap (bounded_protocol).
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; the app's own
    # middleware believes it only from REPORT_QA_TRUSTED_PROXIES (qa/serve/api.py, qa/serve/guard.py).
    return uvicorn.Config(app, host=config.host, port=config.port, root_path=config.root_path, log_level="warning",
                          timeout_graceful_shutdown=config.shutdown_seconds, timeout_keep_alive=30, proxy_headers=False,
                          http=bounded_protocol(config.read_timeout, config.max_connections))


def _plain_response(status: bytes, text: bytes, *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 " + status, b"content-type: text/plain; charset=utf-8", b"connection: close", *extra,
            b"content-length: " + str(len(text)).encode()]
    return b"\r\n".join(head) + b"\r\n\r\n" + text


_TIMED_OUT = _plain_response(b"408 Request Timeout", b"request not received in time")
_BUSY = _plain_response(b"503 Service Unavailable", b"too many connections, try again soon", b"retry-after: 5")


def bounded_protocol(read_timeout: float, max_connections: int):
    """uvicorn's h11 protocol with two bounds its options lack (``timeout_keep_alive`` only covers the idle time
    after a response): a connection must deliver each request, headers and body, within ``read_timeout``
    seconds of its first byte (or of connecting), else it gets 408 and is closed; and past ``max_connections``
    open connections a new one gets 503 and is closed at once. A half-open connection holds a descriptor for
    ``read_timeout`` at most, and at most ``max_connections`` descriptors are held."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class BoundedH11Protocol(H11Protocol):
        _read_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(_BUSY)
                transport.close()
                return
            self._arm()

        def _arm(self) -> None:
            if self._read_timer is None and read_timeout > 0:  # 0: no deadline
                self._read_timer = self.loop.call_later(read_timeout, self._read_timed_out)

        def _disarm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:  # a new request begins: its deadline starts now
                self._arm()
            super().data_received(data)
            if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):  # all of it read (or the connection over)
                self._disarm()

        def handle_websocket_upgrade(self, event) -> None:
            self._disarm()
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _read_timed_out(self) -> None:
            self._read_timer = None
            if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
                return
            if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
                self.transport.write(_TIMED_OUT)
            self.transport.close()  # the app, if it was reading the body, sees a disconnect

    return BoundedH11Protocol
