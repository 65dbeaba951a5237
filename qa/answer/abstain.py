"""Answer or abstain: scope checks, then a small logistic model over per-question evidence, learned on dev.

``refused_before_model``: no passage, nothing to check (no topic word, no department), or a question
outside the library (``Query.foreign``, see ``qa.search.places``: another district or city, another level's
organisation or government, a year no report is of or mentions).

``question_features`` turns one analysed question and its ranked hits into a fixed set of numbers
that do not grow or shrink with the number of passages (best cosine, best − 5th cosine, the best
clause's cosine, BM25 as a share of what the query's words could score, term coverage exact /
by synonym, department evidence, a number / day / time / place asked that no clause near the topic
gives). ``Policy`` is a logistic regression over them whose coefficients keep the sign their evidence
has (``RAISES`` / ``LOWERS``), stored as plain JSON (``qa/answer/data/answerability.json``: feature names,
scaler, coefficients, cut-off, version, the hashes of the question files it was fitted on and of the
library's reports: dev questions about the shipped report judged against its index alone, library dev
questions against an index of the corpus plus ``eval/library``). Questions refused before the model and
small talk are not among its training rows. Applying it needs numpy only; fitting it (``python -m qa
train-abstain``, see ``qa/evaluation/abstain_eval.py``) uses scipy's bounded L-BFGS-B and scikit-learn's fold
splitter, which sentence-transformers already brings.

``confidence`` is the model's probability that the reports answer the question; the policy abstains
below ``cutoff``, which ``train`` chooses on cross-validated (out-of-fold) probabilities so that
abstentions are right at least ``TARGET_PRECISION`` of the time.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from qa.search.places import is_organisation, unknown_places
from qa.search.retrieve import Hit, Query
from qa.search.synonyms import SYNONYM_WEIGHT, for_index

MODEL_RESOURCE = "data/answerability.json"
TARGET_PRECISION = 0.9
CV_FOLDS = 5
CV_REPEATS = 5
SEED = 0

FEATURES = (
    "reader_best",       # the reader's best probability that a passage answers the question (qa.reader)
    "dense_best",        # best cosine of any passage
    "dense_margin",      # best − 5th best cosine (how much one passage stands out)
    "dense_hit",         # best cosine among the passages the answer may cite (named department)
    "clause_best",       # best clause cosine inside the top passage
    "cover_exact",       # share of topic words found verbatim in the corpus
    "cover_bigram",      # share of topic words' character pairs found in the corpus
    "cover_synonym",     # share found verbatim (1) or through a thesaurus synonym (SYNONYM_WEIGHT)
    "no_terms",          # the question has no topic word at all (你好, 城管局做了什么)
    "named_dept",        # the question names a department of the corpus
    "dept_elsewhere",    # named department, and a passage of another one covers the topic better (by how much)
    "unknown_org",       # no department named, and an organisation-like word (…局/委/办公室) the corpus never
                         # mentions and no department's name abbreviates (交通局 for 区交通运输局 is known)
    "multi",             # asks across departments
    "detail_unsupported",  # asks for a number (of a unit) / a time / a place: 1 − how close to the question (topic
                           # coverage or cosine) the best clause of the top passages that gives one is
    "statistic_gap",     # detail_unsupported · cover_top: the top passage covers the topic but gives no such detail
    "cover_top",         # share of the topic words found in the top passage (synonyms at SYNONYM_WEIGHT)
    "dept_topic_gap",    # named department, but its passages lack the topic words: named_dept·(1 − cover_top)
)
# Computed and dumped as well, but no longer model inputs: with the reader, refitted on the three dev sets, the
# model was as good or better on dev (out of fold) without them (`python -m qa.evaluation.abstain_eval ablate`;
# docs/answers.md):
#   keyword_share     top passage's BM25 / sum of each query word's best single-word BM25
#   unknown_place     names a place (jieba tag ns) the corpus never mentions, that the scope check lets by
# (A district or city no report is about is no feature: such a question is refused before the model.)
# The direction each feature may push p(answerable): more evidence never lowers it, more missing evidence never
# raises it. Fitted with these signs as bounds, the model cannot learn an artefact of the dev questions (a
# negative weight on BM25 share because coverage already carries it) that turns against new questions, other
# corpora or another embedding model. Features not listed take either sign.
RAISES = frozenset({"reader_best", "dense_best", "dense_margin", "dense_hit", "clause_best", "keyword_share", "cover_exact",
                    "cover_bigram", "cover_synonym", "cover_top"})
LOWERS = frozenset({"no_terms", "dept_elsewhere", "unknown_org", "unknown_place", "detail_unsupported",
                    "statistic_gap", "dept_topic_gap"})

# What kind of detail a question asks for, by interrogative form only (no topic words), and what a
# clause that gives it contains: a number, a date, a place. Answer-type matching, as in classic QA.
_ASKS = {
    "number": re.compile(r"多少|几[个条项家所年天次人位台辆成倍座处名户]|多[大高长远重]|排名第几"),
    "day": re.compile(r"哪一?天|几号|几月几[日号]|具体日期|日期"),
    "time": re.compile(r"什么时候|何时|哪一?年|哪个月|几月份?|多久|多长时间|啥时候|几点|时间表"),
    "place": re.compile(r"哪个(?:街道|社区|区|地方|位置|场馆|村)|哪几个(?:街道|社区|村)|在哪[里儿个]?|哪里|什么地方|地址|位置|选址"),
}
_GIVES = {
    "number": re.compile(r"[0-9０-９]|[一二三四五六七八九十两百千万亿]+(?:个|条|家|万|亿|元|户|人|公里|项|所|台|辆|倍|成)"),
    "day": re.compile(r"[0-9０-９一二三四五六七八九十]+\s*月(?:[0-9０-９一二三四五六七八九十]+\s*[日号]|份|底|初|中旬|上旬|下旬)|"
                      r"[0-9０-９]+\s*[日号]|春节|国庆|元旦|五一|端午|中秋"),
    "time": re.compile(r"[0-9０-９一二三四五六七八九十半]+\s*(?:分钟|小时|个工作日|工作日|天|日|周|个月)|"
                       r"[0-9０-９]{4}年|[0-9一二三四五六七八九十]+月|年底|年内|年前|年初|今年|明年|前完成|期间|之前|以前|周期"),
    "place": re.compile(r"([\u4e00-\u9fff]{2})(?:街道|社区|路|街|村|广场|公园|园|片区|板块|场馆|体育馆|中心|镇|区)"),
}
# Years, dates and list numbers are no quantities: a clause that gives only those gives no number.
_NOT_QUANTITY = re.compile(r"(?:19|20)[0-9]{2}\s*年|[0-9]{1,2}\s*月\s*(?:[0-9]{1,2}\s*日)?|[0-9]+\s*[.、)）]|第[0-9]+")
# A place word with one of these in front is a kind of place, not a named one: 各街道, 全区社区, 有关片区.
_GENERIC_PLACE = set("各全每本该所等和及的个些有相重周附城老新")
# The unit a number question asks for (多少吨, 几所, 多少钱) and what a clause giving it contains.
_ASKED_UNIT = re.compile(r"(?:多少|几)(个|条|项|家|所|年|天|次|人|位|台|辆|倍|吨|公里|米|平方米|亩|元|钱|张|套|间|名|户|座|处|场|批|辆|栋|幢|公顷)")
_UNIT_ALIASES = {"钱": "元", "位": "人|位|名", "名": "人|位|名", "人": "人|位|名|人次", "栋": "栋|幢", "幢": "栋|幢"}
_NUMERAL = r"[0-9０-９一二三四五六七八九十两百千万亿.%]+\s*(?:万|亿|余|多)?\s*"


# ---------------------------------------------------------------- features


def length_weighted(terms: list[str], found) -> float:
    """Σ len(t)·found(t) / Σ len(t); 1.0 for no terms (nothing is missing)."""
    total = sum(len(t) for t in terms)
    return 1.0 if total == 0 else sum(len(t) * found(t) for t in terms) / total


@lru_cache(maxsize=1)
def general_idf() -> tuple[dict[str, float], float]:
    """Inverse document frequency of Chinese words in general text (jieba's own ``analyse/idf.txt``)
    and the median, used for words it does not list. How specific a word is, independent of the corpus."""
    text = resources.files("jieba").joinpath("analyse/idf.txt").read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        word, _, value = line.partition(" ")
        if value:
            table[word] = float(value)
    return table, float(np.median(list(table.values())))


def specificity_weighted(terms: list[str], found) -> float:
    """Σ idf(t)·found(t) / Σ idf(t): missing a specific word (公积金) weighs more than a common one (处理)."""
    table, default = general_idf()
    weights = [table.get(t, default) for t in terms]
    total = sum(weights)
    return 1.0 if total == 0 else sum(w * found(t) for w, t in zip(weights, terms)) / total


def bigram_share(term: str, text: str) -> float:
    if len(term) < 2:
        return float(term in text)
    pairs = [term[i:i + 2] for i in range(len(term) - 1)]
    return sum(p in text for p in pairs) / len(pairs)


def synonym_found(term: str, text: str, thesaurus) -> float:
    if term in text:
        return 1.0
    return SYNONYM_WEIGHT if any(s in text for s in thesaurus.expand(term)) else 0.0


def _gives(kind: str, clause: str, unit: str | None) -> bool:
    """Whether ``clause`` gives the kind of detail asked: a number (with the asked unit, if any; years
    and dates do not count), a day, a time, a named place (芦溪街道, not 各街道)."""
    if kind == "number":
        clause = _NOT_QUANTITY.sub(" ", clause)
        if unit:
            units = _UNIT_ALIASES.get(unit, unit)
            return bool(re.search(_NUMERAL + f"(?:{units})", clause))
    if kind == "place":
        return any(not (set(m.group(1)) & _GENERIC_PLACE) for m in _GIVES["place"].finditer(clause))
    return bool(_GIVES[kind].search(clause))


def detail_support(query: Query, hits: list[Hit], index, thesaurus, asked: list[str], depth: int = 3) -> float:
    """How close to the question the best clause of the top passages is that gives every kind of detail
    asked (a number with the asked unit, a date or a duration, a place): the larger of its topic-word
    coverage and its cosine to the question; 0 when no clause gives it."""
    m = _ASKED_UNIT.search(query.text)
    unit = m.group(1) if m else None
    terms = query.terms
    best = 0.0
    for hit in hits[:depth]:
        for row in range(index.clause_offsets[hit.index], index.clause_offsets[hit.index + 1]):
            s, e = index.clause_spans[row]
            clause = hit.chunk.text[s - hit.chunk.start:e - hit.chunk.start]
            if all(_gives(kind, clause, unit) for kind in asked):
                near = specificity_weighted(terms, lambda t: max(synonym_found(t, clause, thesaurus),
                                                                  bigram_share(t, clause))) if terms else 1.0
                cosine = float(index.clause_vectors[row] @ query.vector) if query.vector is not None else 0.0
                best = max(best, near, cosine)
    return best


def word_best_scores(index, words: list[str]) -> list[float]:
    """Best BM25 score each word alone gets on any passage (cached on the index, for the index's own
    vocabulary only: the cache cannot grow past it, whatever users type)."""
    cache = index.__dict__.setdefault("_word_best", {})
    out = []
    for word in words:
        if word not in index.bm25.vocab_dict:
            out.append(0.0)
            continue
        if word not in cache:
            cache[word] = float(np.max(index.bm25.get_scores([word])))
        out.append(cache[word])
    return out


def _chunk_text(hit: Hit) -> str:
    c = hit.chunk
    return f"{c.dept}\n{c.headline}\n{c.text}".lower()


def question_features(query: Query, hits: list[Hit], index) -> dict[str, float]:
    """The model's inputs for one question (see ``FEATURES``)."""
    thesaurus = for_index(index)
    corpus = index.corpus_text_of(query.reports)
    terms = query.terms
    top = sorted(query.dense_top, reverse=True) if query.dense_top else [0.0]
    dense_best = float(top[0])
    fifth = float(top[min(4, len(top) - 1)])
    dense_hit = max((h.dense for h in hits), default=0.0)
    clause_best = 0.0
    if hits and query.vector is not None:
        rows = slice(index.clause_offsets[hits[0].index], index.clause_offsets[hits[0].index + 1])
        sims = index.clause_vectors[rows] @ query.vector
        clause_best = float(np.max(sims)) if len(sims) else 0.0
    words = list(dict.fromkeys(query.tokens))
    bests = word_best_scores(index, words)
    ceiling = sum(bests)
    exact_kw = max((h.keyword for h in hits), default=0.0)
    known_share = length_weighted(words, lambda w: float(w in index.bm25.vocab_dict)) if words else 0.0
    keyword_share = min(exact_kw / ceiling, 1.0) * known_share if ceiling > 0 else 0.0
    asked = [kind for kind, pattern in _ASKS.items() if pattern.search(query.text)]
    top_text = _chunk_text(hits[0]) if hits else ""
    cover_top = specificity_weighted(terms, lambda t: synonym_found(t, top_text, thesaurus)) if hits else 0.0
    named = float(bool(query.depts))
    elsewhere = 0.0
    if query.depts and terms and words:
        known = [w for w in words if w in index.bm25.vocab_dict]
        if known:
            scores = np.asarray(index.bm25.get_scores(known))
            for i in np.argsort(-scores)[:3]:
                chunk = index.chunks[int(i)]
                if chunk.dept not in query.depts:
                    text = f"{chunk.dept}\n{chunk.headline}\n{chunk.text}".lower()
                    other = specificity_weighted(terms, lambda t: synonym_found(t, text, thesaurus))
                    elsewhere = max(elsewhere, other - cover_top)
    unsupported = 1.0 - detail_support(query, hits, index, thesaurus, asked) if asked and hits else 0.0
    return {
        "reader_best": max((h.reader for h in hits if h.reader is not None), default=0.0),
        "dense_best": dense_best,
        "dense_margin": dense_best - fifth,
        "dense_hit": float(dense_hit),
        "clause_best": clause_best,
        "keyword_share": keyword_share,
        "cover_exact": specificity_weighted(terms, lambda t: float(t in corpus)),
        "cover_bigram": length_weighted(terms, lambda t: bigram_share(t, corpus)),
        "cover_synonym": specificity_weighted(terms, lambda t: synonym_found(t, corpus, thesaurus)),
        "cover_top": cover_top,
        "no_terms": float(not terms),
        "named_dept": named,
        "dept_topic_gap": named * (1.0 - cover_top) if terms else 0.0,
        "dept_elsewhere": elsewhere,
        "unknown_org": float(any(is_organisation(w) for w in query.unknown_depts if w not in query.foreign)),
        "multi": float(query.multi),
        "unknown_place": float(bool(unknown_places(index.tokenizer.tagged(query.text), corpus))),
        "detail_unsupported": unsupported,
        "statistic_gap": unsupported * cover_top,
    }


# ---------------------------------------------------------------- the model


@dataclass
class Policy:
    """A fitted logistic model: p(answerable) = σ(coef · (x − mean) / scale + intercept)."""

    version: str
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    cutoff: float  # abstain when p(answerable) < cutoff
    trained_on: dict = field(default_factory=dict)  # file, sha256, n, n_unanswerable
    validation: dict = field(default_factory=dict)  # cross-validated figures at the cut-off
    notes: str = ""

    def probability(self, values: dict[str, float]) -> float:
        x = np.array([values.get(name, 0.0) for name in self.features], dtype=float)
        z = float(np.dot(self.coef, (x - np.asarray(self.mean)) / np.asarray(self.scale)) + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Policy":
        data = json.loads(text)
        policy = cls(**data)
        n = len(policy.features)
        if not (len(policy.mean) == len(policy.scale) == len(policy.coef) == n) or not 0 < policy.cutoff < 1:
            raise ValueError("answerability model: feature, scaler and coefficient lengths differ or bad cut-off")
        return policy


def model_path() -> Path:
    """Where the shipped model lives (``qa/answer/data/answerability.json``); ``train-abstain`` writes it."""
    return Path(str(resources.files("qa.answer").joinpath(MODEL_RESOURCE)))


def model_text() -> str:
    return model_path().read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def shipped_policy() -> Policy:
    return Policy.from_json(model_text())


def model_fingerprint() -> dict:
    """``{version, sha256}`` of the shipped model, for the index manifest."""
    text = model_text()
    return {"version": json.loads(text).get("version", ""), "sha256": hashlib.sha256(text.encode()).hexdigest()}


@dataclass
class Decision:
    abstain: bool
    confidence: float  # p(the reports answer the question)
    features: dict[str, float]  # the model's inputs, for inspection (python -m qa.evaluation.abstain_eval)


def refused_before_model(query: Query, hits: list[Hit]) -> bool:
    """No passage, nothing to check (no topic word, no department), or outside the library (``Query.foreign``:
    西湖区…, 云州市卫健委…, a year no report is of or mentions; see qa.search.places)."""
    return not hits or (not query.terms and not query.depts) or bool(query.foreign)


def decide(query: Query, hits: list[Hit], index, policy: Policy | None = None) -> Decision:
    """Answer or abstain. Before the model: a question with no topic word and no department to look in
    ("abc", "？？？", "的的的", an emoji) has nothing the reports could be checked against, so it is refused
    whatever the passages score (the model's coverage features read "nothing missing" there); and a
    question about a place or another level's organisation that no report is about or mentions
    (``Query.foreign``: 西湖区, 云州市卫健委) is outside the library."""
    if refused_before_model(query, hits):
        return Decision(True, 0.0, {})
    policy = policy or shipped_policy()
    values = question_features(query, hits, index)
    p = policy.probability(values)
    return Decision(p < policy.cutoff, round(p, 4), values)


# ---------------------------------------------------------------- fitting


@dataclass
class _Fitted:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = ((X - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def _fit(X: np.ndarray, y: np.ndarray, C: float, features: tuple[str, ...]) -> _Fitted:
    """L2-regularised logistic regression on standardised features, classes weighted to balance (as
    scikit-learn's ``class_weight="balanced"``), each coefficient bounded by its sign in RAISES / LOWERS
    (scipy's L-BFGS-B)."""
    from scipy.optimize import minimize

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-12] = 1.0
    Z = (X - mean) / scale
    weight = np.where(y == 1, len(y) / (2 * max(int(y.sum()), 1)), len(y) / (2 * max(int((1 - y).sum()), 1)))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        z = Z @ w + b
        residual = weight * (1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))) - y)
        value = float(np.sum(weight * (np.logaddexp(0.0, z) - y * z)) + 0.5 / C * np.dot(w, w))
        return value, np.append(Z.T @ residual + w / C, residual.sum())

    bounds = [(0.0, None) if f in RAISES else (None, 0.0) if f in LOWERS else (None, None) for f in features]
    result = minimize(loss, np.zeros(len(features) + 1), jac=True, method="L-BFGS-B", bounds=bounds + [(None, None)])
    return _Fitted(mean, scale, result.x[:-1], float(result.x[-1]))


