"""TimeRFT: difficulty recomputation on the real release, Gaussian selection, the keep-0-0.7 rule, CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from timerft.difficulty import recompute_difficulty
from timerft.selection import gaussian_select, gaussian_weights, keep_0_07
from tvgbench.core.errors import Timer1Error


def _cli(args):
    from tvgbench.cli.main import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def timerft_samples(timerft_json):
    from tvgbench.data.sources import ingest

    return ingest("timer1-timerft", timerft_json).samples


def test_recomputed_difficulty_equals_the_released_values(timerft_samples, timerft_json):
    ours = recompute_difficulty(timerft_samples)
    released = np.array([s.difficulty for s in timerft_samples])
    assert len(ours) > 2400
    np.testing.assert_array_equal(ours, released)  # bit for bit: same IoU formula, same float ops
    raw = json.loads(timerft_json.read_text())  # also every raw record, before ingestion drops any
    from timerft.difficulty import difficulty_from_spans

    p, g = np.array([r["pred"] for r in raw]), np.array([r["timestamp"] for r in raw])
    np.testing.assert_array_equal(difficulty_from_spans(p[:, 0], p[:, 1], g[:, 0], g[:, 1]),
                                  [r["difficulty"] for r in raw])


def test_gaussian_selection_is_seeded_without_replacement_and_follows_the_weight():
    rng = np.random.default_rng(0)
    iou = np.concatenate([rng.uniform(0, 1, 20000), np.zeros(500)])
    diff = list(iou * 100)
    a = gaussian_select(diff, 2000, center=0.3, sigma=0.2, seed=4)
    assert np.array_equal(a, gaussian_select(diff, 2000, center=0.3, sigma=0.2, seed=4))
    assert not np.array_equal(a, gaussian_select(diff, 2000, center=0.3, sigma=0.2, seed=5))
    assert len(np.unique(a)) == 2000 and (iou[a] > 0).all()
    w = gaussian_weights(iou)
    expected = (w * iou).sum() / w.sum()
    assert abs(iou[a].mean() - expected) < 0.02
    # far more picks near the centre than in the tails
    assert ((iou[a] > 0.2) & (iou[a] < 0.4)).sum() > 4 * (iou[a] > 0.8).sum()


def test_keep_rule_keeps_0_to_0_7_ordered_by_difficulty():
    diff = [0.0, 5.0, 70.0, 70.01, 100.0, 35.0, None, 50.0]
    kept = keep_0_07(diff)
    assert kept.tolist() == [2, 7, 5, 1]  # descending difficulty, 0 < IoU <= 0.7
    assert len(keep_0_07(list(np.linspace(1, 70, 100)), k=10)) == 10
    with pytest.raises(Timer1Error, match="nothing to keep"):
        keep_0_07([0.0, 90.0])
    with pytest.raises(Timer1Error, match="empty pool"):
        gaussian_select([0.0, 0.0], 1)
    with pytest.raises(Timer1Error, match="larger than the pool"):
        gaussian_select([10.0, 20.0], 3)


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory, timerft_samples):
    from dataclasses import replace

    from tvgbench.core.splits import write_split

    d = tmp_path_factory.mktemp("pool")
    bare = [replace(s, difficulty=None, pred=None) for s in timerft_samples[:300]]
    write_split(bare, d / "split", "train")
    lines = []
    for k, s in enumerate(timerft_samples[:300]):
        if k == 0:
            continue  # one sample without a prediction
        if k == 1:
            lines.append({"qid": s.qid, "text": f"<answer>{s.pred[0]} to {s.pred[1]}</answer>"})
        elif k == 2:
            lines.append({"qid": s.source_id, "pred": [None, None], "output_text": "no idea"})
        else:
            lines.append({"qid": s.source_id if k % 2 else s.qid, "pred": list(s.pred)})
    (d / "preds.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return d


def test_difficulty_cli_recomputes_released_values_and_builds(small_pool, timerft_samples, tmp_path):
    r = _cli(["data", "difficulty", str(small_pool / "preds.jsonl"), "--split", str(small_pool / "split"),
              "-o", str(tmp_path / "scored"), "--json"])
    assert r.exit_code == 0, r.output
    stats = json.loads(r.stdout)
    assert stats["scored"] == 299 and stats["missing"] == 1 and stats["parsed_from_text"] == 1 and stats["unparsed"] == 1
    from tvgbench.core.splits import load_split

    scored = {s.qid: s for s in load_split(tmp_path / "scored").samples}
    released = {s.qid: s.difficulty for s in timerft_samples[:300]}
    assert scored[timerft_samples[2].qid].difficulty == 0.0
    same = [q for q in scored if q != timerft_samples[2].qid]
    assert all(scored[q].difficulty == released[q] for q in same)

    r = _cli(["data", "build", "timerft", "--pool", str(tmp_path / "scored"), "--k", "100", "--seed", "3",
              "-o", str(tmp_path / "sel")])
    assert r.exit_code == 0, r.output
    sel = load_split(tmp_path / "sel").samples
    assert len(sel) == 100 and all(s.difficulty > 0 for s in sel)
    r2 = _cli(["data", "build", "timerft", "--pool", str(tmp_path / "scored"), "--k", "100", "--seed", "3",
               "-o", str(tmp_path / "sel2")])
    assert r2.exit_code == 0
    assert (tmp_path / "sel/data/train-00000-of-00001.parquet").read_bytes() == \
        (tmp_path / "sel2/data/train-00000-of-00001.parquet").read_bytes()
    r = _cli(["data", "build", "timerft", "--pool", str(tmp_path / "scored"), "--rule", "keep-0-0.7", "--all",
              "-o", str(tmp_path / "sf")])
    assert r.exit_code == 0, r.output
    assert all(0 < s.difficulty <= 70 for s in load_split(tmp_path / "sf").samples)


def test_build_timerft_errors_are_one_line(small_pool, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [
        (["--pool", str(small_pool / "split"), "--k", "5"], "no difficulty values"),  # unscored pool
        (["--pool", str(tmp_path / "nowhere"), "--k", "5"], "not found"),
    ]
    from tvgbench.core.splits import write_split

    write_split([], tmp_path / "empty", "train")
    cases.append((["--pool", str(tmp_path / "empty"), "--k", "5"], "empty pool"))
    for args, needle in cases:
        r = _cli(["data", "build", "timerft", *args, "-o", str(tmp_path / "o")])
        assert r.exit_code == 2 and needle in r.output and r.output.count("\n") == 1, r.output
    r = _cli(["data", "difficulty", str(small_pool / "preds.jsonl"), "--split", str(small_pool / "split"),
              "-o", str(blocker / "sub")])
    assert r.exit_code == 2 and "cannot create output folder" in r.output, r.output


def test_rule_options_are_exclusive(small_pool, tmp_path):
    for args in (["--rule", "keep-0-0.7", "--center", "0.5"], ["--all"]):
        r = _cli(["data", "build", "timerft", "--pool", str(small_pool / "split"), *args, "-o", str(tmp_path / "o")])
        assert r.exit_code == 2 and r.output.startswith("error:") and r.output.count("\n") == 1, r.output


def test_difficulty_warns_on_unknown_qids_and_refuses_when_most_are_unknown(small_pool, timerft_samples, tmp_path):
    # predictions for another split: 7 of 10 qids unknown used to write a 3-sample pool, exit 0, no warning
    known = [{"qid": s.qid, "pred": list(s.pred)} for s in timerft_samples[:3]]
    foreign = [{"qid": f"another_split_{i}", "pred": [0.0, 5.0]} for i in range(7)]
    preds = tmp_path / "wrong.jsonl"
    preds.write_text("\n".join(json.dumps(x) for x in known + foreign) + "\n")
    args = ["data", "difficulty", str(preds), "--split", str(small_pool / "split")]
    r = _cli([*args, "-o", str(tmp_path / "refused")])
    assert r.exit_code == 2 and r.stdout == "" and not (tmp_path / "refused").exists()
    assert r.stderr.startswith("error: 7 of 10 predictions name qids that are not in split 'train'")
    assert "--allow-unknown" in r.stderr and r.stderr.count("\n") == 1
    r = _cli([*args, "-o", str(tmp_path / "allowed"), "--allow-unknown", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["scored"] == 3
    assert r.stderr.startswith("warning: 7 of 10 predictions name qids that are not in split 'train'")
    # a few unknown: a warning with the counts, the pool is written
    preds.write_text("\n".join(json.dumps(x) for x in known + foreign[:1]) + "\n")
    r = _cli([*args, "-o", str(tmp_path / "few")])
    assert r.exit_code == 0 and "scored 3 of 300" in r.stdout
    assert r.stderr.startswith("warning: 1 of 4 predictions name qids that are not in split 'train'")
    assert r.stderr.count("\n") == 1


def test_difficulty_of_a_clean_file_prints_no_warning(small_pool, tmp_path):
    r = _cli(["data", "difficulty", str(small_pool / "preds.jsonl"), "--split", str(small_pool / "split"),
              "-o", str(tmp_path / "scored")])
    assert r.exit_code == 0 and r.stderr == "", r.stderr
