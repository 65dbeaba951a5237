"""A model-free stand-in for the embedding model, and a small index built with it.

``HashEncoder`` implements the ``Encoder`` protocol of qa/search/encoder.py: each text becomes the counts of
its character 1- and 2-grams hashed (crc32, stable across runs and machines) into 256 buckets, normalised
to unit length. Texts that share characters are close, so dense retrieval behaves like a crude lexical
matcher: enough to test fusion, routing, follow-ups and abstention in milliseconds. Retrieval *quality*
is not its job; the real model stays in tests/test_quality.py.

``stub_pipeline(root)`` writes ``STUB_REPORT`` (three departments) into ``root/corpus``, builds a
``ReportIndex`` with the stub encoder (in memory, nothing saved) and returns a ``ReportQA`` that uses
it. The model folder is a placeholder holding one tiny weights file, so the manifest's model hash is
computed as usual; no model is read.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from qa.config import Settings

STUB_REPORT = """# 测试区各部门工作要点

## 各部门贯彻落实全会精神

全区各部门认真学习全会精神，围绕“重要窗口”谋划明年工作。

### ▶ 区城管局

#### 提升城市治理水平

区城管局传达学习全会精神。一是在环境治理上，巩固垃圾分类成效，确保生活垃圾零增长。二是深化“厕所革命”，推进照明暗区消除工作；三是破除城市环境“顽疾”，整治违法建筑和占道经营。

### ▶ 区民政局

#### 高质量推进民政事业

区民政局深入贯彻全会精神。一是扩大家庭养老床位试点，新增养老床位300张。二是制定认知症照护指引，建设认知症友好社区。三是做好困难群众救助，落实最低生活保障。

### ▶ 区住建局

#### 打造宜居城市

区住建局认真学习全会精神。一是推进老旧小区改造，完成改造小区20个。二是加快既有住宅加装电梯，全年加装电梯100台。三是推进保障性住房建设，筹集公租房500套。
"""


class HashEncoder:
    """Hashed character n-grams -> unit vectors; deterministic, no model, microseconds per text."""

    name = "stub-hash"

    def __init__(self, dim: int = 256, ngrams: tuple[int, ...] = (1, 2)):
        self.dim = dim
        self.ngrams = ngrams

    def vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        chars = "".join(text.split())
        for n in self.ngrams:
            for i in range(len(chars) - n + 1):
                vec[zlib.crc32(chars[i:i + n].encode("utf-8")) % self.dim] += 1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0:
            vec[0] = 1.0
            return vec
        return vec / norm

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self.vector(t) for t in texts]).astype(np.float32)


def stub_settings(root: Path, report: str = STUB_REPORT) -> Settings:
    """A corpus folder with ``report`` and a placeholder model folder under ``root``."""
    corpus, model = root / "corpus", root / "stub-model"
    corpus.mkdir(parents=True, exist_ok=True)
    model.mkdir(parents=True, exist_ok=True)
    (corpus / "stub-report.md").write_text(report, encoding="utf-8")
    (model / "stub.safetensors").write_bytes(b"not a model: tests/stub.py")
    return Settings(corpus_dir=corpus, index_dir=root / "index", model_dir=model, cache_dir=root / "cache")


def stub_index(settings: Settings, encoder: HashEncoder | None = None):
    from qa.ingest.corpus import load_corpus
    from qa.pipeline import answer_models
    from qa.search.index import ReportIndex

    corpus = load_corpus(settings.corpus_dir, settings.chunking)
    return ReportIndex.build(corpus, encoder or HashEncoder(), settings, answer_models(), progress=False)


def stub_pipeline(root: Path, mode: str = "hybrid", report: str = STUB_REPORT):
    """A ``ReportQA`` over ``report`` whose retriever uses the stub encoder (built in memory), with the real reader."""
    from qa.pipeline import ReportQA
    from qa.search.retrieve import Retriever

    settings = stub_settings(root, report)
    encoder = HashEncoder()
    index = stub_index(settings, encoder)
    index.tokenizer.load()
    qa = ReportQA(settings, mode=mode, check_model=False)
    qa._retriever = Retriever(index, encoder, mode=mode)  # what ReportQA would load lazily, with the stub encoder
    qa._reader = provisioned_reader()  # the trained reader: answer-or-abstain is fitted on its probabilities
    return qa


def provisioned_reader():
    """The trained reader's ONNX export for the provisioned embedding model (``make setup`` makes it)."""
    from qa.config import Settings
    from qa.pipeline import ReportQA

    return ReportQA(Settings.from_env())._load_reader(None)