def out_of_fold(X: np.ndarray, y: np.ndarray, C: float, features: tuple[str, ...] = FEATURES,
                folds: int = CV_FOLDS, repeats: int = CV_REPEATS) -> np.ndarray:
    """Mean out-of-fold p(answerable) over ``repeats`` stratified ``folds``-fold splits (fixed seeds)."""
    from sklearn.model_selection import StratifiedKFold

    folds = max(2, min(folds, int(min(np.bincount(y)))))
    total = np.zeros(len(y))
    for r in range(repeats):
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=SEED + r).split(X, y):
            total[test] += _fit(X[train], y[train], C, features).predict(X[test])
    return total / repeats


def abstention_scores(p: np.ndarray, y: np.ndarray, cutoff: float) -> dict:
    abstain = p < cutoff
    right = int(np.sum(abstain & (y == 0)))
    return {"precision": round(right / abstain.sum(), 4) if abstain.any() else 1.0,
            "recall": round(right / max(int(np.sum(y == 0)), 1), 4),
            "false_abstentions": int(np.sum(abstain & (y == 1))), "abstained": int(abstain.sum())}


def choose_cutoff(p: np.ndarray, y: np.ndarray, precision: float = TARGET_PRECISION) -> float:
    """The cut-off with the best abstention recall whose abstentions are right ≥ ``precision``;
    among equals, the one midway between neighbouring probabilities (a margin on both sides)."""
    values = np.unique(np.concatenate([[0.0, 1.0], p]))
    candidates = (values[:-1] + values[1:]) / 2
    best, best_key = 0.5, None
    for c in candidates:
        s = abstention_scores(p, y, c)
        if s["abstained"] and s["precision"] >= precision:
            key = (s["recall"], s["precision"], -abs(c - 0.5))
            if best_key is None or key > best_key:
                best, best_key = float(c), key
    return best


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return round(float(np.mean((p - y) ** 2)), 4)


def calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 5) -> float:
    """Expected calibration error over equal-width probability bins."""
    edges = np.linspace(0, 1, bins + 1)
    err = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (p >= lo) & ((p < hi) | (hi == 1.0))
        if inside.any():
            err += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return round(float(err), 4)


def train(rows: list[dict], features: tuple[str, ...] = FEATURES, Cs=(0.1, 0.3, 1.0, 3.0),
          precision: float = TARGET_PRECISION, source: dict | None = None) -> tuple[Policy, np.ndarray]:
    """Fit on feature rows; C and the cut-off chosen on out-of-fold probabilities. Returns (policy, oof p)."""
    X = np.array([[r[f] for f in features] for r in rows], dtype=float)
    y = np.array([r["label"] for r in rows], dtype=int)
    if len(set(y)) < 2:
        raise ValueError("training needs answerable and unanswerable questions")
    scored = []
    for C in Cs:
        oof = np.clip(out_of_fold(X, y, C, features), 1e-6, 1 - 1e-6)
        losses = -(y * np.log(oof) + (1 - y) * np.log(1 - oof))  # each question's out-of-fold log-loss
        scored.append((float(losses.mean()), float(losses.std() / np.sqrt(len(y))), C, oof))
    # The one-standard-error rule: the most regularised C whose log-loss is within one standard error of the
    # best (log-losses this close are noise, and the stronger prior varies less with a handful of questions).
    best_loss, best_se = min((loss, se) for loss, se, _, _ in scored)
    _, _, C, oof = min((s for s in scored if s[0] <= best_loss + best_se), key=lambda s: s[2])
    cutoff = choose_cutoff(oof, y, precision)
    fitted = _fit(X, y, C, features)
    validation = {"method": f"{CV_REPEATS}x stratified {CV_FOLDS}-fold out-of-fold probabilities",
                  "fit": "L2 logistic regression, balanced classes, coefficient signs bounded (RAISES / LOWERS)", "C": C,
                  "target_abstention_precision": precision, **abstention_scores(oof, y, cutoff),
                  "brier": brier(oof, y), "calibration_error": calibration_error(oof, y),
                  "log_loss_by_C": {str(c): round(l, 4) for l, _, c, _ in scored},
                  "C_rule": "smallest C within one standard error of the best out-of-fold log-loss"}
    fitted_on = {"X": X.round(6).tolist(), "y": y.tolist(), "features": list(features), "C": C,
                 "fit": validation["fit"], "rule": validation["C_rule"]}  # what the model is made of, nothing else
    digest = hashlib.sha256(json.dumps(fitted_on, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
    policy = Policy(
        version=f"logreg-{len(features)}f-{digest}", features=list(features),
        mean=[round(float(m), 6) for m in fitted.mean], scale=[round(float(s), 6) for s in fitted.scale],
        coef=[round(float(c), 6) for c in fitted.coef], intercept=round(fitted.intercept, 6),
        cutoff=round(cutoff, 4), trained_on={**(source or {}), "n": int(len(y)), "n_unanswerable": int(np.sum(y == 0))},
        validation=validation,
        notes="p(answerable) = sigmoid(coef . ((x - mean) / scale) + intercept); abstain when p < cutoff. "
              "Refit: python -m qa train-abstain --questions eval/dev.jsonl eval/dev-extra.jsonl "
              "--library-questions eval/library-dev.jsonl eval/library-dev-extra.jsonl --library eval/library",
    )
    return policy, oof
