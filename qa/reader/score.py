"""Score (question, passage) pairs with the reader's ONNX export: onnxruntime and ``tokenizers`` only, no torch.

``OnnxReader.score(question, passages)`` returns, per passage, the reader's probability that it answers the
question (0..1). The pairs are batched, padded to the longest, and cut to the export's ``max_length``
tokens (the passage loses its tail first); see ``qa.reader.export`` for how the folder is made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from qa.reader.model import question_text
from qa.search.encoder import cpu_session, padded_inputs

EXPORT_CONFIG = "reader-export.json"
TOKENIZER_FILE = "tokenizer.json"


class OnnxReader:
    """The reader's ONNX export in ``folder``, loaded once."""

    def __init__(self, folder: Path, threads: int | None = None):
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = json.loads((folder / EXPORT_CONFIG).read_text())
        self.folder = folder
        self.max_length = int(config["max_length"])
        self.input_names = list(config["input_names"])
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(self.max_length, strategy="only_second")
        self.tokenizer.no_padding()
        self.session = cpu_session(folder / config["onnx_file"], threads)

    def _feed(self, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        return padded_inputs(self.tokenizer.encode_batch([(question_text(q), p) for q, p in pairs]),
                             self.input_names)

    def score_pairs(self, pairs: Sequence[tuple[str, str]], batch_size: int = 16) -> np.ndarray:
        """Probability per (question, passage) pair that the passage answers the question."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][1]))  # similar lengths pad little
        out = np.zeros(len(pairs), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            (probs,) = self.session.run(None, self._feed([pairs[i] for i in rows]))
            out[rows] = np.asarray(probs, dtype=np.float32).reshape(-1)
        return out

    def score(self, question: str, passages: Sequence[str]) -> np.ndarray:
        return self.score_pairs([(question, p) for p in passages])
