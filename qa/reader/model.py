"""What the reader is, and how a passage is shown to it.

The reader is m3e-small (the embedding model we already provision) with a classification head, fine-tuned
here with a LoRA adapter (``python -m qa train-reader``). What ships is only the adapter and the head,
``qa/reader/data/adapter/`` (a few MB), and ``reader.json``: the training parameters, the data it was
trained on (sha256) and the adapter's sha256. At set-up the adapter is merged onto the base weights and
exported to ONNX (``qa.reader.export``); the query path runs that export (``qa.reader.score``).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

ADAPTER_RESOURCE = "data/adapter"
CARD_RESOURCE = "data/reader.json"
# The reader sees the question and then the passage, as "department or heading｜text".
QUESTION_CHARS = 64  # a longer question is cut: the question's head names what it asks
SEPARATOR = "｜"


def adapter_dir() -> Path:
    return Path(str(resources.files("qa.reader").joinpath(ADAPTER_RESOURCE)))


def card_path() -> Path:
    return Path(str(resources.files("qa.reader").joinpath(CARD_RESOURCE)))


class ReaderMissingError(RuntimeError):
    """No trained reader ships with this checkout, or its export is missing."""


@lru_cache(maxsize=1)
def card() -> dict:
    """The committed description of the trained reader (``reader.json``)."""
    path = card_path()
    if not path.is_file():
        raise ReaderMissingError(f"no trained reader at {path.parent}: run `python -m qa train-reader`")
    return json.loads(path.read_text(encoding="utf-8"))


def adapter_sha256(folder: Path | None = None) -> str:
    """sha256 over the adapter folder's files (name and bytes), in name order."""
    folder = folder or adapter_dir()
    digest = hashlib.sha256()
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    if not files:
        raise ReaderMissingError(f"the reader adapter folder {folder} is empty: run `python -m qa train-reader`")
    for path in files:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).hexdigest().encode())
    return digest.hexdigest()


def reader_fingerprint() -> dict:
    """{version, sha256} of the reader: what the index manifest records (``qa.pipeline.answer_models``)."""
    info = card()
    actual = adapter_sha256()
    if info.get("adapter_sha256") != actual:
        raise ReaderMissingError(f"the reader adapter's sha256 {actual[:12]}… is not the one reader.json records "
                                 f"({str(info.get('adapter_sha256'))[:12]}…): the files were changed or damaged. "
                                 "Restore them (git checkout qa/reader/data) or retrain (`python -m qa train-reader`).")
    return {"version": str(info["version"]), "sha256": actual}


def passage_text(context: str, text: str) -> str:
    """The passage side of a pair: its department or heading, then the passage. The report's title is left
    out: it would take a quarter of the tokens the passage has, and which report a question is confined to
    is the retriever's decision (a named district or report restricts the search)."""
    return f"{context}{SEPARATOR}{text}" if context else text


def question_text(question: str) -> str:
    return question[:QUESTION_CHARS]
