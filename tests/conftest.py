"""Shared fixtures: the real corpus indexed once per session with the real m3e-small model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT, Settings
from qa.model import ModelMissingError, check_model_dir

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
    from qa.index import build_index

    root = tmp_path_factory.mktemp("built")
    shutil.copytree(PROJECT_ROOT / "corpus", root / "corpus")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", model_dir=model_dir,
                        cache_dir=Settings.from_env().cache_dir)
    build_index(settings, progress=False)
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
