"""JSON API, intranet widget and the mounted chat UI: one FastAPI app.

    POST /api/ask          {"question", "k"?, "dept"?, "history"?} -> the CLI's ``ask --json`` object
    GET  /api/search       ?q=…&k=…&dept=…
    GET  /api/departments  names, aliases, chunk counts
    GET  /api/paragraph    ?id=<chunk id>: the department's whole section
    GET  /healthz          model, index manifest, chunk count
    POST /api/feedback     {"answer_id", "vote": "up"|"down", "reason"?, "text"?}: a vote on an answer
    GET  /api/feedback/summary  votes per question and reason (loopback, or REPORT_QA_FEEDBACK_TOKEN)
    GET  /docs             the API's Swagger UI, its assets served from the app (works offline)
    GET  /widget.js        the self-hosted chat widget; GET /embed-demo a page that uses it
    /                      the Gradio chat UI

User errors are 422 with a Chinese / English message, never a 500.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from qa.config import PROJECT_ROOT
from qa.feedback import FeedbackError, FeedbackLog, summary_allowed
from qa.index import IndexUnusable
from qa.model import ModelMissingError
from qa.pipeline import MAX_QUESTION_CHARS, QuestionError, ReportQA, Turn


def _env_list(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


@dataclass
class ServerConfig:
    """How the server runs; every field has a ``REPORT_QA_*`` variable and an ``app.py`` flag."""

    host: str = "127.0.0.1"
    port: int = 7860
    root_path: str = ""
    cors_origins: list[str] = field(default_factory=list)  # empty: same-origin only
    feedback_log: Path = PROJECT_ROOT / "logs" / "feedback.jsonl"

    @classmethod
    def from_env(cls) -> "ServerConfig":
        return cls(
            host=os.environ.get("REPORT_QA_HOST", cls.host),
            port=int(os.environ.get("REPORT_QA_PORT", cls.port)),
            root_path=os.environ.get("REPORT_QA_ROOT_PATH", cls.root_path).rstrip("/"),
            cors_origins=_env_list("REPORT_QA_CORS_ORIGINS"),
            feedback_log=Path(os.environ.get("REPORT_QA_FEEDBACK_LOG", cls().feedback_log)),
        )


class HistoryTurn(BaseModel):
    """A previous turn: ``{"question", "answer"?}`` or a chat message ``{"role", "content"}``."""

    question: str | None = None
    answer: str | None = None
    role: str | None = None
    content: str | None = None


class FeedbackRequest(BaseModel):
    answer_id: Any = Field(description="the ``id`` of the answer being rated")
    vote: Any = Field(description='"up" or "down"')
    reason: Any = Field(None, description="错误 / 不完整 / 引用不对 / 其他")
    text: Any = Field(None, description="optional note, up to 500 characters")


class AskRequest(BaseModel):
    question: Any = Field(description=f"the question, 1–{MAX_QUESTION_CHARS} characters")
    k: Any = Field(5, description="number of citations, 1–20")
    dept: str | None = Field(None, description="restrict to one department (name or alias)")
    history: list[HistoryTurn] | None = Field(None, description="earlier turns of this chat, oldest first")

    def turns(self) -> list[Turn]:
        turns = []
        for turn in self.history or []:
            if turn.question:
                turns.append(Turn(turn.question, turn.answer or ""))
            elif turn.role == "user" and turn.content:
                turns.append(Turn(turn.content))
        return turns


def _user_error(message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _blocked_path(path: str) -> bool:
    """Gradio's file routes and traversal attempts: the UI needs none of them."""
    decoded = path
    for _ in range(3):  # %252e%252e → %2e%2e → ..
        decoded = unquote(decoded)
    lowered = decoded.lower().replace("\\", "/")
    return "file=" in lowered or "/../" in lowered or lowered.endswith("/..") or "/upload" in lowered \
        or lowered.startswith(("/.env", "/index/", "/models/"))


