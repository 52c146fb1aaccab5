import json

import numpy as np
import pytest

from tvgbench.harness.baselines import baseline_spans, normalised_prior, write_baseline
from tvgbench.core.scoring import score


def test_spans():
    got = baseline_spans("middle", np.array([10.0, 40.0]))
    assert got.tolist() == [[2.5, 7.5], [10.0, 30.0]]
    assert baseline_spans("full", np.array([8.0])).tolist() == [[0.0, 8.0]]
    with pytest.raises(ValueError):
        baseline_spans("prior", np.array([1.0]))


def test_middle_baseline_on_tvgbench_is_a_low_floor(tvgbench_split, tmp_path):
    path = write_baseline(tvgbench_split, tmp_path / "mid.jsonl", "middle")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 800 and len({x["qid"] for x in lines}) == 800
    m = score(path, tvgbench_split, bootstrap=0)["metrics"]
    # blind predictions: some hits at 0.3 (long moments), very few at 0.7
    assert 5 < m["R1@0.3"] < 40 and m["R1@0.7"] < 10


def test_prior_is_fraction_of_duration(tvgbench_split):
    s, e = normalised_prior(tvgbench_split)
    assert 0 <= s < e <= 1
