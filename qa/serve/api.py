"""JSON API, intranet widget and the mounted chat UI: one FastAPI app.

    POST /api/ask          {"question", "k"?, "dept"?, "report"?, "history"?} -> the CLI's ``ask --json`` object
    GET  /api/search       ?q=…&k=…&dept=…&report=…
    GET  /api/departments  names, aliases, chunk counts
    GET  /api/reports      the library: id, title, district, year, file, format, layout, passage count
    GET  /api/paragraph    ?id=<chunk id>: the department's whole section
    GET  /healthz          model, index manifest (reports, version, when loaded), chunk count
    POST /api/feedback     {"answer_id", "vote": "up"|"down", "reason"?, "text"?}: a vote on an answer
    GET  /api/feedback/summary  votes per question and reason (loopback, or REPORT_QA_FEEDBACK_TOKEN)
    GET  /docs             the API's Swagger UI, its assets served from the app (works offline)
    GET  /widget.js        the self-hosted chat widget; GET /embed-demo a page that uses it
    /                      the Gradio chat UI

User errors are 422 with a Chinese / English message, never a 500; bodies over the limit are 413.
HEAD works on every GET route; a method a route does not take is a 405 with ``Allow``.
Route blocking, the body limit and CORS live in qa/serve/guard.py, in front of everything (Gradio included).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from qa.config import ServerConfig
from qa.pipeline import MAX_HISTORY_TURNS, MAX_QUESTION_CHARS, QuestionError, ReportQA, Turn, normalise_text
from qa.search.index import IndexUnusable
from qa.search.model import ModelMissingError
from qa.serve.assets import static_text
from qa.serve.feedback import FeedbackError, FeedbackLog, summary_allowed
from qa.serve.guard import Gate, Methods


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


def _few_turns(value: object) -> object:
    """Count the turns before validating each one: 10,000 turns cost a length check, not 10,000 models."""
    if isinstance(value, list) and len(value) > MAX_HISTORY_TURNS:
        raise ValueError(f"对话历史过长（{len(value)} 轮，上限 {MAX_HISTORY_TURNS} 轮）/ "
                         f"history has {len(value)} turns, limit {MAX_HISTORY_TURNS}")
    return value


class AskRequest(BaseModel):
    question: Any = Field(description=f"the question, 1–{MAX_QUESTION_CHARS} characters")
    k: Any = Field(5, description="number of citations, 1–20")
    dept: str | None = Field(None, description="restrict to one department (name or alias)")
    report: str | None = Field(None, description="restrict to one report (id, file name, title or district)")
    history: Annotated[list[HistoryTurn] | None, BeforeValidator(_few_turns)] = Field(
        None, description=f"earlier turns of this chat, oldest first (at most {MAX_HISTORY_TURNS})")

    def turns(self) -> list[Turn]:
        turns = []
        for turn in self.history or []:
            if turn.question:
                turns.append(Turn(turn.question, turn.answer or ""))
            elif turn.role == "user" and turn.content:
                turns.append(Turn(turn.content))
        return turns


def _user_error(message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": normalise_text(message)[:2000]}, status_code=status)


def body_error(cause: BaseException | None) -> str:
    """Why a JSON body could not be read, in words: the nesting, a number's length, or the bytes."""
    if isinstance(cause, RecursionError):
        return "JSON 嵌套过深 / the JSON is nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "请求体不是 UTF-8 编码 / the body is not valid UTF-8"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return (f"数字位数过多（上限 {sys.get_int_max_str_digits()} 位）/ a number has too many digits "
                f"(limit {sys.get_int_max_str_digits()})")
    return "the body is not valid UTF-8 JSON"


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


