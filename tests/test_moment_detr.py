"""``--compat moment-detr`` against a deliberately simple, loop-based reading of moment_detr's definitions
(per query, per θ) on the real QVHighlights val annotations and a realistic submission."""

from __future__ import annotations

import json
import math
import random

import jsonschema
import numpy as np
import pytest
from conftest import REPO, shared_file

from tvgbench.core import moment_detr
from tvgbench.core.errors import Timer1Error
from tvgbench.core.scoring import score
from tvgbench.core.splits import write_split
from tvgbench.data.sources import ingest

VAL = "qvhighlights/highlight_val_release.jsonl"
THETAS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
BUCKETS = {"short": (0, 10), "middle": (10, 30), "long": (30, 150)}
LEVELS = {"Fair": 2, "Good": 3, "VeryGood": 4}


# ---- the reference: plain Python, one query and one threshold at a time ------------------------------


def iou_true_union(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def iou_hull(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def ref_ap(preds, gts, theta):
    """VOC-interpolated AP of the first 10 windows (as written) sorted by -score, each GT matched once."""
    preds = sorted(preds[:10], key=lambda p: -p[2])
    locked = [False] * len(gts)
    tp = []
    for p in preds:
        ious = [iou_true_union(p, g) for g in gts]
        hit = False
        for j in sorted(range(len(gts)), key=lambda j: (ious[j], j), reverse=True):
            if ious[j] < theta:
                break
            if locked[j]:
                continue
            locked[j] = hit = True
            break
        tp.append(hit)
    precision, recall, n_tp = [], [], 0
    for k, h in enumerate(tp, 1):
        n_tp += h
        precision.append(n_tp / k)
        recall.append(n_tp / len(gts))
    mprec, mrec = [0.0] + precision + [0.0], [0.0] + recall + [1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    ap = 0.0
    for i in range(1, len(mrec)):
        if mrec[i] != mrec[i - 1]:
            ap += (mrec[i] - mrec[i - 1]) * mprec[i]
    return ap


def ref_r1_iou(preds, gts):
    first = preds[0]
    best = 0
    for j in range(1, len(gts)):
        if iou_true_union(first, gts[j]) > iou_true_union(first, gts[best]):
            best = j
    return iou_hull(first, gts[best])


def ref_retrieval(sub, gt, bucket=None):
    """{"MR-mAP": {θ..., "average"}, "MR-R1": {θ...}} over queries of the submission with a GT window in bucket."""
    aps = {t: [] for t in THETAS}
    r1 = {t: [] for t in THETAS}
    for qid, preds in sub.items():
        gts = gt[qid]["relevant_windows"]
        if bucket is not None:
            gts = [w for w in gts if bucket[0] < w[1] - w[0] <= bucket[1]]
        if not gts or not preds:
            continue
        iou = ref_r1_iou(preds, gts)
        for t in THETAS:
            aps[t].append(ref_ap(preds, gts, t))
            r1[t].append(1.0 if iou >= t else 0.0)
    per_theta = {str(t): math.fsum(v) / len(v) for t, v in aps.items()}
    return {"MR-mAP": {**per_theta, "average": math.fsum(per_theta.values()) / len(THETAS)},
            "MR-R1": {str(t): math.fsum(v) / len(v) for t, v in r1.items()}}


def ref_labels(rec):
    n = int(rec["duration"] / 2)
    labels = [[0, 0, 0] for _ in range(n)]
    for cid, scores in zip(rec["relevant_clip_ids"], rec["saliency_scores"]):
        labels[cid] = scores
    return labels


def ref_hl_ap(y, pred):
    """Interpolated AP over distinct score thresholds, lowest first: the mean of the best precision at
    each recall step (all-0 labels: 0, all-1: 1)."""
    n = len(y)
    pred = list(pred[:n]) + [0.0] * (n - len(pred))
    if len(set(y)) == 1:
        return float(y[0])
    positives = sum(y)
    order = sorted(range(n), key=lambda i: -pred[i])
    points, tp = [], 0
    for rank, i in enumerate(order):
        tp += y[i]
        if rank == n - 1 or pred[order[rank + 1]] != pred[i]:
            points.append([tp / (rank + 1), tp / positives])
    points.reverse()
    points.append([1.0, 0.0])
    for i in range(1, len(points)):
        points[i][0] = max(points[i - 1][0], points[i][0])
    picked = [points[i][0] for i in range(len(points) - 1) if points[i][1] != points[i + 1][1]]
    total = 0.0
    for v in picked:
        total += v
    return total / len(picked)


def ref_highlights(sal, gt):
    out = {}
    for name, level in LEVELS.items():
        aps, hits = [], []
        for qid, pred in sal.items():
            labels = ref_labels(gt[qid])
            top = max(range(len(pred)), key=lambda i: (pred[i], -i))
            hits.append(1.0 if top < len(labels) and max(s >= level for s in labels[top]) else 0.0)
            for w in range(3):
                aps.append(ref_hl_ap([1 if lab[w] >= level else 0 for lab in labels], pred))
        out[f"HL-min-{name}"] = {"HL-mAP": math.fsum(aps) / len(aps), "HL-Hit1": math.fsum(hits) / len(hits)}
    return out


def ref_table(sub, sal, gt):
    table = {name: ref_retrieval(sub, gt, b) for name, b in BUCKETS.items()}
    table["full"] = ref_retrieval(sub, gt)
    table.update(ref_highlights(sal, gt))
    return table


# ---- a realistic submission -----------------------------------------------------------------------------


def make_submission(gt_rows, seed=0):
    """Seeded perturbations of the true windows (and decoys) with scores; ~3% of queries left out, some with
    more than 10 windows, some with tied scores; clip scores that favour labelled clips, of varied length."""
    rng = random.Random(seed)
    lines = []
    for r in gt_rows:
        if rng.random() < 0.03:
            continue
        d = float(r["duration"])
        wins = []
        for _ in range(rng.choice([1, 2, 3, 5, 10, 10, 12, 14])):
            if rng.random() < 0.7:
                g = rng.choice(r["relevant_windows"])
            else:
                a = rng.uniform(0, d - 10)
                g = [a, a + rng.uniform(2, 40)]
            s = max(0.0, g[0] + rng.gauss(0, 3))
            e = min(d, max(s + 2.0, g[1] + rng.gauss(0, 3)))
            score = round(rng.random(), 1 if rng.random() < 0.3 else 4)  # coarse scores tie
            wins.append([round(s, 2), round(e, 2), score])
        labelled = set(r["relevant_clip_ids"])
        n = int(d / 2) + rng.choice([-3, 0, 0, 0, 2])
        sal = [round(rng.random() + (0.8 if c in labelled else 0.0), rng.choice([1, 4])) for c in range(n)]
        lines.append({"qid": r["qid"], "query": r["query"], "vid": r["vid"], "pred_relevant_windows": wins,
                      "pred_saliency_scores": sal})
    return lines


@pytest.fixture(scope="module")
def qvh(tmp_path_factory):
    path = shared_file(VAL)
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    out = tmp_path_factory.mktemp("qvh")
    res = ingest("qvhighlights", path)
    write_split(res.samples, out / "split", "val", window_mode=res.window_mode,
                benchmark={k: res.extra[k] for k in ("pretty_name", "convention")})
    lines = make_submission(rows)
    pred = out / "submission.jsonl"
    pred.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return {"rows": rows, "gt": {r["qid"]: r for r in rows}, "lines": lines, "split": out / "split", "pred": pred}


@pytest.fixture(scope="module")
def ref(qvh):
    """The reference's full table for the seeded submission (computed once: it is the slow part)."""
    return ref_table({x["qid"]: x["pred_relevant_windows"] for x in qvh["lines"]},
                     {x["qid"]: x["pred_saliency_scores"] for x in qvh["lines"]}, qvh["gt"])


def _ours_full_precision(qvh):
    lines = qvh["lines"]
    gt = qvh["gt"]
    true_windows = [[tuple(w) for w in gt[x["qid"]]["relevant_windows"]] for x in lines]
    saliency = [{"clip_seconds": 2.0, "clip_ids": gt[x["qid"]]["relevant_clip_ids"],
                 "scores": gt[x["qid"]]["saliency_scores"]} for x in lines]
    return moment_detr.full_table([[tuple(w) for w in x["pred_relevant_windows"]] for x in lines], true_windows,
                                  [x["pred_saliency_scores"] for x in lines], saliency,
                                  np.array([gt[x["qid"]]["duration"] for x in lines], dtype=np.float64))


def test_every_metric_equals_the_reference_at_full_precision(qvh, ref):
    ours = _ours_full_precision(qvh)
    for name, block in ref.items():
        for key, value in block.items():
            got = ours[name][key]
            assert got == value, (name, key)  # dicts of floats: exactly equal, every θ and bucket
    # the submission exercises what matters: ties, more than 10 windows, every bucket populated
    assert any(len(x["pred_relevant_windows"]) > 10 for x in qvh["lines"])
    assert all(ours[b]["n"] > 50 for b in BUCKETS)


def test_eval_score_compat_moment_detr_gives_moment_detrs_numbers(qvh, ref):
    result = score(qvh["pred"], qvh["split"], mode="moment-detr", bootstrap=0)
    jsonschema.validate(result, json.loads((REPO / "tvgbench" / "core" / "scores.schema.json").read_text()))
    two = {name: {k: ({kk: float(f"{100 * vv:.2f}") for kk, vv in v.items()} if isinstance(v, dict)
                      else float(f"{100 * v:.2f}")) for k, v in block.items()} for name, block in ref.items()}
    assert result["moment_detr"] == two
    brief = result["peer_metrics"]
    assert list(brief)[:8] == sorted(["MR-full-mAP", "MR-full-mAP@0.5", "MR-full-mAP@0.75", "MR-short-mAP",
                                      "MR-middle-mAP", "MR-long-mAP", "MR-full-R1@0.5", "MR-full-R1@0.7"])
    assert brief["MR-full-mAP"] == two["full"]["MR-mAP"]["average"] == result["metrics"]["mAP"]
    assert brief["MR-full-R1@0.7"] == two["full"]["MR-R1"]["0.7"] == result["metrics"]["R1@0.7"]
    assert brief["HL-min-VeryGood-Hit1"] == two["HL-min-VeryGood"]["HL-Hit1"]
    n = len(qvh["lines"])
    assert result["counts"]["scored"] == n and result["counts"]["missing"] == 1550 - n > 0
    assert result["denominator"] == moment_detr.DENOMINATOR and result["hit_rule"] == "IoU >= θ"


def test_highlight_ap_follows_sklearn_precision_recall_curve_as_moment_detr_uses_it(qvh):
    from sklearn.metrics import precision_recall_curve

    def sklearn_ap(y, pred):  # moment_detr's get_ap (interpolated, not 11-point) on sklearn's curve
        pred = np.array((list(pred[: len(y)]) + [0.0] * (len(y) - len(pred))))
        y = np.array(y, dtype=float)
        if len(set(y)) == 1:
            return float(y[0])
        precision, recall, _ = precision_recall_curve(y, pred)
        recall = recall.astype(np.float32)
        precision = np.maximum.accumulate(precision)
        return float(np.mean(precision[np.where(np.diff(recall))]))

    for x in qvh["lines"][:300]:
        labels = ref_labels(qvh["gt"][x["qid"]])
        for w in range(3):
            y = [1 if lab[w] >= 3 else 0 for lab in labels]
            assert ref_hl_ap(y, x["pred_saliency_scores"]) == pytest.approx(sklearn_ap(y, x["pred_saliency_scores"]),
                                                                            abs=1e-12)


def test_submission_rules(qvh, tmp_path):
    lines = qvh["lines"][:40]
    p = tmp_path / "dup.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in lines + lines[:1]))
    with pytest.raises(Timer1Error, match="more than once"):
        score(p, qvh["split"], mode="moment-detr", bootstrap=0)
    partial = [dict(x) for x in lines]
    del partial[3]["pred_saliency_scores"]
    p.write_text("".join(json.dumps(x) + "\n" for x in partial))
    with pytest.raises(Timer1Error, match="no pred_saliency_scores"):
        score(p, qvh["split"], mode="moment-detr", bootstrap=0)
    # a line without windows and a qid the split lacks are left out, as moment_detr's intersection does
    trimmed = [{k: v for k, v in x.items() if k != "pred_saliency_scores"} for x in lines]
    trimmed[0]["pred_relevant_windows"] = []
    p.write_text("".join(json.dumps(x) + "\n" for x in trimmed + [{"qid": 99999999, "pred_relevant_windows": [[1, 2, 1]]}]))
    result = score(p, qvh["split"], mode="moment-detr", bootstrap=0)
    assert result["counts"]["scored"] == 39 and result["counts"]["no_windows"] == 1
    assert result["counts"]["unknown_qids"] == 1 and "HL-min-Fair-mAP" not in result["peer_metrics"]
    ref = ref_retrieval({x["qid"]: x["pred_relevant_windows"] for x in trimmed[1:]}, qvh["gt"])
    assert result["peer_metrics"]["MR-full-mAP"] == float(f"{100 * ref['MR-mAP']['average']:.2f}")


def test_single_window_splits_score_with_their_span_as_the_one_window(tmp_path):
    from tvgbench.core.schema import Sample

    samples = [Sample(video=f"v{i}.mp4", query=f"q{i}", span=(2.0 * i, 2.0 * i + 6), duration=60.0, source="x",
                      source_id=str(i)) for i in range(5)]
    write_split(samples, tmp_path / "s", "test")
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps({"qid": i, "pred_relevant_windows": [[2.0 * i + 1, 2.0 * i + 6, 0.9],
                                                                          [0, 1, 0.1]]}) + "\n" for i in range(5)))
    result = score(p, tmp_path / "s", mode="moment-detr", bootstrap=0)
    iou = 5 / 6
    assert result["metrics"]["mIoU"] == float(f"{100 * iou:.2f}")
    assert result["metrics"]["R1@0.5"] == result["metrics"]["R1@0.7"] == 100.0
    assert result["moment_detr"]["full"]["MR-R1"]["0.8"] == 100.0 and result["moment_detr"]["full"]["MR-R1"]["0.85"] == 0.0
    assert result["moment_detr"]["full"]["MR-mAP"]["0.8"] == 100.0


def test_canonical_mode_on_a_multi_window_split_scores_against_the_best_true_window(qvh):
    """Canonical rules (IoU >= θ, every split query counts, a missing line is IoU 0), with each span against
    the true window of highest IoU and R5 over any true window."""
    result = score(qvh["pred"], qvh["split"], bootstrap=0)
    by_qid = {x["qid"]: x["pred_relevant_windows"] for x in qvh["lines"]}
    ious, best5 = [], []
    for r in qvh["rows"]:
        preds = by_qid.get(r["qid"])
        if not preds:
            ious.append(0.0)
            best5.append(0.0)
            continue
        ious.append(ref_r1_iou(preds, r["relevant_windows"]))
        top5 = sorted(preds, key=lambda p: -p[2])[:5]
        best5.append(max(iou_true_union(p, g) for p in top5 for g in r["relevant_windows"]))
    for t in (0.3, 0.5, 0.7):
        assert result["metrics"][f"R1@{t}"] == round(100 * sum(i >= t for i in ious) / len(ious), 4)
        assert result["metrics"][f"R5@{t}"] == round(100 * sum(i >= t for i in best5) / len(best5), 4)
    assert result["metrics"]["mIoU"] == pytest.approx(100 * sum(ious) / len(ious), abs=1e-4)
    assert result["counts"]["missing"] == 1550 - len(qvh["lines"])
    # the first window alone would score lower: the extra windows are used
    first_only = [iou_hull(by_qid[r["qid"]][0], r["relevant_windows"][0]) if r["qid"] in by_qid else 0.0
                  for r in qvh["rows"]]
    assert sum(first_only) < sum(ious)


def test_cli_scores_a_submission_and_a_bad_one_is_one_error_line(tmp_path):
    import subprocess
    import sys

    from tvgbench.core.schema import Sample

    samples = [Sample(video=f"v{i}.mp4", query=f"q{i}", span=(1.0, 9.0), duration=30.0, source="x", source_id=str(i),
                      windows=[(1.0, 9.0), (20.0, 25.0)]) for i in range(3)]
    write_split(samples, tmp_path / "s", "val")
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps({"qid": i, "pred_relevant_windows": [[20, 25, 0.8], [1, 9, 0.7]]}) + "\n"
                         for i in range(3)))
    cli = [sys.executable, "-m", "tvgbench.cli.main", "eval", "score", str(p), "--split", str(tmp_path / "s"),
           "--compat", "moment-detr", "--json", "--bootstrap", "0"]
    out = subprocess.run(cli, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    # the first window is the second true window exactly; both true windows found: AP 1 at every θ
    assert result["metrics"]["R1@0.7"] == 100.0 and result["peer_metrics"]["MR-full-mAP"] == 100.0
    p.write_text('{"qid": 0, "pred_relevant_windows": [[1, "x", 0.5]]}\n')
    out = subprocess.run(cli, capture_output=True, text=True)
    assert out.returncode != 0 and out.stderr.strip().startswith("error:") and len(out.stderr.strip().splitlines()) == 1
    assert "pred_relevant_windows" in out.stderr


def test_plain_span_and_raw_text_lines_score_as_one_window(qvh, tmp_path):
    """A timer1 run's lines on QVHighlights: the span (given, or parsed from the text) is the one window."""
    lines = []
    for k, x in enumerate(qvh["lines"][:60]):
        s, e = x["pred_relevant_windows"][0][:2]
        lines.append({"qid": x["qid"], "pred": [s, e]} if k % 2 else {"qid": x["qid"], "text": f"<answer>{s} to {e}</answer>"})
    p = tmp_path / "run.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = score(p, qvh["split"], mode="moment-detr", bootstrap=0)
    ref = ref_retrieval({x["qid"]: [x["pred_relevant_windows"][0][:2] + [0.0]] for x in qvh["lines"][:60]}, qvh["gt"])
    assert result["counts"]["scored"] == 60
    assert result["moment_detr"]["full"]["MR-R1"]["0.5"] == float(f"{100 * ref['MR-R1']['0.5']:.2f}")
    assert result["moment_detr"]["full"]["MR-mAP"]["average"] == float(f"{100 * ref['MR-mAP']['average']:.2f}")


def test_train_release_ingests_7218_queries():
    res = ingest("qvhighlights", shared_file("qvhighlights/highlight_train_release.jsonl"))
    assert len(res.samples) == 7218 and res.default_split == "train" and res.report.to_dict()["rejected"] == 0


def test_leaderboard_takes_a_moment_detr_submission_and_ranks_it_in_moment_detrs_terms(qvh, tmp_path):
    from leaderboard.ranking import boards
    from leaderboard.service import submit
    from leaderboard.store import open_store
    from leaderboard.validate import SplitIndex, SubmissionRejected, validate_bytes

    idx = SplitIndex.from_dir(qvh["split"])
    data = qvh["pred"].read_bytes()
    valid = validate_bytes(data, idx)
    assert valid.lines == len(qvh["lines"]) and valid.missing == 1550 - len(qvh["lines"])
    with pytest.raises(SubmissionRejected, match="pred_relevant_windows"):
        validate_bytes(b'{"qid": 2579, "pred_relevant_windows": [[1, "x", 0.5]]}\n', idx)
    with open_store(tmp_path / "lb.db") as store:
        submit(store, data, qvh["split"], model_name="perturbed", bootstrap=0, split=idx)
        (board,) = boards(store.submissions())
        sub = board.entries[0].submission
    direct = score(qvh["pred"], qvh["split"], mode="moment-detr", bootstrap=0)
    assert board.convention == "moment-detr" and sub.declared["metrics"] == direct["metrics"]
