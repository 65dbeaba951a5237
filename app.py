"""Start the chat app: FastAPI (JSON API, widget) with the Gradio chat mounted, on one port.

    python app.py [--host 127.0.0.1] [--port 7860] [--root-path /qa] [--cors-origin http://intranet:8080]

Each flag also has a variable: REPORT_QA_HOST, REPORT_QA_PORT, REPORT_QA_ROOT_PATH,
REPORT_QA_CORS_ORIGINS (comma-separated), REPORT_QA_FEEDBACK_LOG; REPORT_QA_MAX_BODY_BYTES (413 above it,
default 1 MB) and REPORT_QA_SHUTDOWN_SECONDS (after SIGTERM, open connections such as a browser tab's
heartbeat get this long before they are closed; default 5) have no flag.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# No telemetry, no hub: set before gradio or any Hugging Face library is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_SERVER_NAME", "127.0.0.1")


def parse_args(argv=None):
    from qa.api import ServerConfig

    defaults = ServerConfig.from_env()
    p = argparse.ArgumentParser(description="report-qa chat app")
    p.add_argument("--host", default=defaults.host)
    p.add_argument("--port", type=int, default=defaults.port)
    p.add_argument("--root-path", default=defaults.root_path, help="path prefix when served behind a reverse proxy")
    p.add_argument("--cors-origin", action="append", default=None,
                   help="allow this origin to call the API (repeatable); default: same origin only")
    p.add_argument("--feedback-log", default=str(defaults.feedback_log))
    args = p.parse_args(argv)
    return ServerConfig(host=args.host, port=args.port, root_path=args.root_path.rstrip("/"),
                        cors_origins=args.cors_origin or defaults.cors_origins, feedback_log=Path(args.feedback_log),
                        max_body_bytes=defaults.max_body_bytes, shutdown_seconds=defaults.shutdown_seconds,
                        answer_slots=defaults.answer_slots)


def main(argv=None) -> int:
    t0 = time.perf_counter()
    config = parse_args(argv)
    import uvicorn

    from qa.api import create_app
    from qa.index import IndexUnusable
    from qa.model import ModelMissingError
    from qa.pipeline import ReportQA

    qa = ReportQA()
    try:
        qa.retriever  # load the index and encoder now, so the first question is fast
    except (IndexUnusable, ModelMissingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(qa, config)
    print(f"report-qa: loaded in {time.perf_counter() - t0:.1f} s; serving http://{config.host}:{config.port}"
          f"{config.root_path}/", file=sys.stderr, flush=True)
    from qa.guard import SHUTDOWN

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            SHUTDOWN.set()  # browser tabs' heartbeat streams end now instead of holding the shutdown open
            super().handle_exit(sig, frame)

    # On SIGTERM requests in flight finish; whatever is still open after timeout_graceful_shutdown is closed.
    # timeout_keep_alive 30 s (uvicorn's default is 5): a busy client that reuses a connection just as the
    # server drops it as idle gets a reset; 30 s makes that race rare under load.
    Server(uvicorn.Config(app, host=config.host, port=config.port, root_path=config.root_path, log_level="warning",
                          timeout_graceful_shutdown=config.shutdown_seconds, timeout_keep_alive=30)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
