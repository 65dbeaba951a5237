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
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; the app's own
    # middleware believes it only from REPORT_QA_TRUSTED_PROXIES (qa/serve/api.py, qa/serve/guard.py).
    return uvicorn.Config(app, host=config.host, port=config.port, root_path=config.root_path, log_level="warning",
                          timeout_graceful_shutdown=config.shutdown_seconds, timeout_keep_alive=30, proxy_headers=False)
