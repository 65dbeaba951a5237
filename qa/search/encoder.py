"""Text -> normalised vectors, two ways that give the same vectors.

* ``SentenceTransformerEncoder`` loads the model folder with
  sentence-transformers (torch). The index is built with it.
* ``OnnxEncoder`` runs the ONNX export of the same model (pooling and
  normalisation inside the graph) with onnxruntime and ``tokenizers``: the
  query path, which imports neither torch nor transformers.

``export_onnx`` writes the ONNX file and tokenizer and checks that both
encoders agree before it returns; ``cached_export`` keeps one export per
model weights + export options in the cache folder, so a build exports once
and later builds (which embed through ONNX, see ``qa.search.embed``) never import torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from qa.config import ONNX_THREADS

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
ENCODER_CONFIG = "encoder.json"


class Encoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit length rows."""


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class SentenceTransformerEncoder:
    """sentence-transformers from a local folder, loaded on first use."""

    name = "sentence-transformers"

    def __init__(self, model_dir: Path, batch_size: int = 32):
        self.model_dir = Path(model_dir)
        self.batch_size = batch_size
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from qa.search.model import check_model_dir

            check_model_dir(self.model_dir)
            _offline()
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def cpu_session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session as the query path runs them (the encoder's and the reader's)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One intra-op pool sized for the machine, no inter-op pool, and no spinning: the API runs
    # several questions at once from its thread pool, and spinning workers would steal the cores.
    options.intra_op_num_threads = threads or ONNX_THREADS.read()  # REPORT_QA_ONNX_THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def padded_inputs(encodings: Sequence, input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """``tokenizers`` encodings -> the model's inputs, padded to the longest (ids, mask, token types)."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        ids[row, :n] = enc.ids
        mask[row, :n] = enc.attention_mask
        types[row, :n] = enc.type_ids
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: arrays[name] for name in input_names}


