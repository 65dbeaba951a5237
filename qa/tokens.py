"""Chinese tokens for keyword search: jieba with a corpus user dictionary and stopwords.

One ``Tokenizer`` holds its own jieba dictionary (never jieba's global one),
so the words a corpus adds do not leak into other code. Department aliases
are folded to the department's name, so "城管" and "区城管局" match.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from importlib import resources
from typing import Iterable

_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    text = resources.files("qa").joinpath("data/stopwords.txt").read_text(encoding="utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


class Tokenizer:
    """jieba ``cut_for_search`` + user words, lower-cased, stopwords and punctuation dropped."""

    def __init__(self, user_words: Iterable[str] = (), canonical: dict[str, str] | None = None):
        self.user_words = sorted(set(user_words))
        self.canonical = dict(canonical or {})
        self._jieba = None

    def load(self) -> "Tokenizer":
        """Load jieba's dictionary and the user words now (otherwise the first question pays for it)."""
        self._cutter()
        return self

    def _cutter(self):
        if self._jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            cutter = jieba.Tokenizer()
            cutter.initialize()
            for word in self.user_words:
                cutter.add_word(word, freq=max(cutter.suggest_freq(word, tune=False), 1000))
            self._jieba = cutter
        return self._jieba

    def words(self, text: str) -> list[str]:
        """Search-mode jieba words of ``text`` (stopwords kept): used to find terms in questions."""
        return [w.strip().lower() for w in self._cutter().cut_for_search(text) if w.strip()]

    def tokens(self, text: str) -> list[str]:
        """Keyword-search tokens: words without stopwords or punctuation, aliases folded."""
        stop = stopwords()
        out = []
        for word in self.words(text):
            if word in stop or not _WORDLIKE.search(word):
                continue
            out.append(self.canonical.get(word, word))
        return out

    def content_terms(self, text: str) -> list[str]:
        """Whole (non search-mode) words of a question that carry its topic, in order, deduplicated."""
        stop = stopwords()
        seen: dict[str, None] = {}
        for word in self._cutter().lcut(text):
            word = word.strip().lower()
            if word and word not in stop and _WORDLIKE.search(word) and word not in self.canonical:
                seen.setdefault(word)
        return list(seen)
