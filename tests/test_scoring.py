"""The scorer against an independent, plain-Python implementation of the definitions."""

from __future__ import annotations

import json
import random
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest

from tvgbench.core.errors import Timer1Error
from tvgbench.core.parsing import parse_answer
from tvgbench.core.schema import Sample
from tvgbench.core.scoring import score
from tvgbench.core.splits import write_split

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "tvgbench" / "core" / "scores.schema.json").read_text())


# ---- independent reference implementations (deliberately naive) -----------------------------

def ref_iou(p, g):
    if p is None or p[0] is None or p[1] is None:
        return 0.0
    inter = max(0.0, min(p[1], g[1]) - max(p[0], g[0]))
    union = max(p[1], g[1]) - min(p[0], g[0])
    return inter / union if union > 0 else 0.0


def ref_canonical(lines, split_rows):
    by_qid = {r["qid"]: r for r in split_rows}
    alias = {r["source_id"]: r["qid"] for r in split_rows if r["source_id"]}
    ious = {r["qid"]: 0.0 for r in split_rows}
    for obj in lines:
        q = obj["qid"] if obj["qid"] in by_qid else alias.get(obj["qid"])
        if q is None:
            continue
        row = by_qid[q]
        pred = obj.get("pred")
        if not (pred and None not in pred):
            text = obj.get("text", obj.get("output_text"))
            pred = parse_answer(text, "canonical", row["duration"]).span if text else None
        if pred is not None:
            pred = (min(pred), max(pred))
        ious[q] = ref_iou(pred, row["span"])
    vals = list(ious.values())
    out = {f"R1@{t}": 100 * sum(v >= t for v in vals) / len(vals) for t in (0.3, 0.5, 0.7)}
    out["mIoU"] = 100 * sum(vals) / len(vals)
    return out


def ref_timer1(lines, split_rows):
    """Time-R1 eval_all.py: last line per qid, IoU > θ, denominator = distinct qids, NaN → 0."""
    by_qid = {r["qid"]: r for r in split_rows}
    alias = {r["source_id"]: r["qid"] for r in split_rows if r["source_id"]}
    last = {}
    for obj in lines:
        last[obj["qid"]] = obj
    scores = []
    for qid, obj in last.items():
        target = obj.get("target")
        if target is None:
            q = qid if qid in by_qid else alias.get(qid)
            target = by_qid[q]["span"]
        pred = obj["pred"] if "pred" in obj else parse_answer(obj.get("text"), "timer1-eval").span
        if pred is None or None in pred:
            scores.append(0.0)
            continue
        inter = max(0.0, min(pred[1], target[1]) - max(pred[0], target[0]))
        union = max(0.0, max(pred[1], target[1]) - min(pred[0], target[0]))
        scores.append(inter / union if union > 0 else 0.0)
    out = {f"R1@{t}": 100 * sum(s > t for s in scores) / len(scores) for t in (0.3, 0.5, 0.7)}
    out["mIoU"] = 100 * sum(scores) / len(scores)
    out["avg"] = sum(out.values()) / 4
    return out


# ---- fixtures --------------------------------------------------------------------------------

def split_rows(split_dir):
    return pq.read_table(next(Path(split_dir, "data").glob("*.parquet"))).to_pylist()


def write_lines(path, lines):
    with open(path, "w") as f:
        for obj in lines:
            f.write(json.dumps(obj) + "\n")
    return path


def noisy_predictions(rows, seed, *, fraction=0.95, with_text=True, with_aliases=True):
    rng = random.Random(seed)
    lines = []
    for i, r in enumerate(rows):
        if rng.random() > fraction:
            continue  # missing prediction
        s, e = r["span"]
        ps, pe = max(0.0, s + rng.uniform(-8, 8)), e + rng.uniform(-8, 8)
        qid = r["source_id"] if (with_aliases and r["source_id"] and i % 7 == 0) else r["qid"]
        kind = i % 5
        if kind == 0 and with_text:
            lines.append({"qid": qid, "text": f"<think>0 to 1</think><answer>{ps:.2f} to {pe:.2f}</answer>"})
        elif kind == 1:
            lines.append({"qid": qid, "pred": [None, None], "target": list(r["span"]),
                          "duration": r["duration"], "output_text": "I do not know"})
        elif kind == 2:
            lines.append({"qid": qid, "pred": [round(pe, 2), round(ps, 2)]})  # reversed
        else:
            lines.append({"qid": qid, "pred": [round(ps, 2), round(pe, 2)]})
    return lines


