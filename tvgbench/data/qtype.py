"""Offline query-type classifier for the 11 TVGBench query types.

A linear model (scikit-learn ``LinearSVC``) over three feature blocks:

* word 1-2-gram TF-IDF of the query;
* the same n-grams crossed with the query's source (the 800 TVGBench labels depend strongly on where a
  query comes from: an ActivityNet caption and an Ego4D-NLQ question use different words for one type);
* a small lexicon of cues for the types (posture verbs, counting words, on-screen text, camera and
  ending words, passive voice, a person as subject, ...), also crossed with the source.

The trained weights are a derived artifact shipped in ``qtype_data/qtype_model.npz`` (vocabularies,
IDF vectors and the linear weights; no annotation text), so classifying needs no labelled data and no
network. :func:`train` rebuilds it from labelled queries; :func:`cross_validate` is the held-out
evaluation beside a plain TF-IDF + logistic-regression baseline.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tvgbench.core.errors import Timer1Error
from tvgbench.core.schema import QTYPES
from tvgbench.data.sources import ingest

MODEL_VERSION = "qtype-svm-2"
MODEL_PATH = Path(__file__).parent / "qtype_data" / "qtype_model.npz"

# Source names of the 800 labelled queries; other spellings of the same source map onto them.
SOURCE_ALIASES = {
    "activitynet": "anet", "anet": "anet", "activitynet-captions": "anet",
    "charades": "charades", "charades-sta": "charades",
    "tacos": "tacos", "hirest": "hirest",
    "egonlq": "egonlq", "ego4d": "egonlq", "ego4d-nlq": "egonlq", "nlq": "egonlq",
}
KNOWN_SOURCES = ("anet", "charades", "egonlq", "hirest", "tacos")
UNKNOWN_SOURCE = "other"

# Block weights and regularisation chosen by 5-fold CV on the labelled queries (see bench/bench_qtype.py).
SOURCE_WORD_WEIGHT = 2.0
LEXICON_WEIGHT = 1.0
SVM_C = 0.1
PARALLEL_CHUNK_MIN = 5_000  # queries per thread below which threading costs more than it saves

_PERSON = r"(person|man|men|woman|women|girl|boy|guy|guys|lady|kid|child|children|people|he|she|they|someone|player|players|group|i|we)"
# One regex per cue; each gives a 0/1 feature. Cues, not rules: the linear model weighs them per source.
LEXICON: dict[str, str] = {
    "pose": r"\b(sit|sits|sitting|sat|seated|stand|stands|standing|lie|lies|lying|laying|sleeping|smil\w*|laugh\w*"
            r"|pose|poses|posing|waits?|kneel\w*|lean\w*|holding|hold|holds)\b",
    "look": r"\blook(s|ing)? (out|at|around)\b|\bwatch(es|ing)?\b",
    "light": r"\blight(s|bulb)?\b|\bturn(s|ed|ing)? (on|off)\b",
    "count": r"\b(how many|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|several|couple|few"
             r"|number of|\d+)\b",
    "how_many": r"\bhow many\b",
    "screen": r"\b(screen|logo|credits?|title|titles|intro\w*|text|words?|caption\w*|website|graphics?|ad|sign|letters)\b",
    "camera": r"\b(camera|clip|clips|video|frame|lens|shot|slow motion|pans?)\b",
    "end_start": r"\b(ends?|ending|closing|begins?|opens?|over)\b",
    "again": r"\b(again|returns?|once again|continues?|more)\b",
    "sequence": r"\b(then|finally|eventually|afterwards|after|before|until|once|when)\b",
    "appears": r"\b(appears?|emerges?|comes? (onto|into|up))\b",
    "shown": r"\b(is|are) (shown|seen|visible|displayed)\b|\bwe see\b|\bthere (is|are)\b|\bclose ?up\b",
    "passive": r"\b(is|are|was|were|gets?|being|been)( then| all| now)? \w+(ed|en)\b",
    "question": r"^\s*(where|what|which|who|in what|when|did|was|is)\b",
    "where": r"^\s*where\b",
    "conjunction": r"\band\b|,|\bwhile\b",
    "attribute": r"\b(red|blue|green|yellow|white|black|brown|orange|purple|pink|gr[ae]y|silver|gold|colou?r\w*|size"
                 r"|big|small|large|shape\w*|fancy|made of|looks)\b",
    "has": r"\b(has|have|describes?|shows?|features?|name)\b",
    "person_subject": r"^\s*(a |an |the |another |two |several |some |young |old )*(\w+ )?" + _PERSON + r"\b",
    "person_any": r"\b" + _PERSON + r"\b",
    "environment": r"\b(room|floor|kitchen|house|home|outside|weather|dark|darkened|sky|water|road|street|field|scene)\b",
}
N_SHAPE = 4  # length, number of "and"s, capitalised, ends with "."


def normalise_source(source: str | None) -> str:
    """Map a source name onto one the classifier was trained on (``other`` when unknown)."""
    if not source:
        return UNKNOWN_SOURCE
    return SOURCE_ALIASES.get(source.strip().lower(), UNKNOWN_SOURCE)


def lexicon_features(queries: Sequence[str]) -> np.ndarray:
    """0/1 lexicon cues plus four shape features, one row per query.

    The cues run in Arrow's RE2 engine over the whole column at once (tens of thousands of queries per
    second), not in a Python loop.
    """
    if len(queries) == 0:
        return np.zeros((0, len(LEXICON) + N_SHAPE))
    raw = pc.utf8_trim_whitespace(pa.array(list(queries), type=pa.string()))
    low = pc.utf8_lower(raw)
    cols = [pc.match_substring_regex(low, pattern).to_numpy(zero_copy_only=False) for pattern in LEXICON.values()]
    n_words = pc.list_value_length(pc.utf8_split_whitespace(low)).to_numpy(zero_copy_only=False)
    n_and = pc.count_substring(low, " and ").to_numpy(zero_copy_only=False)
    capitalised = pc.match_substring_regex(raw, r"^[A-Z]").to_numpy(zero_copy_only=False)
    full_stop = pc.ends_with(raw, ".").to_numpy(zero_copy_only=False)
    shape = [np.minimum(n_words, 30) / 30.0, n_and / 3.0, capitalised, full_stop]
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in cols + shape]).reshape(len(queries), -1)


def _source_index(sources: Sequence[str]) -> np.ndarray:
    index = {s: i for i, s in enumerate(KNOWN_SOURCES)}
    return np.array([index.get(s, -1) for s in sources], dtype=np.int64)


def lexicon_block(queries: Sequence[str], sources: Sequence[str]):
    """Lexicon cues, the source one-hot, and every cue crossed with the source (sparse, in that order)."""
    from scipy import sparse

    n = len(queries)
    lex = sparse.coo_matrix(lexicon_features(queries))
    n_lex = lex.shape[1]
    src = _source_index(sources)
    known = np.flatnonzero(src >= 0)
    onehot = sparse.coo_matrix((np.ones(len(known)), (known, src[known])), shape=(n, len(KNOWN_SOURCES)))
    on_known = src[lex.row] >= 0
    crossed = sparse.coo_matrix(
        (lex.data[on_known], (lex.row[on_known], src[lex.row[on_known]] * n_lex + lex.col[on_known])),
        shape=(n, n_lex * len(KNOWN_SOURCES)))
    return sparse.hstack([lex, onehot, crossed]).tocsr()


NGRAM_TOKEN = r"(?u)\b\w+\b"  # the training tokeniser (scikit-learn CountVectorizer), 1-2-grams
_ARROW_SEPARATOR = r"[^\p{L}\p{N}_]+"  # the same tokens for Arrow's RE2: maximal runs of word characters


def _count_vectorizer(vocabulary=None):
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(ngram_range=(1, 2), token_pattern=NGRAM_TOKEN, vocabulary=vocabulary, dtype=np.float64)


def _tfidf(idf: np.ndarray | None = None):
    from sklearn.feature_extraction.text import TfidfTransformer

    t = TfidfTransformer(sublinear_tf=True)
    if idf is not None:
        t.idf_ = idf
    return t


def ngram_counts(queries: Sequence[str], vocabulary):
    """Counts of the vocabulary's 1-2-grams per query, computed in Arrow (no scikit-learn import).

    Equal to ``CountVectorizer(ngram_range=(1, 2), token_pattern=NGRAM_TOKEN, vocabulary=...)
    .transform(queries)`` (tests/test_qtype.py checks it on real queries); it exists because importing
    scikit-learn's text module costs about a second and its Python tokeniser is the slowest step of a
    70K-candidate build.
    """
    from scipy import sparse

    n = len(queries)
    lists = pc.split_pattern_regex(pc.utf8_lower(pa.array(list(queries), type=pa.string())), _ARROW_SEPARATOR)
    tokens = pc.list_flatten(lists)
    rows = pc.list_parent_indices(lists)
    nonempty = pc.not_equal(tokens, "")
    tokens, rows = tokens.filter(nonempty), rows.filter(nonempty).to_numpy().astype(np.int64)
    same_row = rows[:-1] == rows[1:] if len(rows) > 1 else np.zeros(0, dtype=bool)
    keep = pa.array(same_row)
    bigrams = pc.binary_join_element_wise(tokens[:-1], tokens[1:], " ").filter(keep) if len(rows) > 1 else tokens[:0]
    grams = pa.concat_arrays([tokens, bigrams])
    gram_rows = np.concatenate([rows, rows[:-1][same_row]])
    col = pc.index_in(grams, value_set=vocabulary)
    found = col.is_valid().to_numpy(zero_copy_only=False)
    cols = col.filter(col.is_valid()).to_numpy().astype(np.int64)
    m = sparse.coo_matrix((np.ones(len(cols)), (gram_rows[found], cols)), shape=(n, len(vocabulary)))
    return m.tocsr()  # duplicates summed


def tfidf_rows(counts, idf: np.ndarray):
    """``TfidfTransformer(sublinear_tf=True)`` with a fitted ``idf``: (1 + log tf) x idf, rows L2-normalised."""
    x = counts.tocsr().astype(np.float64, copy=True)
    x.sum_duplicates()
    x.data = (1.0 + np.log(x.data)) * idf[x.indices]
    row_of = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    norms = np.sqrt(np.bincount(row_of, weights=x.data**2, minlength=x.shape[0]))
    x.data /= np.where(norms > 0, norms, 1.0)[row_of]
    return x


def source_slab(counts, sources: Sequence[str]):
    """The n-gram counts moved into one column slab per known source (zero rows for unknown sources).

    This is the "n-gram x source" block: the same tokenisation as the word block, so each query is
    tokenised once.
    """
    from scipy import sparse

    n, v = counts.shape
    src = _source_index(sources)
    coo = counts.tocoo()
    keep = src[coo.row] >= 0
    rows, cols = coo.row[keep], coo.col[keep] + src[coo.row[keep]] * v
    return sparse.csr_matrix((coo.data[keep], (rows, cols)), shape=(n, v * len(KNOWN_SOURCES)))


@dataclass
class QtypeModel:
    """A fitted classifier: the n-gram vocabulary, two IDF vectors and the linear weights over all blocks."""

    vocabulary: object  # pyarrow string array of the 1-2-grams, in column order
    word_idf: np.ndarray  # (V,)
    source_idf: np.ndarray  # (V * len(KNOWN_SOURCES),)
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)
    classes: tuple[str, ...]
    version: str = MODEL_VERSION

    def features(self, queries: Sequence[str], sources: Sequence[str]):
        """Sparse feature rows; ``sources`` already normalised."""
        return _stack(ngram_counts(queries, self.vocabulary), self.word_idf, self.source_idf, queries, sources)

    def decision(self, queries: Sequence[str], sources: Sequence[str | None]) -> np.ndarray:
        """Class scores, one row per query. Large inputs are cut into one chunk per core and scored in
        threads: the work is Arrow and scipy kernels, which release the GIL (about 1.7x on 2 cores for
        60K queries). Each row's score depends only on its own query, so chunking changes nothing."""
        srcs = [normalise_source(s) for s in sources]
        n_chunks = min(os.cpu_count() or 1, 4, max(1, len(queries) // PARALLEL_CHUNK_MIN))
        if n_chunks == 1:
            return self._decision(queries, srcs)

        bounds = np.linspace(0, len(queries), n_chunks + 1).astype(int)
        parts = [(queries[a:b], srcs[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        with ThreadPoolExecutor(max_workers=n_chunks, thread_name_prefix="timer1-qtype") as pool:
            return np.concatenate(list(pool.map(lambda part: self._decision(*part), parts)))

    def _decision(self, queries: Sequence[str], srcs: Sequence[str]) -> np.ndarray:
        return np.asarray(self.features(queries, srcs) @ self.coef.T) + self.intercept

    def predict(self, queries: Sequence[str], sources: Sequence[str | None]) -> list[str]:
        """Query type (full name) for each query; identical (source, query) pairs are classified once."""
        if len(queries) == 0:
            return []
        keys = list(zip((normalise_source(s) for s in sources), queries))
        unique = list(dict.fromkeys(keys))
        scores = self.decision([q for _, q in unique], [s for s, _ in unique])
        label = dict(zip(unique, (self.classes[i] for i in scores.argmax(axis=1))))
        return [label[k] for k in keys]

    def save(self, path: str | Path) -> None:
        """Write the weights (no annotation text) as a compressed ``.npz``, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        os.close(fd)
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                version=np.array(self.version),
                classes=np.array(self.classes, dtype=str),
                vocabulary=np.array(self.vocabulary.to_pylist(), dtype=str),
                word_idf=self.word_idf.astype(np.float64),
                source_idf=self.source_idf.astype(np.float64),
                coef=self.coef.astype(np.float32),
                intercept=self.intercept.astype(np.float64),
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this is package data
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path = MODEL_PATH) -> "QtypeModel":
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise Timer1Error(f"query-type model not found: {path}") from None
        if str(z["version"]) != MODEL_VERSION:
            raise Timer1Error(f"{path} holds query-type model {z['version']}, this timer1 reads {MODEL_VERSION}")

        return cls(vocabulary=pa.array(z["vocabulary"].tolist(), type=pa.string()), word_idf=z["word_idf"],
                   source_idf=z["source_idf"], coef=z["coef"].astype(np.float64), intercept=z["intercept"],
                   classes=tuple(str(c) for c in z["classes"]), version=str(z["version"]))


def _stack(counts, word_idf, source_idf, queries, sources):
    from scipy import sparse

    return sparse.hstack([
        tfidf_rows(counts, word_idf),
        SOURCE_WORD_WEIGHT * tfidf_rows(source_slab(counts, sources), source_idf),
        LEXICON_WEIGHT * lexicon_block(queries, sources),
    ]).tocsr()


def train(queries: Sequence[str], sources: Sequence[str | None], labels: Sequence[str]) -> QtypeModel:
    """Fit the classifier on labelled queries (labels are full type names)."""
    from sklearn.svm import LinearSVC


    bad = sorted({lab for lab in labels if lab not in QTYPES})
    if bad:
        raise Timer1Error(f"unknown query types in the labels: {', '.join(map(repr, bad[:5]))}")
    queries = list(queries)
    srcs = [normalise_source(s) for s in sources]
    vectorizer = _count_vectorizer()
    counts = vectorizer.fit_transform(queries)
    word_tfidf, source_tfidf = _tfidf().fit(counts), _tfidf().fit(source_slab(counts, srcs))
    X = _stack(counts, word_tfidf.idf_, source_tfidf.idf_, queries, srcs)
    svm = LinearSVC(C=SVM_C, random_state=0).fit(X, list(labels))  # seeded: its solver shuffles

    return QtypeModel(vocabulary=pa.array(vectorizer.get_feature_names_out().tolist(), type=pa.string()),
                      word_idf=word_tfidf.idf_.copy(), source_idf=source_tfidf.idf_.copy(), coef=svm.coef_.copy(),
                      intercept=svm.intercept_.copy(), classes=tuple(str(c) for c in svm.classes_))


def baseline_pipeline(with_source: bool = True):
    """The plain baseline: TF-IDF of the query (plus a source token) and logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2) if with_source else (1, 1), sublinear_tf=with_source),
                         LogisticRegression(C=3.0 if with_source else 1.0, max_iter=2000))


def baseline_text(queries: Sequence[str], sources: Sequence[str | None]) -> list[str]:
    return [f"srctoken{normalise_source(s)} {q}" for q, s in zip(queries, sources)]


@lru_cache(maxsize=1)
def default_model() -> QtypeModel:
    """The shipped model (loaded once per process)."""
    return QtypeModel.load(MODEL_PATH)


def classify(queries: Sequence[str], sources: Sequence[str | None]) -> list[str]:
    """Query types for new queries with the shipped model."""
    return default_model().predict(list(queries), list(sources))


def labelled_queries(samples) -> tuple[list[str], list[str], list[str]]:
    """(queries, sources, labels) of the samples that carry a known query type."""
    rows = [(s.query, s.source, s.qtype) for s in samples if s.qtype in QTYPES]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


CV_MODELS = ("timer1", "tfidf_lr_source", "tfidf_lr")


def cross_validate(queries: Sequence[str], sources: Sequence[str | None], labels: Sequence[str], *,
                   folds: int = 5, seed: int = 0, models: Sequence[str] = CV_MODELS) -> dict:
    """Stratified k-fold held-out evaluation of this classifier and of the plain baselines, same folds.

    ``timer1`` is this classifier; ``tfidf_lr_source`` is word TF-IDF plus a source token with logistic
    regression; ``tfidf_lr`` is the same on the query alone.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
    from sklearn.model_selection import StratifiedKFold

    queries, sources, labels = list(queries), list(sources), np.array(labels)
    classes = sorted(set(labels))
    unknown = sorted(set(models) - set(CV_MODELS))
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {CV_MODELS}")
    preds = {name: np.empty(len(labels), dtype=object) for name in models}
    base_text = baseline_text(queries, sources)
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(queries, labels):
        if "timer1" in preds:
            model = train([queries[i] for i in tr], [sources[i] for i in tr], labels[tr])
            preds["timer1"][te] = model.predict([queries[i] for i in te], [sources[i] for i in te])
        if "tfidf_lr_source" in preds:
            b = baseline_pipeline(True).fit([base_text[i] for i in tr], labels[tr])
            preds["tfidf_lr_source"][te] = b.predict([base_text[i] for i in te])
        if "tfidf_lr" in preds:
            b = baseline_pipeline(False).fit([queries[i] for i in tr], labels[tr])
            preds["tfidf_lr"][te] = b.predict([queries[i] for i in te])
    majority = max(classes, key=lambda c: int((labels == c).sum()))
    out = {"folds": folds, "seed": seed, "n": len(labels), "classes": classes,
           "majority_class_accuracy": float((labels == majority).mean()), "models": {}}
    for name, p in preds.items():
        out["models"][name] = {
            "accuracy": float(accuracy_score(labels, p)),
            "macro_f1": float(f1_score(labels, p, average="macro")),
            "per_class_f1": dict(zip(classes, map(float, f1_score(labels, p, average=None, labels=classes)))),
            "confusion": confusion_matrix(labels, p, labels=classes).tolist(),
        }
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m tvgbench.data.qtype LABELLED.json [-o MODEL.npz]``: retrain the shipped model from TVGBench."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("labelled", help="TVGBench release JSON (timer1-tvgbench format)")
    ap.add_argument("-o", "--out", default=str(MODEL_PATH))
    args = ap.parse_args(argv)
    q, s, y = labelled_queries(ingest("timer1-tvgbench", args.labelled).samples)
    train(q, s, y).save(args.out)
    print(f"trained on {len(q)} labelled queries -> {args.out}")


if __name__ == "__main__":
    main()
