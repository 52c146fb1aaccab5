"""Peers' result files read directly: TimeLens / lmms-eval result dicts (JSON, JSONL of dicts) and lmms-eval
--log_samples rows, matched to the split on video id + whitespace-normalised query."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.core.errors import Timer1Error
from tvgbench.core.peer_files import read_peer_file, split_key, video_id
from tvgbench.core.predictions import read_predictions
from tvgbench.core.schema import Sample
from tvgbench.core.scoring import score
from tvgbench.core.splits import write_split


@pytest.fixture()
def split(tmp_path):
    rows = [("AAA.mp4", "person opens the door.", (1.0, 5.0)), ("AAA.mp4", "person opens the door.", (10.0, 14.0)),
            ("BBB.mp4", "a person  sits down.", (2.0, 8.0)), ("CCC.mp4", "someone laughs", (0.0, 3.0))]
    samples = [Sample(video=v, query=q, span=s, duration=30.0, source="charades") for v, q, s in rows]
    d = tmp_path / "split"
    write_split(samples, d, "test")
    return d, samples


def test_keys_and_video_ids():
    assert split_key("Charades_v1_480/AAA.mp4>>>a >>> b>>>[[1.5, 2]]") == ("Charades_v1_480/AAA.mp4", "a >>> b", (1.5, 2.0))
    assert split_key("AAA>>>q>>>[1, 2]")[2] == (1.0, 2.0) and split_key("AAA>>>q>>>junk")[2] is None
    assert video_id("x/y/AAA.mp4") == "AAA" and video_id("AAA") == "AAA"
    assert read_peer_file(b'{"qid": "a", "pred": [1, 2]}\n') is None  # timer1 lines are no peer file


def test_result_dict_json_and_jsonl_match_on_video_and_query(split, tmp_path):
    d, samples = split
    result = {"Charades/AAA.mp4>>>person opens the door.>>>[[10.0, 14.0]]": {"timestamps": [[10.0, 14.0]], "answers": "x"},
              "AAA>>>person opens the door.>>>[[1.0, 5.0]]": {"answers": "It happens in 1 - 5 seconds."},
              "BBB.mp4>>>a person sits down.>>>[[2.0, 8.0]]": "nothing"}
    js = tmp_path / "r.json"
    js.write_text(json.dumps(result))
    cols = read_predictions(js, d)
    # the repeated video+query is told apart by the key's span; whitespace in the query does not matter
    assert list(cols.qid) == [samples[1].qid, samples[0].qid, samples[2].qid]
    assert cols.peer_report["matched"] == 3 and cols.peer_report["format"] == "result-dict"
    jl = tmp_path / "r.jsonl"
    jl.write_text("".join(json.dumps({k: v}) + "\n" for k, v in result.items()))
    a, b = (score(p, d, mode="timelens", bootstrap=0) for p in (js, jl))
    assert a["metrics"] == b["metrics"] and a["metrics"]["R1@0.7"] == pytest.approx(200 / 3, abs=1e-3)
    canonical = score(js, d, bootstrap=0)  # every split query counts there: the missing one is 0
    assert canonical["metrics"]["R1@0.7"] == 50.0


def test_lmms_eval_log_samples(split, tmp_path):
    d, samples = split
    rows = [{"doc_id": 0, "doc": {"video": "AAA.mp4", "caption": "person opens the door", "timestamp": [1.0, 5.0]},
             "target": "[1.0, 5.0]", "resps": [["The event happens in 1.0 - 5.0 seconds"]],
             "filtered_resps": ["The event happens in 1.0 - 5.0 seconds"]},
            {"doc_id": 1, "doc": {"video_path": "CCC.mp4", "query": "someone laughs", "span": [[0.0, 3.0]]},
             "target": "[[0.0, 3.0]]", "resps": [["from 0 to 3"]], "filtered_resps": ["from 0 to 3"]}]
    p = tmp_path / "samples.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cols = read_predictions(p, d)
    rep = cols.peer_report
    assert rep["format"] == "lmms-samples" and rep["matched"] == 2 and rep["matched_loosely"] == 1
    assert list(cols.qid) == [samples[0].qid, samples[3].qid]
    got = score(p, d, mode="lmms-eval", bootstrap=0)
    assert got["peer_metrics"]["iou_0.7"] == 100.0


def test_a_peer_file_needs_the_split_and_bad_entries_are_one_line(split, tmp_path):
    d, _ = split
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"AAA>>>q>>>[1, 2]": "1 - 2"}))
    with pytest.raises(Timer1Error, match="matched to a split"):
        read_predictions(p)
    p.write_text(json.dumps({"AAA>>>q>>>[1, 2]": 5}))
    with pytest.raises(Timer1Error, match="entry 1 of this result-dict file"):
        read_predictions(p, d)


def test_cli_warns_about_unmatched_and_disagreeing_keys(split, tmp_path):
    d, _ = split
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"AAA>>>person opens the door.>>>[[20.0, 24.0]]": "20 - 24",
                             "ZZZ>>>nobody>>>[[1.0, 2.0]]": "1 - 2"}))
    res = CliRunner().invoke(cli, ["eval", "score", str(p), "--split", str(d), "--compat", "timelens",
                                                   "--json", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    assert "1 entries match no query" in res.stderr and "1 carry a span that differs" in res.stderr
    out = json.loads(res.stdout)
    assert out["counts"]["scored"] == 2 and out["metrics"]["R1@0.7"] == 100.0  # each on its key's span


# ---- Time-R1 lines from a run that skipped videos --------------------------------------------------------


def _time_r1_run(samples, missing, seed):
    """Time-R1's loader on a machine without the ``missing`` videos: items numbered after the skip."""
    import random

    rng = random.Random(seed)
    lines, truth, counter = [], [], 0
    for s in sorted(samples, key=lambda x: int(x.source_id.rsplit("_", 1)[1])):
        if s.video in missing:
            continue
        stem = s.source_id.rsplit("_", 1)[0]
        pred = [max(0.0, s.span[0] + rng.gauss(0, 3)), s.span[1] + rng.gauss(0, 3)]
        line = {"pred": pred, "target": list(s.span), "duration": s.duration, "output_text": "x"}
        lines.append({"qid": f"{stem}_{counter}", **line})
        truth.append({"qid": s.qid, **line})
        counter += 1
    return lines, truth


