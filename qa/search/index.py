"""Chunks -> index: dense (FAISS inner product) and keyword (bm25s), saved as plain files.

``index/`` holds::

    manifest.json     format version, model id + weights hash, corpus hash, chunking, encoder, library versions
    chunks.jsonl      one chunk per line (text, department, item number, spans)
    dense.faiss       chunk vectors (normalised, inner product = cosine)
    clauses.npy       one vector per clause, to pick the answering clause
    keyword/          bm25s files + userdict.json (jieba words, alias folding)
    aliases.json      alias -> department
    reports.json      one object per report: id, title, district, year, file, format, layout, passages
    texts/<id>.txt    each report's extracted text (UTF-8): passage offsets point into it, whatever the format
    encoder/          ONNX export of the model + tokenizer (the query path)

No pickle anywhere. ``save`` writes a temporary folder, renames it to a
versioned sibling ``.index.v-<time>-<pid>-<random>`` and then points ``index`` (a
symlink) at it with one ``os.replace``: a build killed at any moment leaves
the previous index (or none), never a half-written one, and a running app
sees the new index appear in one step (it reloads it, see qa/pipeline.py).
The next build removes what killed builds left behind (``.index.tmp-*``,
``.encoder-*``, old versions). ``load`` verifies the manifest's schema, the
size and sha256 of every file it lists (once, at load), the vector
dimension and that no vector holds NaN or infinity, and refuses an index
whose manifest does not match the corpus, model or code it is asked to
serve; every refusal says how to fix it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.ingest.corpus import Corpus, load_corpus, corpus_fingerprint, quoted_terms
from qa.ingest.document import Chunk, ReportInfo
from qa.search.tokens import Tokenizer

# 2: files carry sha256 as well as size; 3: passages carry report/section/item_label, reports.json + texts/;
# 4: answer_models, the fingerprints of the answer-stage models, replaces answerability
FORMAT_VERSION = 4
MANIFEST = "manifest.json"
BM25_PARAMS = {"k1": 1.2, "b": 0.5}
REPORTS_FILE = "reports.json"
TEXTS_DIR = "texts"


class IndexUnusable(RuntimeError):
    """The index is missing, broken or does not match; the message says how to fix it."""


class IndexMissingError(IndexUnusable):
    pass


class IndexStaleError(IndexUnusable):
    pass


@dataclass
class Manifest:
    format_version: int
    model_id: str
    model_path: str
    model_sha256: str
    dim: int
    corpus_sha256: str
    chunking: dict
    encoder: dict
    bm25: dict
    libraries: dict
    sources: list[str]
    chunk_count: int
    departments: dict[str, int]
    built_at: str = ""
    build_seconds: float = 0.0
    files: dict[str, dict] = field(default_factory=dict)  # relative path -> {"size": bytes, "sha256": hex}
    # {name: {version, sha256}} of the answer-stage models (qa.pipeline.answer_models) the index was built for
    answer_models: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


def library_versions() -> dict[str, str]:
    names = ["faiss-cpu", "bm25s", "jieba", "sentence-transformers", "torch", "onnxruntime", "tokenizers", "numpy"]
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def manifest_problems(manifest: Manifest, settings: Settings, model_sha256: str | None,
                      answer_models: dict[str, dict]) -> list[str]:
    """Why this index cannot serve ``settings`` (empty when it can). ``answer_models``: the fingerprints of the
    answer-stage models that will read it (``qa.pipeline.answer_models()``)."""
    problems = []
    if manifest.format_version != FORMAT_VERSION:
        problems.append(f"index format {manifest.format_version}, this code reads {FORMAT_VERSION}")
    if manifest.corpus_sha256 != corpus_fingerprint(settings.corpus_dir):
        problems.append(f"the corpus in {settings.corpus_dir} changed since the index was built")
    if manifest.chunking != asdict(settings.chunking):
        problems.append(f"chunking parameters changed ({manifest.chunking} -> {asdict(settings.chunking)})")
    if model_sha256 is not None and manifest.model_sha256 != model_sha256:
        problems.append(f"the embedding model at {settings.model_dir} is not the one the index was built with")
    for name, fingerprint in answer_models.items():
        built_for = manifest.answer_models.get(name)
        if built_for != fingerprint:
            was = (built_for or {}).get("version") or "none"
            problems.append(f"the {name} model changed since the index was built (version {was}, "
                            f"now {fingerprint.get('version') or '?'})")
    return problems


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_record(path: Path) -> dict:
    return {"size": path.stat().st_size, "sha256": file_sha256(path)}


def damaged_files(directory: Path, manifest: Manifest, check_hashes: bool = True) -> list[str]:
    """Files the manifest lists that are missing, not the size it recorded or (``check_hashes``) whose
    content does not hash to the recorded sha256; each entry is ``"<name> (<what is wrong>)"``."""
    damaged = []
    for name, record in manifest.files.items():
        path = directory / name
        if not path.is_file() or path.stat().st_size != record["size"]:
            damaged.append(f"{name} (missing or truncated)")
        elif check_hashes and file_sha256(path) != record["sha256"]:
            damaged.append(f"{name} (corrupted: its sha256 differs from the manifest)")
    return damaged


_SHA256 = re.compile(r"[0-9a-f]{64}")
_MANIFEST_TYPES = {"format_version": int, "model_id": str, "model_path": str, "model_sha256": str, "dim": int,
                   "corpus_sha256": str, "chunking": dict, "encoder": dict, "bm25": dict, "libraries": dict,
                   "sources": list, "chunk_count": int, "departments": dict, "built_at": str,
                   "build_seconds": (int, float), "files": dict, "answer_models": dict}


def manifest_schema_problems(data: object) -> list[str]:
    """What is wrong with a parsed manifest.json (empty when it can be trusted as a description)."""
    if not isinstance(data, dict):
        return ["it is not a JSON object"]
    problems = []
    required = [f.name for f in fields(Manifest) if f.default is MISSING and f.default_factory is MISSING]
    problems += [f"{name!r} is missing" for name in required if name not in data]
    for name, kind in _MANIFEST_TYPES.items():
        if name in data and (not isinstance(data[name], kind) or isinstance(data[name], bool)):
            problems.append(f"{name!r} has the wrong type ({type(data[name]).__name__})")
    models = data.get("answer_models", {})
    if isinstance(models, dict) and not all(isinstance(v, dict) for v in models.values()):
        problems.append("'answer_models' must map each model name to {version, sha256}")
    if problems:
        return problems
    if data["dim"] <= 0 or data["chunk_count"] < 0:
        problems.append("'dim' and 'chunk_count' must be positive")
    files = data.get("files")
    if not files:
        problems.append("'files' must be a non-empty object of file -> {size, sha256}")
        return problems
    for name, record in files.items():
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or ".." in parts:
            problems.append(f"file name {name!r} is not a path inside the index")
        elif not (isinstance(record, dict) and isinstance(record.get("size"), int) and record["size"] >= 0
                  and isinstance(record.get("sha256"), str) and _SHA256.fullmatch(record["sha256"])):
            problems.append(f"the record of {name!r} is not {{size, sha256}}")
    for name in REQUIRED_FILES:
        if name not in files:
            problems.append(f"{name!r} is not listed in 'files'")
    return problems


def vector_problems(manifest: Manifest, dense, clause_vectors: np.ndarray, clause_rows: int) -> list[str]:
    """Dimension, row counts and finiteness of the loaded vectors."""
    problems = []
    if dense.d != manifest.dim:
        problems.append(f"dense.faiss has dimension {dense.d}, the manifest says {manifest.dim}")
    if clause_vectors.ndim != 2 or clause_vectors.shape != (clause_rows, manifest.dim):
        problems.append(f"clauses.npy has shape {clause_vectors.shape}, expected ({clause_rows}, {manifest.dim})")
    elif not np.isfinite(clause_vectors).all():
        problems.append("clauses.npy holds NaN or infinite values")
    if not problems and dense.ntotal and not np.isfinite(dense.reconstruct_n(0, dense.ntotal)).all():
        problems.append("dense.faiss holds NaN or infinite values")
    return problems


# ------------------------------------------------------------ atomic replacement and stale temporaries

REQUIRED_FILES = ("chunks.jsonl", "dense.faiss", "clauses.npy", "aliases.json", "keyword/userdict.json")
_TEMPORARY = re.compile(r"^\.(?:encoder|.+\.(?:tmp|old|link))-(\d+)$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_temporaries(directory: Path, keep_versions: int = 1) -> list[str]:
    """Delete what killed builds left next to ``directory`` (``.index.tmp-*``, ``.index.link-*``,
    ``.encoder-*`` … of processes no longer running) and all versions but the current one and the
    ``keep_versions`` newest others. Returns the names removed."""
    directory = Path(os.path.abspath(directory))
    parent = directory.parent
    if not parent.is_dir():
        return []
    removed = []
    for path in parent.iterdir():
        match = _TEMPORARY.match(path.name)
        if match and (path.name.startswith((f".{directory.name}.", ".encoder-"))) and not _pid_alive(int(match[1])):
            _remove(path)
            removed.append(path.name)
    current = os.readlink(directory) if directory.is_symlink() else None
    versions = sorted((p for p in parent.glob(f".{directory.name}.v-*") if p.name != current),
                      key=lambda p: p.stat().st_mtime, reverse=True)
    for path in versions[keep_versions:]:
        _remove(path)
        removed.append(path.name)
    return removed


def _user_words(corpus: Corpus) -> list[str]:
    words = set(corpus.aliases)
    for report in corpus.reports:
        words.update(quoted_terms(report.text))
    return sorted(w for w in words if len(w) >= 2)


def _write_atomic(directory: Path, write) -> None:
    """Call ``write(tmp_dir)``, rename the result to a new version and point ``directory`` (a symlink)
    at it with one ``os.replace``."""
    directory = Path(os.path.abspath(directory))  # not resolve(): that would follow the current link
    parent, pid = directory.parent, os.getpid()
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(directory)
    tmp = parent / f".{directory.name}.tmp-{pid}"
    link = parent / f".{directory.name}.link-{pid}"
    version = parent / f".{directory.name}.v-{time.strftime('%Y%m%d-%H%M%S')}-{pid}-{secrets.token_hex(3)}"
    _remove(tmp)
    _remove(link)
    try:
        tmp.mkdir()
        write(tmp)
        os.replace(tmp, version)
        os.symlink(version.name, link)
        if directory.is_dir() and not directory.is_symlink():
            # An index from before versioned folders: moved aside once (the next build deletes it).
            os.replace(directory, parent / f".{directory.name}.v-legacy-{pid}")
        os.replace(link, directory)
    finally:
        _remove(tmp)
        _remove(link)
    remove_stale_temporaries(directory)


class ReportIndex:
    """Chunks with their dense and keyword indexes. Build with ``build``, then ``save`` / ``load``."""

    def __init__(self, chunks, dense, clause_vectors, bm25, tokenizer, aliases, manifest,
                 reports: list[ReportInfo] | None = None, texts: dict[str, str] | None = None,
                 directory: Path | None = None):
        self.chunks: list[Chunk] = chunks
        self.dense = dense  # faiss.IndexFlatIP
        self.clause_vectors: np.ndarray = clause_vectors
        self.bm25 = bm25  # bm25s.BM25
        self.tokenizer: Tokenizer = tokenizer
        self.aliases: dict[str, str] = aliases
        self.manifest: Manifest = manifest
        # Clauses of chunk i are rows clause_offsets[i]:clause_offsets[i + 1] of clause_vectors.
        self.clause_offsets = np.cumsum([0] + [len(c.clauses) for c in chunks])
        self.clause_spans = [span for c in chunks for span in c.clauses]
        self.position = {c.id: i for i, c in enumerate(chunks)}  # chunk id -> row
        self.departments = list(dict.fromkeys(c.dept for c in chunks if c.kind != "overview"))
        self.dept_of = np.array([c.dept for c in chunks], dtype=object)
        # Library of reports: a department of two reports is two departments, keyed (report, dept).
        self.reports: list[ReportInfo] = reports if reports is not None else _reports_from_chunks(chunks)
        self.report_by_id = {r.id: r for r in self.reports}
        self.report_of = np.array([c.report for c in chunks], dtype=object)
        self.dept_key = np.array([f"{c.report}\x1f{c.dept}" for c in chunks], dtype=object)
        self._texts: dict[str, str] = dict(texts or {})
        self.directory = directory
        self.corpus: Corpus | None = None  # set by build_index: the build summary
        self.corpus_text = "\n".join(f"{c.dept}\n{c.headline}\n{c.text}" for c in chunks).lower()
        self._report_texts: dict[tuple[str, ...], str] = {}
        self.embed_stats = None  # set by build_index: what the embedder did (qa.search.embed.EmbedStats)

    # ------------------------------------------------------------ build

    @classmethod
    def build(cls, corpus: Corpus, encoder, settings: Settings, answer_models: dict[str, dict],
              progress: bool = True) -> "ReportIndex":
        """Embed and index ``corpus`` with ``encoder`` (``qa.search.embed.CachedEmbedder``, or any ``Encoder``);
        the manifest records ``answer_models``, the fingerprints of the models that will read the index."""
        import bm25s
        import faiss
        from tqdm import tqdm

        from qa.search.model import weights_sha256

        t0 = time.perf_counter()
        chunks = corpus.chunks
        texts = [c.dense_text(settings.chunking) for c in chunks]
        clause_texts = [corpus.report_text(c.report)[s:e] for c in chunks for s, e in c.clauses]
        with tqdm(total=len(texts) + len(clause_texts), desc="embedding", unit="text", disable=not progress,
                  file=sys.stderr) as bar:
            if hasattr(encoder, "progress"):
                encoder.progress = bar.update
            both = encoder.encode(texts + clause_texts)  # one call: batches sorted by length across both
        matrix, clause_matrix = both[:len(texts)], both[len(texts):]
        dense = faiss.IndexFlatIP(matrix.shape[1])
        dense.add(matrix)

        tokenizer = Tokenizer(_user_words(corpus), corpus.aliases)
        bm25 = bm25s.BM25(**BM25_PARAMS)
        corpus_tokens = [tokenizer.tokens(c.index_text(settings.chunking)) or ["∅"] for c in chunks]
        bm25.index(corpus_tokens, show_progress=False)

        departments: dict[str, int] = {}
        for c in chunks:
            if c.dept:
                departments[c.dept] = departments.get(c.dept, 0) + 1
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            model_id=settings.model_dir.name,
            model_path=str(settings.model_dir),
            model_sha256=weights_sha256(settings.model_dir, settings.cache_dir),
            dim=int(matrix.shape[1]),
            corpus_sha256=corpus.fingerprint,
            chunking=asdict(settings.chunking),
            encoder={},
            bm25=dict(BM25_PARAMS, tokenizer="jieba.cut_for_search + userdict + stopwords"),
            libraries=library_versions(),
            sources=[r.source for r in corpus.reports],
            chunk_count=len(chunks),
            departments=departments,
            built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            answer_models=dict(answer_models),
        )
        index = cls(chunks, dense, clause_matrix, bm25, tokenizer, corpus.aliases, manifest,
                    reports=[r.info for r in corpus.reports], texts={r.id: r.text for r in corpus.reports})
        index.manifest.build_seconds = round(time.perf_counter() - t0, 2)
        return index

    # ------------------------------------------------------------ save / load

    def save(self, directory: Path, encoder_dir: Path | None = None) -> None:
        """Write every file, then the manifest, into a temp folder renamed to ``directory``."""
        import faiss

        def write(tmp: Path) -> None:
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
                for chunk in self.chunks:
                    fh.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
            faiss.write_index(self.dense, str(tmp / "dense.faiss"))
            np.save(tmp / "clauses.npy", self.clause_vectors, allow_pickle=False)
            self.bm25.save(str(tmp / "keyword"), show_progress=False)
            (tmp / "keyword" / "userdict.json").write_text(json.dumps(
                {"user_words": self.tokenizer.user_words, "canonical": self.tokenizer.canonical},
                ensure_ascii=False, indent=1), encoding="utf-8")
            (tmp / "aliases.json").write_text(json.dumps(self.aliases, ensure_ascii=False, indent=1), encoding="utf-8")
            self._save_reports(tmp)
            if encoder_dir is not None:
                shutil.copytree(encoder_dir, tmp / "encoder")
            self.manifest.files = {
                str(p.relative_to(tmp)): file_record(p) for p in sorted(tmp.rglob("*")) if p.is_file()
            }
            (tmp / MANIFEST).write_text(self.manifest.to_json(), encoding="utf-8")

        _write_atomic(directory, write)

    @staticmethod
    def read_manifest(directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.is_file():
            raise IndexMissingError(
                f"no index at {directory} (no {MANIFEST}). Build it: `python -m qa build` (or `make setup`)."
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexUnusable(f"{path} is unreadable ({exc}). Rebuild: `python -m qa build`.") from exc
        problems = manifest_schema_problems(data)
        if problems:
            raise IndexUnusable(f"{path} is not a valid index manifest: {'; '.join(problems[:5])}. "
                                "Rebuild: `python -m qa build`.")
        known = {f.name for f in fields(Manifest)}
        return Manifest(**{k: v for k, v in data.items() if k in known})  # newer keys: ignored

    @classmethod
    def load(cls, directory: Path, settings: Settings | None = None, model_sha256: str | None = None,
             answer_models: dict[str, dict] | None = None) -> "ReportIndex":
        """Load ``directory``; with ``settings``, refuse it when it is stale for them and for ``answer_models``
        (then required: the answer-stage models that will read it, ``qa.pipeline.answer_models()``)."""
        import bm25s
        import faiss

        directory = Path(directory).resolve()  # one version throughout, even if a build swaps it meanwhile
        manifest = cls.read_manifest(directory)
        if settings is not None:
            if answer_models is None:
                raise ValueError("ReportIndex.load: a staleness check needs answer_models as well as settings")
            problems = manifest_problems(manifest, settings, model_sha256, answer_models)
            if problems:
                raise IndexStaleError(
                    f"the index at {directory} is stale: {'; '.join(problems)}. Rebuild: `python -m qa build`."
                )
        damaged = damaged_files(directory, manifest)
        if damaged:
            raise IndexUnusable(f"index file {directory / damaged[0]}. Rebuild: `python -m qa build`.")
        try:
            with open(directory / "chunks.jsonl", encoding="utf-8") as fh:
                chunks = [Chunk.from_dict(json.loads(line)) for line in fh if line.strip()]
            dense = faiss.read_index(str(directory / "dense.faiss"))
            clause_vectors = np.load(directory / "clauses.npy", allow_pickle=False)
            bm25 = bm25s.BM25.load(str(directory / "keyword"), load_corpus=False)
            words = json.loads((directory / "keyword" / "userdict.json").read_text(encoding="utf-8"))
            aliases = json.loads((directory / "aliases.json").read_text(encoding="utf-8"))
            tokenizer = Tokenizer(words["user_words"], words["canonical"])
            reports = cls._load_reports(directory)
            index = cls(chunks, dense, clause_vectors, bm25, tokenizer, aliases, manifest, reports=reports,
                        directory=directory)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError) as exc:
            raise IndexUnusable(f"the index at {directory} is broken ({exc}). Rebuild: `python -m qa build`.") from exc
        if dense.ntotal != len(chunks) or len(chunks) != manifest.chunk_count:
            raise IndexUnusable(f"the index at {directory} is inconsistent (vectors vs chunks). Rebuild: `python -m qa build`.")
        problems = vector_problems(manifest, dense, clause_vectors, int(index.clause_offsets[-1]))
        if problems:
            raise IndexUnusable(f"the index at {directory} is broken: {'; '.join(problems)}. "
                                "Rebuild: `python -m qa build`.")
        return index

    # ------------------------------------------------------------ reports and their texts

    def _save_reports(self, tmp: Path) -> None:
        """``reports.json`` and ``texts/<report id>.txt``: the extracted text passage offsets point into."""
        (tmp / REPORTS_FILE).write_text(json.dumps([r.to_dict() for r in self.reports], ensure_ascii=False,
                                                   indent=1), encoding="utf-8")
        (tmp / TEXTS_DIR).mkdir()
        for report in self.reports:
            (tmp / TEXTS_DIR / f"{report.id}.txt").write_text(self.report_text(report.id), encoding="utf-8",
                                                               newline="")

    @staticmethod
    def _load_reports(directory: Path) -> list[ReportInfo]:
        path = directory / REPORTS_FILE
        try:
            return [ReportInfo.from_dict(r) for r in json.loads(path.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise IndexUnusable(f"the index at {directory} has no readable {REPORTS_FILE} ({exc}). "
                                "Rebuild: `python -m qa build`.") from exc

    def corpus_text_of(self, report_ids: list[str] | None) -> str:
        """``corpus_text`` of some reports only (all when ``report_ids`` is empty): the evidence a question
        confined to those reports is judged on."""
        if not report_ids or len(self.reports) <= 1:
            return self.corpus_text
        key = tuple(sorted(set(report_ids)))
        if key not in self._report_texts:
            if len(self._report_texts) >= 64:  # questions name few combinations; never let the cache grow unbounded
                self._report_texts.clear()
            self._report_texts[key] = "\n".join(f"{c.dept}\n{c.headline}\n{c.text}" for c in self.chunks
                                                 if c.report in key).lower()
        return self._report_texts[key]

    def report_text(self, report_id: str) -> str:
        """A report's extracted text (read from ``texts/`` on first use)."""
        if report_id not in self._texts:
            if self.directory is None or report_id not in self.report_by_id:
                raise KeyError(report_id)
            path = self.directory / TEXTS_DIR / f"{report_id}.txt"
            with open(path, encoding="utf-8", newline="") as fh:
                self._texts[report_id] = fh.read()
        return self._texts[report_id]