# ---- tests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_canonical_matches_reference_on_tvgbench(tvgbench_split, tmp_path, seed):
    rows = split_rows(tvgbench_split)
    lines = noisy_predictions(rows, seed)
    path = write_lines(tmp_path / "p.jsonl", lines)
    got = score(path, tvgbench_split, bootstrap=0)
    want = ref_canonical(lines, rows)
    for k, v in want.items():
        assert got["metrics"][k] == pytest.approx(v, abs=1e-3), k
    assert got["counts"]["missing"] == len(rows) - len(lines)
    assert got["counts"]["scored"] == 800
    jsonschema.validate(got, SCHEMA)


@pytest.mark.parametrize("seed", [0, 1])
def test_timer1_compat_matches_reference(tvgbench_split, tmp_path, seed):
    rows = split_rows(tvgbench_split)
    lines = noisy_predictions(rows, seed)
    # duplicates: the last line wins in Time-R1
    lines += [{"qid": lines[3]["qid"], "pred": [0.0, 0.1]}, {"qid": lines[4]["qid"], "pred": [1.0, 2.0]}]
    path = write_lines(tmp_path / "p.jsonl", lines)
    got = score(path, tvgbench_split, mode="timer1", bootstrap=0)
    want = ref_timer1(lines, rows)
    for k, v in want.items():
        assert got["metrics"][k] == pytest.approx(v, abs=1e-3), k
    assert got["counts"]["duplicates_dropped"] == 2
    jsonschema.validate(got, SCHEMA)


def _tiny_split(tmp_path, spans, durations=None, videos=None):
    samples = [
        Sample(video=(videos[i] if videos else f"v{i}.mp4"), query=f"q{i}", span=s,
               duration=(durations[i] if durations else 100.0), source="t", qtype="Human Pose")
        for i, s in enumerate(spans)
    ]
    write_split(samples, tmp_path / "split", "test")
    return tmp_path / "split", [s.qid for s in samples]


def test_threshold_rules_differ_exactly_at_the_boundary(tmp_path):
    # IoU exactly 0.5: a hit for canonical (>=), a miss for Time-R1 (>)
    d, qids = _tiny_split(tmp_path, [(0.0, 10.0)])
    p = write_lines(tmp_path / "p.jsonl", [{"qid": qids[0], "pred": [0.0, 5.0]}])
    assert score(p, d, bootstrap=0)["metrics"]["R1@0.5"] == 100.0
    assert score(p, d, mode="timer1", bootstrap=0)["metrics"]["R1@0.5"] == 0.0


def test_zero_length_ground_truth_never_nan(tmp_path):
    d, qids = _tiny_split(tmp_path, [(5.0, 5.0), (1.0, 2.0)])
    lines = [{"qid": qids[0], "pred": [5.0, 5.0]}, {"qid": qids[1], "pred": [1.0, 2.0]}]
    p = write_lines(tmp_path / "p.jsonl", lines)
    for mode in ("canonical", "timer1"):
        m = score(p, d, mode=mode, bootstrap=0)["metrics"]
        assert m["mIoU"] == 50.0 and m["R1@0.7"] == 50.0, mode


def test_missing_and_unknown_are_counted(tmp_path):
    d, qids = _tiny_split(tmp_path, [(0, 10), (10, 20), (20, 30)])
    p = write_lines(tmp_path / "p.jsonl", [{"qid": qids[0], "pred": [0, 10]}, {"qid": "not-a-qid", "pred": [0, 1]},
                                            {"qid": qids[1], "text": "no idea"}])
    r = score(p, d, bootstrap=0)
    assert r["counts"]["unknown_qids"] == 1
    assert r["counts"]["missing"] == 1
    assert r["counts"]["unparseable"] == 1
    assert r["metrics"]["R1@0.7"] == pytest.approx(100 / 3, abs=1e-3)


def test_canonical_rejects_duplicate_qids(tmp_path):
    d, qids = _tiny_split(tmp_path, [(0, 10)])
    p = write_lines(tmp_path / "p.jsonl", [{"qid": qids[0], "pred": [0, 10]}] * 2)
    with pytest.raises(Timer1Error, match="more than once"):
        score(p, d)


def test_r5_from_scored_windows(tmp_path):
    d, qids = _tiny_split(tmp_path, [(0, 10), (50, 60)])
    lines = [
        {"qid": qids[0], "windows": [[30, 40, 0.9], [0, 10, 0.5]]},  # top-1 misses, top-5 hits
        {"qid": qids[1], "windows": [[50, 60, 0.8], [0, 1, 0.1]]},
    ]
    r = score(write_lines(tmp_path / "p.jsonl", lines), d, bootstrap=0)
    assert r["metrics"]["R5@0.7"] == 100.0


