"""Query-type classifier: shipped weights, held-out accuracy floor against the plain baseline."""

from __future__ import annotations

import numpy as np
import pytest

from tvgbench.data.qtype import (
    MODEL_PATH, QtypeModel, classify, cross_validate, labelled_queries, normalise_source, train,
)
from tvgbench.core.schema import QTYPES


@pytest.fixture(scope="module")
def labelled(tvgbench_json):
    from tvgbench.data.sources import ingest

    q, s, y = labelled_queries(ingest("timer1-tvgbench", tvgbench_json).samples)
    assert len(q) == 800
    return q, s, y


def test_shipped_model_classifies_offline_without_labels():
    got = classify(
        ["How many cups are on the table?", "Where did I put the scissors?", "a person is sitting on a chair.",
         "The closing credits are shown at the end of the video."],
        ["egonlq", "egonlq", "charades", "activitynet"],
    )
    assert got[0] == "Object Counting"
    assert got[1] == "Object Existence (Complex)"
    assert got[2] == "Human Pose"
    assert got[3] in ("Environment Change", "Environment State")
    assert all(t in QTYPES for t in classify(["a dog runs"], ["never-seen-source"]))
    assert classify([], []) == []
    assert normalise_source("ActivityNet") == "anet" and normalise_source(None) == "other"


def test_shipped_weights_are_what_training_on_tvgbench_gives(labelled, tmp_path):
    q, s, y = labelled
    fresh = train(q, s, y)
    shipped = QtypeModel.load(MODEL_PATH)
    assert shipped.classes == fresh.classes
    np.testing.assert_allclose(shipped.coef, fresh.coef, atol=1e-6)  # float32 on disk
    assert shipped.predict(q, s) == fresh.predict(q, s)
    # save/load round trip keeps predictions
    fresh.save(tmp_path / "m.npz")
    assert QtypeModel.load(tmp_path / "m.npz").predict(q, s) == fresh.predict(q, s)


def test_heldout_accuracy_floor_and_ahead_of_baseline(labelled):
    q, s, y = labelled
    r = cross_validate(q, s, y, folds=5, seed=0, models=("timer1", "tfidf_lr_source"))
    ours, base = r["models"]["timer1"], r["models"]["tfidf_lr_source"]
    assert ours["accuracy"] >= 0.74 and ours["macro_f1"] >= 0.65, ours
    assert ours["accuracy"] > base["accuracy"] and ours["macro_f1"] > base["macro_f1"]
    assert ours["accuracy"] > r["majority_class_accuracy"] + 0.3
    cm = np.array(ours["confusion"])
    assert cm.shape == (11, 11) and cm.sum() == 800 and np.trace(cm) == round(ours["accuracy"] * 800)


def test_fast_ngram_features_equal_scikit_learn(labelled):
    """The Arrow tokeniser used at prediction time must give scikit-learn's counts and TF-IDF exactly."""
    import subprocess
    import sys

    from tvgbench.data.qtype import _count_vectorizer, _tfidf, ngram_counts, tfidf_rows

    q, s, y = labelled
    model = QtypeModel.load(MODEL_PATH)
    texts = q + ["Café crème, naïve façade!", "", "   ", "a", "x_y z-w 3.5 s", "ÉCOLE Straße", "it's 2 o'clock"]
    reference = _count_vectorizer(vocabulary=model.vocabulary.to_pylist()).transform(texts)
    fast = ngram_counts(texts, model.vocabulary)
    assert fast.shape == reference.shape and (fast != reference).nnz == 0 and fast.nnz > 5000
    diff = tfidf_rows(fast, model.word_idf) - _tfidf(model.word_idf).transform(reference)
    assert abs(diff).max() < 1e-12
    # and classifying never imports scikit-learn (its import is the slowest part of a small build)
    code = "import sys; from tvgbench.data.qtype import classify; classify(['a man sits'], ['charades']); " \
           "print(any(m.startswith('sklearn') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_chunked_threaded_scoring_equals_one_pass(labelled, monkeypatch):
    import os

    import tvgbench.data.qtype as qtype

    q, s, _ = labelled
    model = QtypeModel.load(MODEL_PATH)
    one_pass = model._decision(list(q), [normalise_source(x) for x in s])
    monkeypatch.setattr(qtype, "PARALLEL_CHUNK_MIN", 100)  # 800 queries -> 4 chunks in 4 threads
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    chunked = model.decision(list(q), list(s))
    assert chunked.shape == one_pass.shape == (800, len(model.classes))
    assert np.array_equal(chunked, one_pass)
