"""Texts -> vectors for the index build: the ONNX encoder, length-sorted batches, a vector cache on disk.

``CachedEmbedder.encode(texts)`` returns one normalised float32 row per text:

* each distinct text is looked up in the ``VectorCache`` by ``sha256(encoder key + text)``;
* the texts not found are tokenised once, sorted by token count and run through
  the ONNX encoder in batches of similar length (little padding), then put back
  in their original order and stored in the cache.

So a rebuild with an unchanged corpus embeds nothing, and adding one report
embeds only the texts of that report. The cache is one SQLite file (standard
library, no pickle): a key, the float32 bytes of the vector and their CRC32.
A damaged file or row is recomputed, never trusted and never fatal.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

# One ONNX run holds at most this many rows and this many (rows x longest) tokens. Small batches of
# similar length cost the least CPU per token on this model (measured: 4 rows ~35% less than 64).
MAX_BATCH_ROWS = 4
MAX_BATCH_TOKENS = 2048
MAX_WORKERS = 4  # parallel single-threaded ONNX runs, at most one per core
FLUSH_ROWS = 512  # vectors written to the cache at least this often
_SQL_CHUNK = 500  # keys per SELECT ... IN (...)


@dataclass
class EmbedStats:
    """What the last ``encode`` calls did: texts asked for, found in the cache, embedded, encoder runs."""

    texts: int = 0
    unique: int = 0
    cached: int = 0
    embedded: int = 0
    encoder_calls: int = 0

    def summary(self) -> str:
        return (f"{self.texts} texts ({self.unique} distinct): {self.cached} from the vector cache, "
                f"{self.embedded} embedded in {self.encoder_calls} batches")


def text_key(encoder_key: str, text: str) -> bytes:
    return hashlib.sha256(f"{encoder_key}\0{text}".encode("utf-8")).digest()


class VectorCache:
    """key -> float32 vector in one SQLite file; unusable files are replaced, unusable rows ignored."""

    def __init__(self, path: Path, dim: int):
        self.path = Path(path)
        self.dim = dim
        self.warnings: list[str] = []
        self._db: sqlite3.Connection | None = None
        self._open()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=60)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL, "
                   "crc INTEGER NOT NULL) WITHOUT ROWID")
        db.execute("SELECT count(*) FROM vectors WHERE key = x'00'").fetchone()
        return db

    def _open(self) -> None:
        try:
            self._db = self._connect()
        except (sqlite3.DatabaseError, OSError) as exc:
            self._reset(exc)

    def _reset(self, exc: Exception) -> None:
        """The file is not a usable cache: start an empty one (or run without a cache)."""
        self.warnings.append(f"vector cache {self.path} unusable ({exc}); recomputing")
        print(f"warning: {self.warnings[-1]}", file=sys.stderr)
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        try:
            self._db = self._connect()
        except (sqlite3.DatabaseError, OSError) as again:
            self.warnings.append(f"vector cache disabled ({again})")
            print(f"warning: {self.warnings[-1]}", file=sys.stderr)
            self._db = None

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        if self._db is None:
            return found
        try:
            for start in range(0, len(keys), _SQL_CHUNK):
                part = list(keys[start:start + _SQL_CHUNK])
                rows = self._db.execute(
                    f"SELECT key, vector, crc FROM vectors WHERE key IN ({','.join('?' * len(part))})", part)
                for key, blob, crc in rows:
                    if len(blob) == 4 * self.dim and zlib.crc32(blob) == crc:
                        found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        except sqlite3.DatabaseError as exc:
            self._reset(exc)
            return {}
        return found

    def put_many(self, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        if self._db is None or not items:
            return
        rows = []
        for key, vector in items:
            blob = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
            rows.append((key, blob, zlib.crc32(blob)))
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO vectors (key, vector, crc) VALUES (?, ?, ?)", rows)
        except sqlite3.DatabaseError as exc:
            self._reset(exc)

    def __len__(self) -> int:
        if self._db is None:
            return 0
        try:
            return int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])
        except sqlite3.DatabaseError:
            return 0

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None


def length_sorted_batches(lengths: Sequence[int], max_rows: int = MAX_BATCH_ROWS,
                          max_tokens: int = MAX_BATCH_TOKENS) -> list[list[int]]:
    """Positions grouped into batches of similar length: sorted by length, cut at ``max_rows`` rows or
    when rows x longest would pass ``max_tokens``."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) >= max_rows or (len(current) + 1) * lengths[i] > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class CachedEmbedder:
    """The build's encoder: ``encode(texts)`` through ONNX, each distinct text embedded at most once ever.

    ``encoder_dir`` is an ONNX export (``qa.search.encoder.cached_export``); ``cache`` may be None (no caching).
    The ONNX session is created on the first text that is not in the cache.
    """

    name = "onnx-cached"

    def __init__(self, encoder_dir: Path, encoder_key: str, cache: VectorCache | None,
                 progress: Callable[[int], None] | None = None):
        self.encoder_dir = Path(encoder_dir)
        self.encoder_key = encoder_key
        self.cache = cache
        self.progress = progress
        self.stats = EmbedStats()
        self.workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS))
        self._encoder = None

    @property
    def encoder(self):
        """One ONNX session, one thread per run: ``workers`` runs go in parallel (less CPU than intra-op
        threads on small batches)."""
        if self._encoder is None:
            from qa.search.encoder import OnnxEncoder

            self._encoder = OnnxEncoder(self.encoder_dir, threads=1)
        return self._encoder

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        distinct = list(dict.fromkeys(texts))
        keys = [text_key(self.encoder_key, t) for t in distinct]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        vectors: dict[str, np.ndarray] = {t: found[k] for t, k in zip(distinct, keys) if k in found}
        self.stats.texts += len(texts)
        self.stats.unique += len(distinct)
        self.stats.cached += len(vectors)
        missing = [(t, k) for t, k in zip(distinct, keys) if k not in found]
        if self.progress:
            self.progress(len(texts) - len(missing))
        if missing:
            fresh = self._embed([t for t, _ in missing], [k for _, k in missing])
            for (t, _), v in zip(missing, fresh):
                vectors[t] = v
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.ascontiguousarray(np.stack([vectors[t] for t in texts]), dtype=np.float32)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def _embed(self, texts: list[str], keys: list[bytes]) -> np.ndarray:
        """Tokenise once, run length-sorted batches, return the rows in the order of ``texts``.

        Vectors go to the cache every ``FLUSH_ROWS`` rows, so an interrupted build keeps what it embedded."""
        from concurrent.futures import ThreadPoolExecutor

        encoder = self.encoder
        encodings = encoder.tokenizer.encode_batch(texts)
        batches = length_sorted_batches([len(e.ids) for e in encodings])[::-1]  # longest first: no long tail
        out = np.zeros((len(texts), 0), dtype=np.float32)
        pending: list[tuple[bytes, np.ndarray]] = []
        pool = ThreadPoolExecutor(self.workers)  # onnxruntime releases the GIL while it runs
        try:
            for batch, rows in zip(batches, pool.map(lambda b: encoder.run([encodings[i] for i in b]), batches)):
                if out.shape[1] == 0:
                    out = np.zeros((len(texts), rows.shape[1]), dtype=np.float32)
                out[batch] = rows
                pending.extend(zip((keys[i] for i in batch), rows))
                if len(pending) >= FLUSH_ROWS:
                    self._store(pending)
                self.stats.encoder_calls += 1
                self.stats.embedded += len(batch)
                if self.progress:
                    self.progress(len(batch))
        finally:  # on an error or Ctrl-C, batches not started yet are dropped
            pool.shutdown(wait=True, cancel_futures=True)
        self._store(pending)
        return out

    def _store(self, pending: list[tuple[bytes, np.ndarray]]) -> None:
        if self.cache is not None and pending:
            self.cache.put_many(pending)
        pending.clear()


