import json
import shutil

import numpy as np
import pytest

from qa.config import Settings
from qa.pipeline import answer_models
from qa.search.index import FORMAT_VERSION, IndexMissingError, IndexStaleError, IndexUnusable, ReportIndex, build_index


def test_manifest_records_what_was_built(built):
    manifest = ReportIndex.read_manifest(built.index_dir)
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.model_id == "m3e-small" and len(manifest.model_sha256) == 64
    assert manifest.dim == 512 and manifest.chunk_count == 48
    assert manifest.chunking == {"max_chars": 320, "index_with_context": True, "dense_with_headline": False}
    assert manifest.encoder["onnx_file"].endswith(".onnx")
    assert manifest.libraries["faiss-cpu"] != "missing"
    assert manifest.departments["区城管局"] == 4
    assert "chunks.jsonl" in manifest.files and "encoder/model.onnx" in manifest.files


def test_no_pickle_files(built):
    for path in built.index_dir.rglob("*"):
        assert path.suffix not in (".pkl", ".pickle")
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)


def test_save_load_round_trip(built, tmp_path):
    index = ReportIndex.load(built.index_dir)
    copy = tmp_path / "copy"
    index.save(copy, encoder_dir=built.index_dir / "encoder")
    again = ReportIndex.load(copy)
    assert [c.to_dict() for c in again.chunks] == [c.to_dict() for c in index.chunks]
    assert again.dense.ntotal == index.dense.ntotal
    assert np.array_equal(again.clause_vectors, index.clause_vectors)
    assert again.bm25.vocab_dict == index.bm25.vocab_dict
    assert again.aliases == index.aliases
    query = again.tokenizer.tokens("垃圾分类")
    assert np.allclose(again.bm25.get_scores(query), index.bm25.get_scores(query))


def _copy_settings(built, tmp_path) -> Settings:
    shutil.copytree(built.corpus_dir, tmp_path / "corpus")
    shutil.copytree(built.index_dir, tmp_path / "index")
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model_dir=built.model_dir,
                    cache_dir=built.cache_dir)


def test_changed_corpus_makes_index_stale(built, tmp_path):
    settings = _copy_settings(built, tmp_path)
    ReportIndex.load(settings.index_dir, settings, answer_models=answer_models())  # fresh: loads
    report = next(settings.corpus_dir.glob("*.md"))
    report.write_text(report.read_text(encoding="utf-8") + "\n补充一段。\n", encoding="utf-8")
    with pytest.raises(IndexStaleError, match="corpus .* changed.*python -m qa build"):
        ReportIndex.load(settings.index_dir, settings, answer_models=answer_models())


def test_other_model_or_format_makes_index_stale(built, tmp_path):
    settings = _copy_settings(built, tmp_path)
    with pytest.raises(IndexStaleError, match="embedding model"):
        ReportIndex.load(settings.index_dir, settings, model_sha256="0" * 64, answer_models=answer_models())
    manifest_path = settings.index_dir / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["format_version"] = 0
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IndexStaleError, match="index format 0"):
        ReportIndex.load(settings.index_dir, settings, answer_models=answer_models())


def test_another_answerability_model_makes_index_stale(built, tmp_path):
    settings = _copy_settings(built, tmp_path)
    ReportIndex.load(settings.index_dir, settings, answer_models=answer_models())  # built for these: loads
    manifest_path = settings.index_dir / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["answer_models"]["answer-or-abstain"] = {"version": "logreg-old", "sha256": "0" * 64}
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IndexStaleError, match="answer-or-abstain model"):
        ReportIndex.load(settings.index_dir, settings, answer_models=answer_models())


def test_broken_and_missing_files_are_reported(built, tmp_path):
    settings = _copy_settings(built, tmp_path)
    (settings.index_dir / "dense.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexUnusable, match="missing or truncated"):
        ReportIndex.load(settings.index_dir)
    (settings.index_dir / "manifest.json").write_text("{not json")
    with pytest.raises(IndexUnusable, match="unreadable"):
        ReportIndex.load(settings.index_dir)
    shutil.rmtree(settings.index_dir)
    with pytest.raises(IndexMissingError, match="python -m qa build"):
        ReportIndex.load(settings.index_dir)


def test_interrupted_build_keeps_the_previous_index(built, tmp_path, monkeypatch):
    settings = _copy_settings(built, tmp_path)
    before = (settings.index_dir / "manifest.json").read_text()
    import faiss

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(faiss, "write_index", crash)
    index = ReportIndex.load(built.index_dir)
    with pytest.raises(KeyboardInterrupt):
        index.save(settings.index_dir)
    assert (settings.index_dir / "manifest.json").read_text() == before
    ReportIndex.load(settings.index_dir, settings, answer_models=answer_models())
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_build_skips_unreadable_report(built, tmp_path):
    settings = _copy_settings(built, tmp_path)
    (settings.corpus_dir / "broken.md").write_bytes("坏文件".encode("gbk"))
    (settings.corpus_dir / "extra.md").write_text("# 另一份报告\n\n### ▶ 区测试局\n\n#### 标题\n\n区测试局开展测试。一是编写测试用例。二是运行测试。\n",
                                                  encoding="utf-8")
    index = build_index(settings, answer_models(), progress=False)
    assert "区测试局" in index.departments and len(index.manifest.sources) == 2
    assert "extra.md" in index.manifest.sources and "broken.md" not in index.manifest.sources