def create_app(qa: ReportQA, config: ServerConfig | None = None, with_ui: bool = True) -> FastAPI:
    """The FastAPI app with the API, the widget and (``with_ui``) the Gradio chat mounted at ``/``."""
    config = config or ServerConfig.from_env()
    app = FastAPI(title="report-qa", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Offline question answering with exact citations over government work reports.")
    add_offline_docs(app)
    feedback = FeedbackLog(config.feedback_log)
    answer_slots = threading.BoundedSemaphore(config.answer_slots)  # see ServerConfig.answer_slots
    app.state.feedback = feedback

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return _user_error(f"请求格式错误 / invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # FastAPI's "error parsing the body": the reason is the exception it wraps
            return _user_error(f"请求格式错误 / invalid request: {body_error(exc.__cause__)}")
        return await http_exception_handler(request, exc)

    @app.exception_handler(QuestionError)
    async def bad_question(request: Request, exc: QuestionError):
        return _user_error(str(exc))

    @app.exception_handler(IndexUnusable)
    @app.exception_handler(ModelMissingError)
    async def not_ready(request: Request, exc: Exception):
        return _user_error(f"服务未就绪 / not ready: {exc}", status=503)

    @app.post("/api/ask", summary="Answer a question with citations")
    def ask(body: AskRequest) -> dict:
        with answer_slots:
            answer = qa.ask(body.question, k=body.k, dept=body.dept, history=body.turns(), report=body.report)
        feedback.remember(answer)
        return answer.to_json()

    @app.get("/api/search", summary="Ranked passages with scores")
    def search(q: str = Query(..., description="the question"), k: int = Query(10), dept: str | None = None,
               report: str | None = None) -> dict:
        with answer_slots:
            hits = qa.search(q, k=k, dept=dept, report=report)
        results = []
        for hit in hits:
            c = hit.chunk
            info = qa.index.report_by_id.get(c.report)
            results.append({"id": c.id, "source": c.source, "dept": c.dept, "headline": c.headline,
                            "report": info.title if info else c.title, "report_id": c.report, "section": c.section,
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

    @app.get("/api/reports", summary="The reports in the library")
    def reports() -> dict:
        return {"reports": qa.reports}

    @app.get("/api/paragraph", summary="A department's whole section, for reading a citation in context")
    def paragraph(id: str = Query(..., description="a citation id")) -> dict:
        return qa.paragraph(id)

    @app.get("/healthz", summary="Model, index manifest, reports and chunk count")
    def healthz() -> dict:
        with qa.pinned() as retriever:
            index = retriever.index
        manifest = index.manifest
        return {"status": "ok", "model": {"id": manifest.model_id, "sha256": manifest.model_sha256,
                                          "dim": manifest.dim, "query_encoder": qa.encoder_kind},
                "index": {"format_version": manifest.format_version, "built_at": manifest.built_at,
                          "corpus_sha256": manifest.corpus_sha256, "sources": manifest.sources,
                          "reports": [{"id": r.id, "title": r.title, "district": r.district, "year": r.year, "file": r.source,
                                       "passages": r.passages} for r in index.reports],
                          "chunking": manifest.chunking, "version": index.directory.name if index.directory else "",
                          "loaded_at": qa.loaded_at, "reload_error": qa.reload_error},
                "chunks": len(index.chunks), "departments": len(index.departments)}

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

        from qa.serve.ui import CSS, HEAD, build_ui, theme

        blocks = build_ui(qa, config, feedback)
        app = gr.mount_gradio_app(app, blocks, path="/", root_path=config.root_path or None, theme=theme(), css=CSS,
                                  head=HEAD, footer_links=[], ssr_mode=False, pwa=False, mcp_server=False)
    # Added innermost first: Gate -> forwarded headers of trusted proxies -> Host check -> methods -> the app.
    routes = {route.path: route.methods for route in app.routes if getattr(route, "methods", None)}
    app.add_middleware(Methods, routes=routes, root_path=config.root_path)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=config.hosts(), www_redirect=False)
    if config.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=config.trusted_proxies)
    app.add_middleware(Gate, cors_origins=config.cors_origins, max_body_bytes=config.max_body_bytes,
                       root_path=config.root_path, trusted_proxies=config.trusted_proxies,
                       allowed_hosts=config.hosts())  # last added: outermost, in front of Gradio too
    return app