def _write(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


@pytest.mark.parametrize("mode", ["timer1", "canonical"])
def test_shifted_time_r1_ids_are_put_back_from_targets_or_the_videos_list(tvgbench_split, tmp_path, mode):
    import random

    from tvgbench.core.splits import load_split

    samples = load_split(tvgbench_split, "test").samples
    videos = sorted({s.video for s in samples})
    missing = set(random.Random(0).sample(videos, 12))
    lines, truth = _time_r1_run(samples, missing, seed=1)
    by_alias = {s.source_id: s for s in samples}
    wrong = sum(x["qid"] not in by_alias or by_alias[x["qid"]].span != tuple(x["target"]) for x in lines)
    assert wrong > 100  # read naively, most lines would be scored against another query
    shifted, right = _write(tmp_path / "shifted.jsonl", lines), _write(tmp_path / "right.jsonl", truth)
    want = score(right, tvgbench_split, mode=mode, bootstrap=0)
    got = score(shifted, tvgbench_split, mode=mode, bootstrap=0)
    assert got["metrics"] == want["metrics"] and got["breakdowns"] == want["breakdowns"]
    assert got["timer1_ids"]["realigned_by"] == "targets" and got["timer1_ids"]["matched"] == len(lines)
    had = tmp_path / "videos.txt"
    had.write_text("\n".join(f"/data/tvgbench/{v}" for v in videos if v not in missing))
    listed = score(shifted, tvgbench_split, mode=mode, bootstrap=0, timer1_videos=had)
    assert listed["metrics"] == want["metrics"] and listed["timer1_ids"]["realigned_by"] == "videos list"
    # a file without skips is left alone
    full, _ = _time_r1_run(samples, set(), seed=1)
    assert "timer1_ids" not in score(_write(tmp_path / "full.jsonl", full), tvgbench_split, mode=mode, bootstrap=0)


def test_shifted_ids_that_fit_no_query_are_an_error(tvgbench_split, tmp_path):
    from tvgbench.core.splits import load_split

    samples = load_split(tvgbench_split, "test").samples
    lines, _ = _time_r1_run(samples, {samples[0].video}, seed=2)
    lines[-1]["target"] = [9999.0, 10000.0]
    with pytest.raises(Timer1Error, match="--timer1-videos"):
        score(_write(tmp_path / "bad.jsonl", lines), tvgbench_split, mode="timer1", bootstrap=0)


def test_the_leaderboard_reads_a_result_dict_as_the_lines_it_means(split, tmp_path):
    from leaderboard.service import submit
    from leaderboard.store import open_store
    from leaderboard.validate import SplitIndex, SubmissionRejected, validate_bytes

    d, samples = split
    idx = SplitIndex.from_dir(d)
    result = {f"{s.video}>>>{s.query}>>>[[{s.span[0]}, {s.span[1]}]]": f"The event happens in {s.span[0]} - {s.span[1]} seconds."
              for s in samples}
    data = json.dumps(result).encode()
    valid = validate_bytes(data, idx, split_dir=d)
    lines = [json.loads(x) for x in valid.data.decode().splitlines()]
    assert [x["qid"] for x in lines] == [s.qid for s in samples] and all("target" not in x for x in lines)
    assert valid.matched == len(samples) and valid.missing == 0
    store = open_store(tmp_path / "lb.sqlite3")
    out = submit(store, data, d, model_name="peer", split=idx, bootstrap=0)
    assert out.created
    with pytest.raises(SubmissionRejected, match="cannot read the split"):
        validate_bytes(data, idx)
    bad = dict(result)
    bad["ZZZ>>>nobody>>>[[1, 2]]"] = "1 - 2"
    with pytest.raises(SubmissionRejected, match="1 of 5 entries of this result-dict file match no query"):
        validate_bytes(json.dumps(bad).encode(), idx, split_dir=d)
    moved = {k.replace(f"[[{samples[0].span[0]}", "[[20.0"): v for k, v in result.items()}
    with pytest.raises(SubmissionRejected, match="carry a span that differs"):
        validate_bytes(json.dumps(moved).encode(), idx, split_dir=d)


def test_cli_notes_shifted_ids_and_takes_the_videos_list(tvgbench_split, tmp_path):
    import random

    from tvgbench.core.splits import load_split

    samples = load_split(tvgbench_split, "test").samples
    videos = sorted({s.video for s in samples})
    missing = set(random.Random(3).sample(videos, 5))
    lines, truth = _time_r1_run(samples, missing, seed=3)
    shifted = _write(tmp_path / "shifted.jsonl", lines)
    had = tmp_path / "had.txt"
    had.write_text("\n".join(v for v in videos if v not in missing))
    want = score(_write(tmp_path / "right.jsonl", truth), tvgbench_split, mode="timer1", bootstrap=0)["metrics"]
    for extra in ([], ["--timer1-videos", str(had)]):
        res = CliRunner().invoke(cli, ["eval", "score", str(shifted), "--split", str(tvgbench_split), "--compat",
                                       "timer1", "--json", "--bootstrap", "0", *extra])
        assert res.exit_code == 0, res.output
        assert "Time-R1 ids were shifted" in res.stderr
        assert json.loads(res.stdout)["metrics"] == want