def build_embedder(settings, quantize: bool = False, progress: Callable[[int], None] | None = None):
    """(embedder for the build, folder of the query encoder to ship with the index).

    Exports the ONNX encoder once per model (``qa.search.encoder.cached_export``); the build always embeds
    with the full-precision export so ``--quantize`` changes only the query encoder.
    """
    import json

    from qa.search.encoder import ENCODER_CONFIG, cached_export, export_key
    from qa.search.model import weights_sha256

    cache_dir = _writable_cache_dir(Path(settings.cache_dir))
    model_sha = weights_sha256(settings.model_dir, cache_dir)
    fp32 = cached_export(settings.model_dir, cache_dir, model_sha)
    query_dir = cached_export(settings.model_dir, cache_dir, model_sha, quantize=True) if quantize else fp32
    config = json.loads((fp32 / ENCODER_CONFIG).read_text())
    export = export_key(model_sha, settings.model_dir)
    key = f"{export}:max_length={config['max_length']}"
    cache = VectorCache(cache_dir / "vectors" / f"{export[:24]}.sqlite", int(config["dim"]))
    return CachedEmbedder(fp32, key, cache, progress=progress), query_dir


def _writable_cache_dir(cache_dir: Path) -> Path:
    """``cache_dir``, or a fresh temporary folder (with a warning) when it cannot be written."""
    import tempfile

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache_dir):
            pass
        return cache_dir
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix="report-qa-cache-"))
        print(f"warning: cache folder {cache_dir} not writable ({exc}); using {fallback} for this build "
              "(nothing will be reused)", file=sys.stderr)
        return fallback