def _reports_from_chunks(chunks: list[Chunk]) -> list[ReportInfo]:
    """Report metadata rebuilt from passages (an index saved without ``reports.json``, or a test's)."""
    reports: dict[str, ReportInfo] = {}
    for c in chunks:
        info = reports.setdefault(c.report, ReportInfo(c.report, c.title, "", None, c.source,
                                                       Path(c.source).suffix.lstrip("."), ""))
        info.passages += 1
        if c.dept and c.dept not in info.departments:
            info.departments.append(c.dept)
    return list(reports.values())


def build_index(settings: Settings, answer_models: dict[str, dict], progress: bool = True, quantize: bool = False,
                strict: bool = False) -> ReportIndex:
    """Parse the corpus, embed, export the query encoder and save: the whole ``qa build``, for the answer-stage
    models ``answer_models`` (``qa.pipeline.answer_models()``). ``strict``: refuse to build when any file is
    skipped. ``index.corpus`` keeps the build summary."""
    from qa.ingest.document import CorpusError
    from qa.search.embed import build_embedder
    from qa.search.encoder import ENCODER_CONFIG
    from qa.search.model import check_model_dir

    check_model_dir(settings.model_dir)
    remove_stale_temporaries(settings.index_dir)
    corpus = load_corpus(settings.corpus_dir, settings.chunking, quiet=strict)
    skipped = [f for f in corpus.files if f.status == "skipped"]
    if strict and skipped:
        raise CorpusError("--strict: skipped file(s), nothing built:\n" + "\n".join(f.line() for f in skipped))
    # The ONNX export is made once per model and cached; vectors are cached by text (qa/search/embed.py).
    embedder, query_encoder_dir = build_embedder(settings, quantize=quantize)
    try:
        index = ReportIndex.build(corpus, embedder, settings, answer_models, progress=progress)
    finally:
        embedder.close()
    index.embed_stats = embedder.stats
    index.manifest.encoder = json.loads((query_encoder_dir / ENCODER_CONFIG).read_text())
    index.save(settings.index_dir, encoder_dir=query_encoder_dir)
    index.corpus = corpus
    return index
