"""Query-type classifier: shipped weights, held-out accuracy floor against the plain baseline."""

from __future__ import annotations

import numpy as np
import pytest

from tvgbench.qtype import (
    MODEL_PATH, QtypeModel, classify, cross_validate, labelled_queries, normalise_source, train,
)
from tvgbench.schema import QTYPES


@pytest.fixture(scope="module")
def labelled(tvgbench_json):
    from tvgbench.sources import ingest

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