class OnnxEncoder:
    """onnxruntime + tokenizers over a folder written by ``export_onnx``."""

    name = "onnx"

    def __init__(self, encoder_dir: Path, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        encoder_dir = Path(encoder_dir)
        config = json.loads((encoder_dir / ENCODER_CONFIG).read_text())
        self.max_length = int(config["max_length"])
        self.input_names = list(config["input_names"])
        self.tokenizer = Tokenizer.from_file(str(encoder_dir / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.no_padding()
        self.session = cpu_session(encoder_dir / config.get("onnx_file", ONNX_FILE), threads)

    def _feed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self._feed_encodings(self.tokenizer.encode_batch(list(texts)))

    def _feed_encodings(self, encodings: Sequence) -> dict[str, np.ndarray]:
        return padded_inputs(encodings, self.input_names)

    def run(self, encodings: Sequence) -> np.ndarray:
        """Vectors of one batch of ``tokenizers`` encodings (padded to the longest)."""
        (vectors,) = self.session.run(None, self._feed_encodings(encodings))
        return vectors

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # Sort by length so each batch pads little; restore the order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            (vectors,) = self.session.run(None, self._feed([texts[i] for i in idx]))
            for i, v in zip(idx, vectors):
                out[i] = v
        return np.ascontiguousarray(np.stack(out), dtype=np.float32)


def export_onnx(st_encoder: SentenceTransformerEncoder, out_dir: Path, quantize: bool = False) -> dict:
    """Export the sentence-transformers model (pooling + normalisation in the graph) to ``out_dir``.

    Returns the encoder config written to ``encoder.json``; raises if the ONNX
    vectors differ from sentence-transformers' on sample sentences.
    """
    import tempfile
    import warnings

    import torch

    model = st_encoder.model
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model.tokenizer.save_pretrained(tmp)
        shutil.copy(Path(tmp) / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    prepare = getattr(model, "preprocess", None) or model.tokenize
    sample = prepare(["城管局在垃圾分类上做什么", "一是全力以赴推进安置房及项目建设。"])
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    has_normalize = any(type(m).__name__ == "Normalize" for m in model)

    class Pooled(torch.nn.Module):
        def __init__(self, st):
            super().__init__()
            self.st = st

        def forward(self, *inputs):
            features = dict(zip(input_names, inputs))
            vectors = self.st(features)["sentence_embedding"]
            return vectors if has_normalize else torch.nn.functional.normalize(vectors, dim=-1)

    wrapped = Pooled(model).eval()
    onnx_path = out_dir / ONNX_FILE
    dynamic = {name: {0: "batch", 1: "seq"} for name in input_names}
    dynamic["sentence_embedding"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about shape checks it freezes; the agreement check below verifies the result.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped, tuple(sample[n] for n in input_names), str(onnx_path), dynamo=False,
            input_names=input_names, output_names=["sentence_embedding"], dynamic_axes=dynamic, opset_version=17,
        )
    config = {
        "onnx_file": ONNX_FILE,
        "input_names": input_names,
        "max_length": int(model.max_seq_length or 512),
        "dim": int((getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()),
        "quantized": False,
    }
    (out_dir / ENCODER_CONFIG).write_text(json.dumps(config, indent=2))
    _check_agreement(st_encoder, OnnxEncoder(out_dir), min_cosine=0.9999)
    if quantize:
        with tempfile.TemporaryDirectory() as tmp:
            for name in (ONNX_FILE, TOKENIZER_FILE, ENCODER_CONFIG):
                shutil.move(out_dir / name, Path(tmp) / name)
            config = quantize_export(Path(tmp), out_dir)
    return config


def quantize_export(fp32_dir: Path, out_dir: Path) -> dict:
    """int8 copy of the export in ``fp32_dir`` into ``out_dir`` (no torch needed); checked against the fp32 one."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads((fp32_dir / ENCODER_CONFIG).read_text())
    config.update(onnx_file="model.int8.onnx", quantized=True)
    quantize_dynamic(str(fp32_dir / config_onnx_file(fp32_dir)), str(out_dir / config["onnx_file"]),
                     weight_type=QuantType.QInt8)
    shutil.copy(fp32_dir / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    (out_dir / ENCODER_CONFIG).write_text(json.dumps(config, indent=2))
    _check_agreement(OnnxEncoder(fp32_dir), OnnxEncoder(out_dir), min_cosine=0.98)
    return config


def config_onnx_file(encoder_dir: Path) -> str:
    return json.loads((encoder_dir / ENCODER_CONFIG).read_text()).get("onnx_file", ONNX_FILE)


# ---------------------------------------------------------------- the export cache

# Bump when export_onnx changes what it writes: the cached exports of older code are then not reused.
EXPORT_OPTIONS = {"exporter": "torch.onnx.export", "dynamo": False, "opset": 17, "pooling": "in-graph", "revision": 1}


def export_key(weights_sha256: str, model_dir: Path | None = None) -> str:
    """sha256 of the model weights' hash, the model folder's small config files (pooling, max length,
    tokenizer), the export options and the torch version (read without importing torch)."""
    from importlib import metadata

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "missing"
    configs = hashlib.sha256()
    if model_dir is not None:
        for path in sorted(Path(model_dir).rglob("*")):
            if path.is_file() and path.suffix in (".json", ".txt") and path.stat().st_size < 5_000_000:
                configs.update(str(path.relative_to(model_dir)).encode() + b"\0" + path.read_bytes())
    payload = json.dumps({"weights": weights_sha256, "configs": configs.hexdigest(), "options": EXPORT_OPTIONS,
                          "torch": torch_version}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _checksums(folder: Path) -> dict[str, str]:
    from qa.search.model import sha256_file

    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}


def _stamps(folder: Path) -> dict[str, list[int]]:
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(folder.iterdir()) if p.is_file()}


def export_is_intact(folder: Path) -> bool:
    """True when ``folder`` holds exactly the files its sidecar lists, unchanged: same size and mtime
    (cheap), or else the same sha256 (hashing the ~90 MB model only when a stamp differs)."""
    sidecar = folder.with_name(folder.name + ".sha256.json")
    try:
        expected = json.loads(sidecar.read_text())
        if not folder.is_dir():
            return False
        if expected.get("stamps") == _stamps(folder):
            return True
        return _checksums(folder) == expected.get("sha256")
    except (OSError, ValueError, AttributeError):
        return False


def _store(folder: Path, make: Callable[[Path], object]) -> None:
    """``make(tmp)`` into a temporary sibling, then rename it to ``folder`` and write its checksum sidecar."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    sidecar = folder.with_name(folder.name + ".sha256.json")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        make(tmp)
        sums = {"sha256": _checksums(tmp)}
        sidecar.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if export_is_intact(folder):  # another build stored the same export meanwhile
                return
            raise
        sums["stamps"] = _stamps(folder)  # after the rename: rename keeps size and mtime
        part = sidecar.with_name(f".{sidecar.name}.tmp-{os.getpid()}")
        part.write_text(json.dumps(sums, indent=1))
        os.replace(part, sidecar)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cached_export(model_dir: Path, cache_dir: Path, weights_sha256: str, quantize: bool = False) -> Path:
    """The folder of the ONNX export of ``model_dir`` (int8 with ``quantize``), exported only when missing.

    Exports live in ``cache_dir/onnx/<export key>/`` with a checksum sidecar; a damaged or partial
    export is exported again. Only an export imports torch; reusing one does not.
    """
    root = Path(cache_dir) / "onnx" / export_key(weights_sha256, model_dir)[:24]
    fp32 = root / "fp32"
    if not export_is_intact(fp32):
        _store(fp32, lambda tmp: export_onnx(SentenceTransformerEncoder(model_dir), tmp))
    if not quantize:
        return fp32
    int8 = root / "int8"
    if not export_is_intact(int8):
        _store(int8, lambda tmp: quantize_export(fp32, tmp))
    return int8


def _check_agreement(reference: Encoder, candidate: Encoder, min_cosine: float) -> None:
    texts = ["城管局在垃圾分类上做什么", "让外迁的企业回来", "区数据资源局将始终坚持“数字赋能”理念，大力推进“三化融合”。",
             "house prices", "一"]
    cosines = np.sum(reference.encode(texts) * candidate.encode(texts), axis=1)
    if float(cosines.min()) < min_cosine:
        raise RuntimeError(f"ONNX export disagrees with sentence-transformers: cosines {cosines.round(5).tolist()}")
