"""Adapter + base weights -> the reader's ONNX export in the model cache (set-up time; imports torch and peft).

``cached_reader(settings)`` returns the folder of the export for the committed adapter and the provisioned
base model, making it once: the LoRA adapter and head (``qa/reader/data/adapter``) are merged onto m3e-small
(``peft``'s ``merge_and_unload``), exported with the sigmoid in the graph, quantised to int8 (the query path's
speed target needs it; ``docs/answers.md`` gives what it costs), and checked against the merged torch model on
sample pairs before it is stored, with a checksum sidecar, under ``cache_dir/reader/<key>/``.
``reader_folder(settings)`` finds the export without torch and raises when it is missing or damaged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path

from qa.config import Settings
from qa.reader.model import ReaderMissingError, adapter_dir, card, passage_text, reader_fingerprint
from qa.reader.score import EXPORT_CONFIG, TOKENIZER_FILE, OnnxReader
from qa.search.encoder import _store, export_is_intact

# Bump when what the export writes changes.
EXPORT_OPTIONS = {"exporter": "torch.onnx.export", "dynamo": False, "opset": 17, "sigmoid": "in-graph",
                  "quantized": "int8-dynamic", "revision": 1}
# How far the int8 export's probabilities may stray from the merged fp32 model's on the sample pairs.
MAX_INT8_DIFFERENCE = 0.08
SAMPLE_PAIRS = [
    ("城管局在垃圾分类上做什么", passage_text("区城管局", "深化垃圾分类，推进生活垃圾分类示范小区建设。")),
    ("明天会下雨吗", passage_text("区教育局", "2023年建成投用学校6所，新增学位8640个。")),
    ("路灯不亮找谁", passage_text("区城管局", "完成照明暗区改造120处，新增路灯1500盏。")),
    ("2022年GDP多少", passage_text("一、2023年工作回顾", "全区实现地区生产总值1286.4亿元，同比增长6.3%。")),
]


def export_key(base_sha256: str) -> str:
    from importlib import metadata

    try:
        versions = {name: metadata.version(name) for name in ("torch", "peft", "onnxruntime")}
    except metadata.PackageNotFoundError as exc:
        versions = {"missing": str(exc)}
    payload = json.dumps({"base": base_sha256, "reader": reader_fingerprint(), "options": EXPORT_OPTIONS,
                          "versions": versions}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _root(settings: Settings) -> Path:
    return Path(settings.cache_dir) / "reader"


def reader_folder(settings: Settings, base_sha256: str) -> Path:
    """The export's folder for this reader and base model (no torch). Raises ``ReaderMissingError`` when it
    was not made or is damaged."""
    folder = _root(settings) / export_key(base_sha256)
    if not export_is_intact(folder):
        raise ReaderMissingError("the reader's ONNX export is missing or damaged. Fix: `make setup` "
                                 "(or `python -m qa model fetch`), which merges the adapter and exports it.")
    return folder


def merged_model(model_dir: Path, adapter: Path | None = None):
    """The base model with the adapter and head merged in (torch; for the export and for tests)."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=1, local_files_only=True)
    model = PeftModel.from_pretrained(base, str(adapter or adapter_dir()))
    return model.merge_and_unload().eval()


def export_reader(model_dir: Path, out_dir: Path) -> dict:
    """Merge, export to ONNX (sigmoid in the graph), quantise to int8 and check both against torch."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoTokenizer

    info = card()
    max_length = int(info["max_length"])
    model = merged_model(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        shutil.copy(Path(tmp) / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    questions, passages = zip(*SAMPLE_PAIRS)
    sample = tokenizer(list(questions), list(passages), truncation="only_second", max_length=max_length,
                       padding=True, return_tensors="pt")
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Probability(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return torch.sigmoid(self.inner(**dict(zip(input_names, inputs))).logits[:, 0])

    wrapped = Probability(model).eval()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "reader.fp32.onnx"
        dynamic = {name: {0: "batch", 1: "seq"} for name in input_names}
        dynamic["probability"] = {0: "batch"}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer shape warnings; the agreement check below verifies
            torch.onnx.export(wrapped, tuple(sample[n] for n in input_names), str(fp32), dynamo=False,
                              input_names=input_names, output_names=["probability"], dynamic_axes=dynamic,
                              opset_version=17)
            expected = wrapped(*(sample[n] for n in input_names)).numpy()
        quantize_dynamic(str(fp32), str(out_dir / "reader.onnx"), weight_type=QuantType.QInt8)
    config = {"onnx_file": "reader.onnx", "input_names": input_names, "max_length": max_length,
              "quantized": True, "reader": reader_fingerprint(), "options": EXPORT_OPTIONS}
    (out_dir / EXPORT_CONFIG).write_text(json.dumps(config, indent=2))
    got = OnnxReader(out_dir, threads=1).score_pairs(list(SAMPLE_PAIRS))
    worst = float(abs(got - expected).max())
    if worst > MAX_INT8_DIFFERENCE:
        raise RuntimeError(f"the reader's int8 export strays {worst:.3f} from the merged model "
                           f"(limit {MAX_INT8_DIFFERENCE}): {got.round(3).tolist()} vs {expected.round(3).tolist()}")
    return config


def cached_reader(settings: Settings, base_sha256: str) -> Path:
    """The export's folder, made when missing or damaged (then imports torch)."""
    root = _root(settings)
    folder = root / export_key(base_sha256)
    if not export_is_intact(folder):
        _store(folder, lambda tmp: export_reader(settings.model_dir, tmp))
    return folder