def test_bootstrap_resamples_videos_and_is_reproducible(tmp_path):
    spans = [(0, 10)] * 6
    # two videos: one all hits (3 queries), one all misses (3 queries)
    d, qids = _tiny_split(tmp_path, spans, videos=["a.mp4"] * 3 + ["b.mp4"] * 3)
    lines = [{"qid": q, "pred": [0, 10] if i < 3 else [50, 60]} for i, q in enumerate(qids)]
    p = write_lines(tmp_path / "p.jsonl", lines)
    a = score(p, d, bootstrap=500, seed=3)
    b = score(p, d, bootstrap=500, seed=3)
    assert a["ci95"] == b["ci95"]
    lo, hi = a["ci95"]["R1@0.5"]
    # with videos as the unit, only 0%, 50% and 100% are possible outcomes
    assert lo == 0.0 and hi == 100.0


def test_breakdowns_cover_every_query(tvgbench_split, tmp_path):
    rows = split_rows(tvgbench_split)
    p = write_lines(tmp_path / "p.jsonl", noisy_predictions(rows, 5))
    r = score(p, tvgbench_split, bootstrap=0)
    for key in ("qtype", "source", "videolen"):
        assert sum(g["n"] for g in r["breakdowns"][key].values()) == 800
    assert len(r["breakdowns"]["qtype"]) == 11
    assert set(r["breakdowns"]["videolen"]) == {str(i) for i in range(9)} | {"2"}


@pytest.mark.parametrize("content,needle", [
    (b'{"qid": "a", "pred": [1, 2]}\n{"qid": "b", "pred": [1, \n', "line 2"),
    (b'["not an object"]\n', "expected a JSON object"),
    (b'{"qid": "a", "pred": ["x", 2]}\n', "non-numeric"),
    (b'{"qid": "a", "pred": [1, 2, 3]}\n', "[start, end]"),
    (b'{"pred": [1, 2]}\n', "qid"),
    (b"\x00\x01binary", "binary"),
    (b"", "empty"),
])
def test_bad_prediction_files_raise_one_line_errors(tvgbench_split, tmp_path, content, needle):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    with pytest.raises(Timer1Error) as e:
        score(p, tvgbench_split)
    assert needle in str(e.value) and "\n" not in str(e.value)


def _score_cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "tvgbench.cli.main", "eval", "score", *map(str, args)],
                          capture_output=True, text=True)


def test_predictions_for_another_split_are_refused_unless_allowed(tmp_path):
    # a run on split B scored against split A: 7 of 8 qids unknown used to give ~0 scores, exit 0, no word
    d, qids = _tiny_split(tmp_path / "a", [(i, i + 5.0) for i in range(8)])
    _, other = _tiny_split(tmp_path / "b", [(i, i + 6.0) for i in range(7)])
    lines = [{"qid": q, "pred": [0.0, 6.0]} for q in other] + [{"qid": qids[0], "pred": [0.0, 5.0]}]
    p = write_lines(tmp_path / "p.jsonl", lines)
    out = tmp_path / "s.json"
    r = _score_cli(p, "--split", d, "--bootstrap", "0", "--out", out)
    assert r.returncode == 2 and r.stdout == "" and not out.exists()
    assert r.stderr.startswith("error: 7 of 8 predictions name qids that are not in split 'test'")
    assert "--allow-unknown" in r.stderr and r.stderr.count("\n") == 1
    r = _score_cli(p, "--split", d, "--bootstrap", "0", "--json", "--allow-unknown")
    assert r.returncode == 0 and json.loads(r.stdout)["counts"]["unknown_qids"] == 7
    assert r.stderr.startswith("warning: 7 of 8 predictions name qids that are not in split 'test'")


def test_a_few_unknown_predictions_warn_and_a_clean_file_stays_silent(tmp_path):
    d, qids = _tiny_split(tmp_path, [(i, i + 5.0) for i in range(4)])
    clean = [{"qid": q, "pred": [0.0, 5.0]} for q in qids]
    r = _score_cli(write_lines(tmp_path / "clean.jsonl", clean), "--split", d, "--bootstrap", "0", "--json")
    assert r.returncode == 0 and r.stderr == ""
    stray = clean[:3] + [{"qid": "not-in-this-split", "pred": [0.0, 5.0]}]
    r = _score_cli(write_lines(tmp_path / "stray.jsonl", stray), "--split", d, "--bootstrap", "0")
    assert r.returncode == 0 and "R1@0.5" in r.stdout
    assert r.stderr.startswith("warning: 1 of 4 predictions name qids that are not in split 'test'")
    # Time-R1 lines carrying their own target are scored on it in --compat timer1: not unknown there
    own = [{"qid": f"Charades_sta_test_{i}", "pred": [0.0, 5.0], "target": [0.0, 5.0]} for i in range(3)]
    r = _score_cli(write_lines(tmp_path / "own.jsonl", own), "--split", d, "--compat", "timer1", "--bootstrap", "0")
    assert r.returncode == 0 and r.stderr == ""
