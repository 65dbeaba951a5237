"""The build's embedder: ONNX in length-sorted batches, vectors cached by text, torch only for the export."""

import json
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.config import PROJECT_ROOT, Settings, environment
from qa.pipeline import answer_models
from qa.search.embed import CachedEmbedder, VectorCache, build_embedder, length_sorted_batches
from qa.search.encoder import OnnxEncoder, cached_export, export_is_intact
from qa.search.index import build_index

EXTRA_REPORT = """# 另一份报告

### ▶ 区测试局

#### 标题

区测试局开展测试。一是编写测试用例，覆盖边界条件。二是运行测试并记录结果。
"""

SAMPLES = ["城管局在垃圾分类上做什么", "让外迁的企业回来", "一",
           "区数据资源局将始终坚持“数字赋能”理念，大力推进“三化融合”。" * 3, "house prices"]


@pytest.fixture(scope="module")
def export_dir(built) -> Path:
    """The cached fp32 export (made by the session's ``built`` fixture; reused here, never re-exported)."""
    from qa.search.model import weights_sha256

    return cached_export(built.model_dir, built.cache_dir, weights_sha256(built.model_dir, built.cache_dir))


@pytest.fixture
def isolated(built, sample_corpus, tmp_path, export_dir) -> Settings:
    """Settings with an empty vector cache of their own that shares the session's ONNX export."""
    cache = tmp_path / "cache"
    (cache / "onnx").mkdir(parents=True)
    shared_onnx = export_dir.parent
    (cache / "onnx" / shared_onnx.name).symlink_to(shared_onnx, target_is_directory=True)
    return replace(built, corpus_dir=sample_corpus, index_dir=tmp_path / "index", cache_dir=cache)


