"""The shipped table of published results: its schema, and every number stated in the reference notes."""

from __future__ import annotations

import re

import pytest
import yaml

from tvgbench.core.errors import Timer1Error
from tvgbench.data.published import METRIC_NAMES, PUBLISHED_PATH, benchmarks, published_results
from tvgbench.models.prompts import PRESETS

REQUIRED = {"benchmark", "model", "setting", "convention", "metrics", "source"}
SAMPLING = {"fps", "pixels", "prompt"}  # every row but the feature-based Moment-DETR states how it sampled
CONVENTIONS = {"timer1", "timelens", "lmms-eval", "moment-detr", "canonical"}


def test_schema():
    raw = yaml.safe_load(PUBLISHED_PATH.read_text())
    assert isinstance(raw, list) and raw
    seen = set()
    for row in raw:
        assert REQUIRED <= set(row) <= REQUIRED | SAMPLING | {"decoding"}, row
        assert row["setting"] in ("zero-shot", "fine-tuned") and row["convention"] in CONVENTIONS
        assert row["metrics"] and set(row["metrics"]) <= set(METRIC_NAMES)
        assert all(isinstance(v, float) and 0 < v < 100 for v in row["metrics"].values())
        assert row["source"].strip()
        if row["convention"] != "moment-detr":
            assert SAMPLING <= set(row), row
            assert row["prompt"] in PRESETS and row["fps"] > 0
        key = (row["benchmark"], row["model"], row["setting"])
        assert key not in seen, key
        seen.add(key)
    assert {"tvgbench", "charades-sta", "activitynet", "charades-timelens", "qvhighlights"} <= set(benchmarks())


def test_every_number_is_stated_in_the_references():
    from conftest import REPO

    ref = REPO.parent / "shared" / "reference"
    if not ref.exists():
        pytest.skip(f"reference notes not available: {ref}")
    text = "\n".join(p.read_text() for p in ref.glob("*.md"))
    stated = set(re.findall(r"\d+\.\d+", text))
    for r in published_results():
        for name, value in r.metrics.items():
            assert f"{value:.2f}" in stated or f"{value:.1f}" in stated, (r.model, r.benchmark, name, value)


def test_lookup():
    rows = published_results("charades-timelens")
    assert {r.model for r in rows} == {"Qwen2.5-VL-7B", "TimeLens-7B", "Qwen3-VL-8B", "TimeLens-8B"}
    assert next(r for r in rows if r.model == "TimeLens-8B").metrics["R1@0.5"] == 63.0
    with pytest.raises(Timer1Error, match="known: "):
        published_results("nope")


def test_a_run_beside_published_rows_is_scored_in_each_rows_convention(tmp_path):
    import json

    from tvgbench.core.schema import Sample
    from tvgbench.core.scoring import score
    from tvgbench.core.splits import write_split
    from tvgbench.harness.report import load_run, published_lines

    samples = [Sample(video=f"v{k}.mp4", query=f"q{k}", span=(1.0 + k, 6.0 + k), duration=30.0, source="charades")
               for k in range(6)]
    split = tmp_path / "split"
    write_split(samples, split, "test")
    run = tmp_path / "run"
    run.mkdir()
    texts = ["The event happens in 1.0 - 6.0 seconds.", "2 to 7", "00:03 - 00:08", "[3.0, 9.0]", "no idea", "5.5 - 10"]
    (run / "predictions.jsonl").write_text("".join(json.dumps({"qid": s.qid, "text": t}) + "\n"
                                                   for s, t in zip(samples, texts)))
    (run / "run.json").write_text(json.dumps({"settings": {"split": str(split), "sampling": {"fps": 2.0},
                                                          "prompt": {"name": "timelens"}}}))
    view = load_run(run, bootstrap=0)
    lines = published_lines(view, "charades-timelens")
    ours = [x for x in lines if "(this run)" in x]
    assert len(ours) == 1 and "| timelens |" in ours[0]  # one convention on this benchmark: one row of ours
    want = score(run / "predictions.jsonl", split, mode="timelens", bootstrap=0)["metrics"]
    cells = [c.strip() for c in ours[0].split("|")][4:8]
    assert cells == [f"{want[m]:.2f}" for m in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")]
    assert sum("TimeLens-8B" in x for x in lines) == 1
    tvg = published_lines(view, "tvgbench")
    timer1 = score(run / "predictions.jsonl", split, mode="timer1", bootstrap=0)["metrics"]
    assert f"| {timer1['R1@0.5']:.2f} |" in next(x for x in tvg if "(this run)" in x)
