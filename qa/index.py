"""Chunks -> index: dense (FAISS inner product) and keyword (bm25s), saved as plain files.

``index/`` holds::

    manifest.json     format version, model id + weights hash, corpus hash, chunking, encoder, library versions
    chunks.jsonl      one chunk per line (text, department, item number, spans)
    dense.faiss       chunk vectors (normalised, inner product = cosine)
    clauses.npy       one vector per clause, to pick the answering clause
    keyword/          bm25s files + userdict.json (jieba words, alias folding)
    aliases.json      alias -> department
    encoder/          ONNX export of the model + tokenizer (the query path)

No pickle anywhere. ``save`` writes a temporary folder and renames it into
place, so an interrupted build leaves the previous index (or none), never a
half-written one. ``load`` refuses an index whose manifest does not match
the corpus, model or code it is asked to serve.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from qa.config import ChunkingParams, Settings
from qa.corpus import Chunk, Corpus, load_corpus, corpus_fingerprint, quoted_terms
from qa.tokens import Tokenizer

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BM25_PARAMS = {"k1": 1.2, "b": 0.5}


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
    files: dict[str, int] = field(default_factory=dict)
    answerability: dict = field(default_factory=dict)  # {version, sha256} of the answer-or-abstain model

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


def manifest_problems(manifest: Manifest, settings: Settings, model_sha256: str | None) -> list[str]:
    """Why this index cannot serve ``settings`` (empty when it can)."""
    problems = []
    if manifest.format_version != FORMAT_VERSION:
        problems.append(f"index format {manifest.format_version}, this code reads {FORMAT_VERSION}")
    if manifest.corpus_sha256 != corpus_fingerprint(settings.corpus_dir):
        problems.append(f"the corpus in {settings.corpus_dir} changed since the index was built")
    if manifest.chunking != asdict(settings.chunking):
        problems.append(f"chunking parameters changed ({manifest.chunking} -> {asdict(settings.chunking)})")
    if model_sha256 is not None and manifest.model_sha256 != model_sha256:
        problems.append(f"the embedding model at {settings.model_dir} is not the one the index was built with")
    return problems


def damaged_files(directory: Path, manifest: Manifest) -> list[str]:
    """Files the manifest lists that are missing or not the size it recorded."""
    return [name for name, size in manifest.files.items()
            if not (directory / name).is_file() or (directory / name).stat().st_size != size]


def _user_words(corpus: Corpus) -> list[str]:
    words = set(corpus.aliases)
    for report in corpus.reports:
        words.update(quoted_terms(report.text))
    return sorted(w for w in words if len(w) >= 2)


def _write_atomic(directory: Path, write) -> None:
    """Call ``write(tmp_dir)`` and move the result to ``directory`` in one rename."""
    directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}.tmp-{os.getpid()}"
    old = directory.parent / f".{directory.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        write(tmp)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


class ReportIndex:
    """Chunks with their dense and keyword indexes. Build with ``build``, then ``save`` / ``load``."""

    def __init__(self, chunks, dense, clause_vectors, bm25, tokenizer, aliases, manifest):
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
        self.corpus_text = "\n".join(f"{c.dept}\n{c.headline}\n{c.text}" for c in chunks).lower()

    # ------------------------------------------------------------ build

    @classmethod
    def build(cls, corpus: Corpus, st_encoder, settings: Settings, progress: bool = True) -> "ReportIndex":
        """Embed and index ``corpus`` with a ``SentenceTransformerEncoder``."""
        import bm25s
        import faiss
        from tqdm import tqdm

        from qa.model import weights_sha256

        t0 = time.perf_counter()
        chunks = corpus.chunks
        texts = [c.dense_text(settings.chunking) for c in chunks]
        clause_texts = [corpus.source_text(c.source)[s:e] for c in chunks for s, e in c.clauses]
        batches = [texts[i:i + 16] for i in range(0, len(texts), 16)]
        clause_batches = [clause_texts[i:i + 32] for i in range(0, len(clause_texts), 32)]
        vectors, clause_vectors = [], []
        with tqdm(total=len(texts) + len(clause_texts), desc="embedding", unit="text", disable=not progress,
                  file=sys.stderr) as bar:
            for batch in batches:
                vectors.append(st_encoder.encode(batch))
                bar.update(len(batch))
            for batch in clause_batches:
                clause_vectors.append(st_encoder.encode(batch))
                bar.update(len(batch))
        matrix = np.vstack(vectors)
        dense = faiss.IndexFlatIP(matrix.shape[1])
        dense.add(matrix)

        tokenizer = Tokenizer(_user_words(corpus), corpus.aliases)
        bm25 = bm25s.BM25(**BM25_PARAMS)
        corpus_tokens = [tokenizer.tokens(c.index_text(settings.chunking)) or ["∅"] for c in chunks]
        bm25.index(corpus_tokens, show_progress=False)

        departments: dict[str, int] = {}
        for c in chunks:
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
        )
        from qa.abstain import model_fingerprint

        manifest.answerability = model_fingerprint()
        index = cls(chunks, dense, np.vstack(clause_vectors), bm25, tokenizer, corpus.aliases, manifest)
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
            if encoder_dir is not None:
                shutil.copytree(encoder_dir, tmp / "encoder")
            self.manifest.files = {
                str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()
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
            return Manifest(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise IndexUnusable(f"{path} is unreadable ({exc}). Rebuild: `python -m qa build`.") from exc

    @classmethod
    def load(cls, directory: Path, settings: Settings | None = None, model_sha256: str | None = None) -> "ReportIndex":
        """Load ``directory``; with ``settings``, refuse it when it is stale for them."""
        import bm25s
        import faiss

        manifest = cls.read_manifest(directory)
        if settings is not None:
            problems = manifest_problems(manifest, settings, model_sha256)
            if problems:
                raise IndexStaleError(
                    f"the index at {directory} is stale: {'; '.join(problems)}. Rebuild: `python -m qa build`."
                )
        damaged = damaged_files(directory, manifest)
        if damaged:
            raise IndexUnusable(f"index file {directory / damaged[0]} is missing or truncated. "
                                "Rebuild: `python -m qa build`.")
        try:
            with open(directory / "chunks.jsonl", encoding="utf-8") as fh:
                chunks = [Chunk.from_dict(json.loads(line)) for line in fh if line.strip()]
            dense = faiss.read_index(str(directory / "dense.faiss"))
            clause_vectors = np.load(directory / "clauses.npy", allow_pickle=False)
            bm25 = bm25s.BM25.load(str(directory / "keyword"), load_corpus=False)
            words = json.loads((directory / "keyword" / "userdict.json").read_text(encoding="utf-8"))
            aliases = json.loads((directory / "aliases.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
            raise IndexUnusable(f"the index at {directory} is broken ({exc}). Rebuild: `python -m qa build`.") from exc
        if dense.ntotal != len(chunks) or len(chunks) != manifest.chunk_count:
            raise IndexUnusable(f"the index at {directory} is inconsistent (vectors vs chunks). Rebuild: `python -m qa build`.")
        tokenizer = Tokenizer(words["user_words"], words["canonical"])
        return cls(chunks, dense, clause_vectors, bm25, tokenizer, aliases, manifest)


def build_index(settings: Settings, progress: bool = True, quantize: bool = False) -> ReportIndex:
    """Parse the corpus, embed, export the query encoder and save: the whole ``qa build``."""
    from qa.encoder import SentenceTransformerEncoder, export_onnx
    from qa.model import check_model_dir

    check_model_dir(settings.model_dir)
    corpus = load_corpus(settings.corpus_dir, settings.chunking)
    st_encoder = SentenceTransformerEncoder(settings.model_dir)
    index = ReportIndex.build(corpus, st_encoder, settings, progress=progress)
    staging = settings.index_dir.resolve().parent / f".encoder-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        index.manifest.encoder = export_onnx(st_encoder, staging, quantize=quantize)
        index.save(settings.index_dir, encoder_dir=staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return index
