"""Chinese tokens for keyword search: jieba with a corpus user dictionary and stopwords.

One ``Tokenizer`` holds its own jieba dictionary (never jieba's global one),
so the words a corpus adds do not leak into other code. Department aliases
are folded to the department's name, so "城管" and "区城管局" match.
"""

from __future__ import annotations

import logging
import threading
import re
from functools import lru_cache
from importlib import resources
from typing import Iterable

_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]")
# Closed word classes that frame a question rather than name its topic (jieba.posseg tags): pronouns,
# particles, prepositions, conjunctions, modal particles, interjections, onomatopoeia, adverbs,
# numerals, measure words, time words.
_FRAME_POS = ("r", "u", "p", "c", "y", "e", "o", "d", "m", "q", "t")
# A word built on an interrogative morpheme is part of the question, not its topic (干什么, 谁来管, 为何).
_INTERROGATIVE = re.compile(r"什么|谁|哪|怎|多少|几时|为何|如何|何时|啥|吗$|呢$")
# Function characters (modal verbs, aspect and structural particles, measure 个, directional 来/去) that
# jieba's HMM glues to a neighbour into a word its dictionary does not have: 要建, 了能, 能装, 装个, 想送.
# Such a two-character word is the other character alone, or nothing when both are function characters.
_FUNCTION_CHARS = frozenset("要了能个来去想把被让给在着过得地的都也还就才又再会可将没")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    text = resources.files("qa.search").joinpath("data/stopwords.txt").read_text(encoding="utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


class Tokenizer:
    """jieba ``cut_for_search`` + user words, lower-cased, stopwords and punctuation dropped."""

    def __init__(self, user_words: Iterable[str] = (), canonical: dict[str, str] | None = None):
        self.user_words = sorted(set(user_words))
        self.canonical = dict(canonical or {})
        self.user_words_set = frozenset(w.lower() for w in self.user_words)
        self._jieba = None
        self._posseg = None
        self._tag_cache: dict[str, list[tuple[str, str]]] = {}
        self._tag_lock = threading.Lock()

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

    def _tagger(self):
        if self._posseg is None:
            import jieba.posseg

            self._posseg = jieba.posseg.POSTokenizer(self._cutter())
        return self._posseg

    def tagged(self, text: str) -> list[tuple[str, str]]:
        """(word, jieba part-of-speech tag) pairs of ``text`` (the last few texts cached: a question is
        tagged for its topic words, its follow-up check and its answerability features)."""
        cached = self._tag_cache.get(text)
        if cached is None:
            cached = [(p.word, p.flag) for p in self._tagger().cut(text)]
            with self._tag_lock:  # the API answers from several threads
                if len(self._tag_cache) >= 256:
                    self._tag_cache.pop(next(iter(self._tag_cache)))
                self._tag_cache[text] = cached
        return cached

    def has_noun(self, text: str) -> bool:
        """Whether ``text`` names a thing: a noun, verbal noun, place or corpus word (not only verbs)."""
        return any(tag.startswith("n") or tag == "vn" or word.lower() in self.user_words_set
                   for word, tag in self.tagged(text) if word not in stopwords())

    def content_terms(self, text: str) -> list[str]:
        """Whole (non search-mode) words of a question that carry its topic, in order, deduplicated:
        no stopwords, no function words by part of speech, no interrogative words, no department names."""
        stop = stopwords()
        seen: dict[str, None] = {}
        for raw, tag in self.tagged(text):
            word = raw.strip().lower()
            if (not word or word in stop or not _WORDLIKE.search(word) or word in self.canonical
                    or (tag.startswith(_FRAME_POS) and word not in self.user_words_set)
                    or _INTERROGATIVE.search(word)):
                continue
            word = self._without_glued_function_char(word)
            if word and word not in stop:
                seen.setdefault(word)
        return list(seen)

    def _without_glued_function_char(self, word: str) -> str:
        """要建 → 建, 了能 → "": a two-character word jieba's dictionary lacks, made with a function character."""
        if word in _FUNCTION_CHARS:
            return ""
        if len(word) != 2 or word in self.user_words_set or self._cutter().FREQ.get(word, 0) > 0:
            return word  # (jieba's FREQ also lists every word's prefixes, with frequency 0)
        rest = "".join(ch for ch in word if ch not in _FUNCTION_CHARS)
        return rest if len(rest) < 2 else word
