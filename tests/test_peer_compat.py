"""--compat timelens / lmms-eval: each equals a deliberately simple re-implementation of the peer's
definition (written here from the definitions, loop by loop), per query, on seeded raw answers for the
real Charades-STA test annotations, in both the peers' result-dict files and timer1 lines."""

from __future__ import annotations

import json
import random
import re

import pytest

from tvgbench.core.parsing import parse_answer
from tvgbench.core.scoring import score
from tvgbench.core.splits import write_split
from tvgbench.data.sources import ingest


# ---- the peers' definitions, re-implemented plainly ----------------------------------------------------


def peer_iou(a, b):
    """Both peers' iou: max(min ends - max starts, 0) / (max ends - min starts)."""
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    hull = max(a[1], b[1]) - min(a[0], b[0])
    return 0.0 if hull <= 0 else max(hi - lo, 0.0) / hull


def to_seconds(clock):
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + float(part)
    return total


def timelens_extract(text):
    text = text.lower()
    clocks = re.findall(r"\b(\d{1,2}:\d{2}:\d{2}(?:\.\d+)?|\d{1,2}:\d{2}(?:\.\d+)?)\b", text)
    clocks = clocks[: len(clocks) // 2 * 2]
    if clocks:
        secs = [to_seconds(c) for c in clocks]
        return [(secs[i], secs[i + 1]) for i in range(0, len(secs), 2)]
    for pattern in (r"(\d+\.?\d*)\s*-\s*(\d+\.?\d*)", r"(\d+\.?\d*)\s+to\s+(\d+\.?\d*)"):
        found = re.findall(pattern, text)
        if found:
            return [(float(a), float(b)) for a, b in found]
    nums = re.findall(r"\b\d+\.?\d*\b", text)
    nums = nums[: len(nums) // 2 * 2]
    return [(float(nums[i]), float(nums[i + 1])) for i in range(0, len(nums), 2)]


def timelens_ref(entries):
    """entries: list of (gt, text) → R1@θ (>=), mIoU over every entry; none parsed → (-100, -100)."""
    ious = []
    for gt, text in entries:
        spans = timelens_extract(text)
        pred = spans[0] if spans else (-100.0, -100.0)
        ious.append(peer_iou(pred, gt))
    return ious


def lmms_extract(paragraph):
    paragraph = paragraph.lower().replace("a specific example is : 20.8 - 30.0 seconds", "").replace("to", "-")
    sentences = re.split(r"[!?\n]", paragraph)
    words = ["starts", "ends", "happens in", "start time", "end time", "start", "end", "happen"]
    candidates = [s for s in sentences if any(w in s for w in words)]
    stamps = [[float(a), float(b)] for a, b in re.findall(r"(\d+\.*\d*)\s*-\s*(\d+\.*\d*)", paragraph)]
    if not stamps:
        times = []
        for s in candidates:
            t = re.findall(r"\b(\d+\.\d+\b|\b\d+)\b", s)
            if t:
                times.append(float(t[0]))
        times = times[: len(times) // 2 * 2]
        stamps = [(times[i], times[i + 1]) for i in range(0, len(times), 2)]
    if not stamps:
        times = []
        for s in candidates:
            t = re.findall(r"\b((\d{1,2}:\d{2}:\d{2}))\b", s)
            if t:
                h, m, sec = map(int, t[0][0].split(":"))
                times.append(h * 3600 + m * 60 + sec)
        times = times[: len(times) // 2 * 2]
        stamps = [(times[i], times[i + 1]) for i in range(0, len(times), 2)]
    out = [[s, e] if e > s else [e, s] for s, e in stamps]
    return out[:1]


def lmms_pred(text):
    mmss = r"(\d{1,2}):(\d{1,2}),\s*(\d{1,2}):(\d{1,2})\]"
    if "boxed" in text or "[" in text:
        m = re.search((r"\\boxed\{\[" + mmss + r"\}") if "boxed" in text else (r"\[" + mmss), text)
        if not m:
            return [0, 0]
        a, b, c, d = map(int, m.groups())
        return [a * 60 + b, c * 60 + d]
    found = lmms_extract(text)
    return found[0] if len(found) == 1 else [0, 0]


def lmms_ref(entries):
    return [peer_iou(gt, lmms_pred(text)) for gt, text in entries]


def metrics_of(ious):
    n = len(ious)
    out = {f"R1@{t}": sum(v >= t for v in ious) * 100 / n for t in (0.3, 0.5, 0.7)}
    out["mIoU"] = sum(ious) * 100 / n
    return out


# ---- realistic raw answers ----------------------------------------------------------------------------


def clock(x):
    m, s = divmod(x, 60)
    return f"{int(m):02d}:{s:04.1f}"


def hms(x):
    x = int(round(x))
    return f"{x // 3600:02d}:{x % 3600 // 60:02d}:{x % 60:02d}"


PHRASES = [
    lambda s, e: f"The event happens in {s:.1f} - {e:.1f} seconds.",
    lambda s, e: f"<think>The person moves around {s:.0f}s.</think><answer>{s:.1f} to {e:.1f}</answer>",
    lambda s, e: f"The event starts at {s:.1f} seconds and ends at {e:.1f} seconds.",
    lambda s, e: f"From {clock(s)} to {clock(e)}.",
    lambda s, e: f"It starts at {hms(s)} and ends at {hms(e)}.",
    lambda s, e: f"The event happens in {e:.1f} - {s:.1f} seconds.",  # reversed
    lambda s, e: f"[{s:.1f}, {e:.1f}]",
    lambda s, e: f"[{clock(s)[:2]}:{int(s) % 60:02d}, {clock(e)[:2]}:{int(e) % 60:02d}]",
    lambda s, e: f"\\boxed{{[00:{int(s) % 60:02d}, 00:{int(e) % 60:02d}]}}",
    lambda s, e: f"Start time: {s:.1f}\nEnd time: {e:.1f}",
    lambda s, e: f"between {s:.2f} and {e:.2f}",
    lambda s, e: "I cannot tell from the video.",
    lambda s, e: f"The person walks into the room at {s:.0f} and leaves at {e:.0f}.",
    lambda s, e: f"{s:.1f}-{e:.1f}",
    lambda s, e: "The event happens in the start time - end time.",
    lambda s, e: f"Around {s:.1f}. Then until {e:.1f}!",
]


def raw_answers(samples, seed):
    rng = random.Random(seed)
    out = []
    for smp in samples:
        s, e = smp.span
        noise = lambda: rng.gauss(0, 0.2 * max(e - s, 1.0))  # noqa: E731
        ps, pe = max(0.0, s + noise()), max(0.0, e + noise())
        out.append(rng.choice(PHRASES)(ps, pe))
    return out


@pytest.fixture(scope="module")
def charades(tmp_path_factory):
    from conftest import shared_file

    res = ingest("charades-sta", shared_file("charades-sta/test.json"))
    d = tmp_path_factory.mktemp("charades")
    write_split(res.samples, d, "test", window_mode=res.window_mode, report=res.report.to_dict())
    return d, res.samples


def test_parsers_equal_their_definitions_per_answer(charades):
    _, samples = charades
    for text in raw_answers(samples, 0):
        tl = timelens_extract(text)
        assert parse_answer(text, "timelens").span == (tuple(tl[0]) if tl else None), text
        ours = parse_answer(text, "lmms-eval").span
        assert (list(ours) if ours else [0, 0]) == [float(x) for x in lmms_pred(text)], text


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("mode", ["timelens", "lmms-eval"])
def test_result_dict_scores_equal_the_reference(charades, tmp_path, mode, seed):
    split_dir, samples = charades
    texts = raw_answers(samples, seed)
    if mode == "timelens":  # TimeLens keys carry [[s, e]]; half the values give parsed timestamps
        rng = random.Random(seed)
        result = {}
        for smp, text in zip(samples, texts):
            key = f"{smp.video}>>>{smp.query}>>>{json.dumps([list(smp.span)])}"
            spans = timelens_extract(text)
            result[key] = ({"timestamps": [list(spans[0])], "answers": text} if spans and rng.random() < 0.5
                           else {"answers": text})
        entries = {k: (json.loads(k.rsplit(">>>", 1)[1])[0], v["answers"]) for k, v in result.items()}
        ref = timelens_ref(list(entries.values()))
    else:  # lmms-eval keys carry [s, e] and the video file name; values are the raw text
        result = {f"{smp.video}>>>{smp.query.rstrip('.')}>>>{list(smp.span)}": text for smp, text in zip(samples, texts)}
        ref = lmms_ref([(eval(k.split(">>>")[2]), v) for k, v in result.items()])
    path = tmp_path / "results.json"
    path.write_text(json.dumps(result))
    got = score(path, split_dir, mode=mode, bootstrap=0)
    assert got["counts"]["scored"] == len(result) == len(ref)
    want = metrics_of(ref)
    for name, value in want.items():
        assert got["metrics"][name] == pytest.approx(round(value, 4), abs=1e-9)
    peer = got["peer_metrics"]
    names = ["R1@0.3", "R1@0.5", "R1@0.7", "mIoU"] if mode == "timelens" else ["iou_0.3", "iou_0.5", "iou_0.7", "m_iou"]
    assert list(peer) == names
    assert [peer[n] for n in names] == pytest.approx(list(want.values()), abs=1e-9)
    report = got["peer_file"]
    # Charades-STA repeats some video+sentence pairs: the key's span tells them apart
    assert report["matched"] == len(result) and report["span_disagreements"] == 0
    assert got["denominator"] == "entries in the file" and got["hit_rule"] == "IoU >= θ"


def test_timer1_lines_score_per_query_like_the_peers(charades, tmp_path):
    """The same answers as timer1 lines: each query's IoU equals the reference's for it."""
    split_dir, samples = charades
    texts = raw_answers(samples, 3)
    path = tmp_path / "pred.jsonl"
    path.write_text("".join(json.dumps({"qid": s.qid, "text": t}) + "\n" for s, t in zip(samples, texts)))
    for mode, ref in (("timelens", timelens_ref), ("lmms-eval", lmms_ref)):
        ious = ref([(s.span, t) for s, t in zip(samples, texts)])
        got = score(path, split_dir, mode=mode, bootstrap=0)
        assert got["metrics"]["R1@0.5"] == pytest.approx(round(metrics_of(ious)["R1@0.5"], 4), abs=1e-9)
        assert got["metrics"]["mIoU"] == pytest.approx(round(metrics_of(ious)["mIoU"], 4), abs=1e-9)
    # the parsers really differ on this file (the point of naming them)
    tl, lm = (score(path, split_dir, mode=m, bootstrap=0)["metrics"]["R1@0.5"] for m in ("timelens", "lmms-eval"))
    assert tl != lm


def test_a_key_whose_span_disagrees_is_reported(charades, tmp_path):
    split_dir, samples = charades
    result = {f"{s.video}>>>{s.query}>>>{[[s.span[0] + 3.0, s.span[1] + 3.0]] if k == 0 else [list(s.span)]}": "1 - 2"
              for k, s in enumerate(samples[:3])}
    result["NOSUCH.mp4>>>a query no split holds>>>[[1.0, 2.0]]"] = "1.0 - 2.0"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    got = score(path, split_dir, mode="timelens", bootstrap=0)
    rep = got["peer_file"]
    assert rep["span_disagreements"] == 1 and rep["unmatched"] == 1 and rep["matched"] == 3
    assert "NOSUCH" in rep["examples"]["unmatched"][0]
    # TimeLens scores every entry on its key's span: the unknown one is a hit (IoU 1)
    assert got["counts"]["scored"] == 4


def test_a_runs_lines_are_reparsed_by_the_peers_parser(tmp_path):
    """A run writes the raw text and the canonical parser's span: the peers' modes parse the text."""
    from tvgbench.core.schema import Sample

    s = Sample(video="v.mp4", query="q", span=(12.0, 18.0), duration=40.0, source="t")
    write_split([s], tmp_path / "split", "test")
    text = "It happens at 12.0 - 18.0, or maybe 3.0 - 5.0"
    assert parse_answer(text).span == (3.0, 5.0) and timelens_extract(text)[0] == (12.0, 18.0)
    p = tmp_path / "run.jsonl"
    p.write_text(json.dumps({"qid": s.qid, "text": text, "pred": [3.0, 5.0]}) + "\n")
    assert score(p, tmp_path / "split", bootstrap=0)["metrics"]["mIoU"] == 0.0  # canonical: the pred
    assert score(p, tmp_path / "split", mode="timelens", bootstrap=0)["metrics"]["mIoU"] == 100.0
    assert score(p, tmp_path / "split", mode="lmms-eval", bootstrap=0)["metrics"]["mIoU"] == 100.0


@pytest.mark.parametrize("mode", ["timelens", "lmms-eval"])
def test_per_query_iou_equals_the_reference(charades, tmp_path, mode):
    """Query by query: the IoU the mode's join gives is the reference's for that answer and ground truth."""
    from tvgbench.core.join import join
    from tvgbench.core.predictions import read_predictions
    from tvgbench.core.scoring import PEER_RULES, read_split_columns, text_first

    split_dir, samples = charades
    texts = raw_answers(samples, 7)
    path = tmp_path / "pred.jsonl"
    path.write_text("".join(json.dumps({"qid": s.qid, "text": t}) + "\n" for s, t in zip(samples, texts)))
    preds = text_first(read_predictions(path, split_dir, keep_text=True))
    joined = join(preds, read_split_columns(split_dir), PEER_RULES[mode])
    ref = (timelens_ref if mode == "timelens" else lmms_ref)([(s.span, t) for s, t in zip(samples, texts)])
    by_qid = dict(zip((s.qid for s in samples), ref))
    split_qids = read_split_columns(split_dir).qid.to_pylist()
    got = {split_qids[q]: float(v) for q, v in zip(joined.query, joined.iou)}
    assert len(got) == len(by_qid)
    assert all(got[q] == pytest.approx(by_qid[q], abs=1e-12) for q in by_qid)