class CountingEncoder(OnnxEncoder):
    """The real ONNX encoder, counting its batch runs and the texts in them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.rows = 0
        self.lock = threading.Lock()

    def run(self, encodings):
        with self.lock:
            self.calls += 1
            self.rows += len(encodings)
        return super().run(encodings)


def _counting(embedder: CachedEmbedder) -> CountingEncoder:
    embedder._encoder = CountingEncoder(embedder.encoder_dir, threads=1)
    return embedder._encoder


def test_length_sorted_batches_cover_every_position_once_by_length():
    lengths = [50, 3, 200, 7, 7, 120, 1, 90]
    batches = length_sorted_batches(lengths, max_rows=3, max_tokens=250)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths)
    assert all(len(b) <= 3 and len(b) * max(lengths[i] for i in b) <= 250 or len(b) == 1 for b in batches)


def test_cached_vectors_equal_fresh_ones_and_sentence_transformers(built, export_dir, tmp_path):
    from qa.search.encoder import SentenceTransformerEncoder

    cache = VectorCache(tmp_path / "v.sqlite", dim=512)
    first = CachedEmbedder(export_dir, "k", cache)
    fresh = first.encode(SAMPLES + SAMPLES[:2])  # repeats are embedded once
    assert first.stats.embedded == len(SAMPLES) and first.stats.cached == 0
    again = CachedEmbedder(export_dir, "k", VectorCache(tmp_path / "v.sqlite", dim=512))
    counter = _counting(again)
    cached = again.encode(SAMPLES)
    assert counter.calls == 0 and again.stats.cached == len(SAMPLES)
    assert np.array_equal(cached, fresh[:len(SAMPLES)])
    assert np.allclose(fresh, OnnxEncoder(export_dir).encode(SAMPLES + SAMPLES[:2]), atol=1e-5)
    reference = SentenceTransformerEncoder(built.model_dir).encode(SAMPLES)
    assert float(np.sum(reference * cached, axis=1).min()) >= 0.9999


def test_rebuild_embeds_nothing_and_a_new_report_only_its_texts(isolated):
    first = build_index(isolated, answer_models(), progress=False)
    assert first.embed_stats.embedded == first.embed_stats.unique > 0
    again = build_index(isolated, answer_models(), progress=False)
    assert again.embed_stats.embedded == 0 and again.embed_stats.cached == again.embed_stats.unique
    assert np.array_equal(again.clause_vectors, first.clause_vectors)
    assert np.array_equal(again.dense.reconstruct_n(0, again.dense.ntotal), first.dense.reconstruct_n(0, first.dense.ntotal))

    (isolated.corpus_dir / "extra.md").write_text(EXTRA_REPORT, encoding="utf-8")
    embedder, _ = build_embedder(isolated)
    counter = _counting(embedder)
    from qa.ingest.corpus import load_corpus
    from qa.search.index import ReportIndex

    corpus = load_corpus(isolated.corpus_dir, isolated.chunking)
    ReportIndex.build(corpus, embedder, isolated, answer_models(), progress=False)
    new_chunks = [c for c in corpus.chunks if c.source == "extra.md"]
    new_texts = {c.dense_text(isolated.chunking) for c in new_chunks}
    new_texts |= {corpus.source_text("extra.md")[s:e] for c in new_chunks for s, e in c.clauses}
    assert embedder.stats.embedded == counter.rows == len(new_texts) > 0
    assert counter.calls >= 1


def test_damaged_cache_is_recomputed_not_fatal(isolated, capsys):
    first = build_index(isolated, answer_models(), progress=False)
    db = next((isolated.cache_dir / "vectors").glob("*.sqlite"))
    for extra in db.parent.glob(db.name + "-*"):
        extra.unlink()
    db.write_bytes(b"this is not a database" * 100)
    again = build_index(isolated, answer_models(), progress=False)
    assert "vector cache" in capsys.readouterr().err
    assert again.embed_stats.embedded == first.embed_stats.unique
    assert np.allclose(again.clause_vectors, first.clause_vectors, atol=1e-5)
    # A damaged row (wrong length / checksum) is ignored and recomputed, the rest still hit.
    import sqlite3

    with sqlite3.connect(db) as conn:
        key = conn.execute("SELECT key FROM vectors LIMIT 1").fetchone()[0]
        conn.execute("UPDATE vectors SET vector = zeroblob(2048) WHERE key = ?", (key,))
    third = build_index(isolated, answer_models(), progress=False)
    assert third.embed_stats.embedded == 1 and third.embed_stats.cached == first.embed_stats.unique - 1
    assert np.allclose(third.clause_vectors, first.clause_vectors, atol=1e-5)


def test_damaged_export_is_detected(export_dir, tmp_path):
    import shutil

    copy = tmp_path / "onnx" / "fp32"
    shutil.copytree(export_dir, copy)
    shutil.copy(export_dir.with_name("fp32.sha256.json"), copy.with_name("fp32.sha256.json"))
    assert export_is_intact(copy)
    config = json.loads((copy / "encoder.json").read_text())
    config["max_length"] = 8
    (copy / "encoder.json").write_text(json.dumps(config))
    assert not export_is_intact(copy)
    copy.with_name("fp32.sha256.json").unlink()
    assert not export_is_intact(copy)


def test_build_with_cached_export_does_not_import_torch(isolated):
    code = ("import sys; from qa.search.index import build_index; from qa.config import Settings; "
            "from qa.pipeline import answer_models; "
            "build_index(Settings.from_env(), answer_models(), progress=False); "
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    env = environment(isolated)
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (isolated.index_dir / "encoder" / "model.onnx").is_file()


def test_interrupted_embedding_keeps_what_it_embedded(export_dir, tmp_path, monkeypatch):
    import qa.search.embed

    monkeypatch.setattr(qa.search.embed, "FLUSH_ROWS", 1)
    texts = [f"第{i}项测试文本，长度各不相同。" * (1 + i % 3) for i in range(12)]
    embedder = CachedEmbedder(export_dir, "k", VectorCache(tmp_path / "v.sqlite", dim=512))
    embedder.workers = 1
    counter = _counting(embedder)
    original = counter.run

    def power_cut(encodings):
        if counter.calls >= 2:
            raise KeyboardInterrupt("power cut")
        return original(encodings)

    counter.run = power_cut
    with pytest.raises(KeyboardInterrupt):
        embedder.encode(texts)
    again = CachedEmbedder(export_dir, "k", VectorCache(tmp_path / "v.sqlite", dim=512))
    vectors = again.encode(texts)
    assert 0 < again.stats.cached < len(texts) and again.stats.embedded == len(texts) - again.stats.cached
    assert np.allclose(vectors, OnnxEncoder(export_dir).encode(texts), atol=1e-5)