def swagger_assets() -> Path:
    """Swagger UI's JS/CSS, shipped inside the fastapi-offline wheel: /docs needs no CDN."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def add_offline_docs(app: FastAPI) -> None:
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=swagger_assets()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=f"{root}{app.openapi_url}", title="report-qa 接口文档 / API",
                                   swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
                                   swagger_favicon_url=f"{root}/docs-assets/favicon.png")


def static_text(name: str) -> str:
    return resources.files("qa").joinpath(f"static/{name}").read_text(encoding="utf-8")


def create_app(qa: ReportQA, config: ServerConfig | None = None, with_ui: bool = True) -> FastAPI:
    """The FastAPI app with the API, the widget and (``with_ui``) the Gradio chat mounted at ``/``."""
    config = config or ServerConfig.from_env()
    app = FastAPI(title="report-qa", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Offline question answering with exact citations over government work reports.")
    add_offline_docs(app)
    feedback = FeedbackLog(config.feedback_log)
    app.state.feedback = feedback

    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=config.cors_origins, allow_credentials=False,
            allow_methods=["GET", "POST"], allow_headers=["Content-Type"],
        )

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if _blocked_path(request.url.path):
            return Response("Forbidden", status_code=403, media_type="text/plain")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return _user_error(f"请求格式错误 / invalid request: {problems}")

    @app.exception_handler(QuestionError)
    async def bad_question(request: Request, exc: QuestionError):
        return _user_error(str(exc))

    @app.exception_handler(IndexUnusable)
    @app.exception_handler(ModelMissingError)
    async def not_ready(request: Request, exc: Exception):
        return _user_error(f"服务未就绪 / not ready: {exc}", status=503)

    @app.post("/api/ask", summary="Answer a question with citations")
    def ask(body: AskRequest) -> dict:
        answer = qa.ask(body.question, k=body.k, dept=body.dept, history=body.turns())
        feedback.remember(answer)
        return answer.to_json()

    @app.get("/api/search", summary="Ranked passages with scores")
    def search(q: str = Query(..., description="the question"), k: int = Query(10), dept: str | None = None) -> dict:
        hits = qa.search(q, k=k, dept=dept)
        results = []
        for hit in hits:
            c = hit.chunk
            results.append({"id": c.id, "source": c.source, "dept": c.dept, "headline": c.headline,
                            "item_no": c.item_no, "text": c.text, "start": c.start, "end": c.end,
                            "score": round(hit.score, 4), "dense": round(hit.dense, 4),
                            "keyword": round(hit.keyword, 4)})
        return {"question": q, "results": results}

    @app.get("/api/departments", summary="Departments, their aliases and chunk counts")
    def departments() -> dict:
        index = qa.index
        return {"departments": [
            {"name": dept, "aliases": sorted(a for a, d in index.aliases.items() if d == dept and a != dept),
             "chunks": index.manifest.departments.get(dept, 0)}
            for dept in index.departments
        ], "reports": sorted({c.title for c in index.chunks})}

    @app.get("/api/paragraph", summary="A department's whole section, for reading a citation in context")
    def paragraph(id: str = Query(..., description="a citation id")) -> dict:
        return qa.paragraph(id)

    @app.get("/healthz", summary="Model, index manifest and chunk count")
    def healthz() -> dict:
        manifest = qa.index.manifest
        return {"status": "ok", "model": {"id": manifest.model_id, "sha256": manifest.model_sha256,
                                          "dim": manifest.dim, "query_encoder": qa.encoder_kind},
                "index": {"format_version": manifest.format_version, "built_at": manifest.built_at,
                          "corpus_sha256": manifest.corpus_sha256, "sources": manifest.sources,
                          "chunking": manifest.chunking},
                "chunks": len(qa.index.chunks), "departments": len(qa.index.departments)}

    @app.exception_handler(FeedbackError)
    async def bad_feedback(request: Request, exc: FeedbackError):
        return _user_error(str(exc), status=exc.status)

    @app.post("/api/feedback", summary="Rate an answer (by its id) with an optional reason")
    def post_feedback(body: FeedbackRequest, request: Request) -> dict:
        client = request.client.host if request.client else "-"
        return feedback.record(body.answer_id, body.vote, body.reason, body.text, client=client)

    @app.get("/api/feedback/summary", summary="Votes per question and reason (loopback or token)")
    def feedback_summary(request: Request) -> Any:
        if not summary_allowed(request.client.host if request.client else None,
                               request.headers.get("authorization")):
            return _user_error("仅限本机或持有令牌访问 / loopback or a bearer token only", status=403)
        return feedback.summary()

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        return Response(static_text("widget.js"), media_type="application/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})

    @app.get("/embed-demo", include_in_schema=False)
    def embed_demo() -> HTMLResponse:
        return HTMLResponse(static_text("embed-demo.html").replace("{{ROOT}}", config.root_path))

    if with_ui:
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
        import gradio as gr

        from qa.ui import CSS, HEAD, build_ui, theme

        blocks = build_ui(qa, config, feedback)
        app = gr.mount_gradio_app(app, blocks, path="/", root_path=config.root_path or None, theme=theme(), css=CSS,
                                  head=HEAD, footer_links=[], ssr_mode=False, pwa=False, mcp_server=False)
    return app
