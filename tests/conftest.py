"""Shared fixtures: the real corpus indexed once per session with the real m3e-small model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, Settings
from qa.search.model import ModelMissingError, check_model_dir

SAMPLE_REPORT = """# 测试区各部门工作要点

## 各部门贯彻落实全会精神

全区各部门认真学习全会精神，围绕“重要窗口”谋划明年工作。

### ▶ 区城管局

#### 提升城市治理水平

区城管局传达学习全会精神。一是在环境治理上，巩固垃圾分类成效，确保生活垃圾零增长。二是深化“厕所革命”，推进照明暗区消除工作；三是破除城市环境“顽疾”。

### ▶ 区民政局

#### 高质量推进民政事业

区民政局深入贯彻全会精神。一是扩大家庭养老床位试点。二是制定认知症照护指引。
"""


@pytest.fixture(scope="session")
def model_dir() -> Path:
    settings = Settings.from_env()
    try:
        return check_model_dir(settings.model_dir)
    except ModelMissingError as exc:
        pytest.fail(f"{exc} (`make test` fetches it first)")


@pytest.fixture(scope="session")
def built(tmp_path_factory, model_dir) -> Settings:
    """The project's corpus, indexed with the real model into a temporary folder."""
    from qa.pipeline import answer_models
    from qa.search.index import build_index

    root = tmp_path_factory.mktemp("built")
    shutil.copytree(PROJECT_ROOT / "corpus", root / "corpus")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", model_dir=model_dir,
                        cache_dir=Settings.from_env().cache_dir)
    build_index(settings, answer_models(), progress=False)
    return settings


@pytest.fixture(scope="session")
def qa(built):
    from qa.pipeline import ReportQA

    return ReportQA(built)


@pytest.fixture
def sample_corpus(tmp_path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "sample.md").write_text(SAMPLE_REPORT, encoding="utf-8")
    return corpus


@pytest.fixture(scope="session")
def stub_qa(tmp_path_factory):
    """``ReportQA`` over a three-department fixture report with the model-free stub encoder (tests/stub.py)."""
    from stub import stub_pipeline

    return stub_pipeline(tmp_path_factory.mktemp("stub"))


LIBRARY_DIR = PROJECT_ROOT / "eval" / "library"


class CachedEncoder:
    """The real model, each distinct text embedded once per test session: the same report in another
    format (or repeated 20 times) costs no second embedding."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.cache: dict[str, object] = {}

    def encode(self, texts):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for text, vector in zip(missing, self.encoder.encode(missing)):
                self.cache[text] = vector
        return np.vstack([self.cache[t] for t in texts])


@pytest.fixture(scope="session")
def cached_encoder(model_dir) -> CachedEncoder:
    from qa.search.encoder import SentenceTransformerEncoder

    return CachedEncoder(SentenceTransformerEncoder(model_dir))


def build_library(corpus_dir: Path, index_dir: Path, model_dir: Path, encoder) -> Settings:
    """Index ``corpus_dir`` with the (cached) real model and save it (without the ONNX query encoder:
    open it with ``ReportQA(settings, encoder="sentence-transformers")``)."""
    from qa.ingest.corpus import load_corpus
    from qa.pipeline import answer_models
    from qa.search.index import ReportIndex

    settings = Settings(corpus_dir=corpus_dir, index_dir=index_dir, model_dir=model_dir,
                        cache_dir=Settings.from_env().cache_dir)
    index = ReportIndex.build(load_corpus(corpus_dir, settings.chunking, quiet=True), encoder, settings,
                              answer_models(), progress=False)
    index.save(index_dir)
    return settings


@pytest.fixture(scope="session")
def library(tmp_path_factory, model_dir, cached_encoder) -> Settings:
    """The shipped report plus the three library reports (eval/library), indexed once per session."""
    root = tmp_path_factory.mktemp("library")
    shutil.copytree(PROJECT_ROOT / "corpus", root / "corpus")
    for path in LIBRARY_DIR.iterdir():
        shutil.copy(path, root / "corpus" / path.name)
    return build_library(root / "corpus", root / "index", model_dir, cached_encoder)


@pytest.fixture(scope="session")
def library_qa(library):
    from qa.pipeline import ReportQA

    return ReportQA(library, encoder="sentence-transformers")
