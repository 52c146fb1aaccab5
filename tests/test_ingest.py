"""Ingestion of the official releases and the classic annotation formats into canonical splits."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from tvgbench.core.errors import Timer1Error
from tvgbench.core.schema import QTYPES, Sample, compute_bins, features, make_qid
from tvgbench.data.sources import ingest
from tvgbench.core.splits import load_split, read_sidecar, write_split
from tvgbench.core.validate import check_record


def test_tvgbench_release_ingests_to_800_records_with_11_types(tvgbench_json):
    res = ingest("timer1-tvgbench", tvgbench_json)
    assert len(res.samples) == 800
    types = Counter(s.qtype for s in res.samples)
    assert set(types) == set(QTYPES) and types["Human Action (Simple)"] == 306
    assert Counter(s.source for s in res.samples)["egonlq"] == 168
    assert sum(s.window is not None for s in res.samples) == 252
    report = res.report.to_dict()
    assert report["rejected"] == 0
    assert report["flags"]["zero_length_span"] == 11
    assert report["flags"]["end_past_duration"] == 27
    assert report["flags"]["query_whitespace_stripped"] == 135
    # recomputed bins match the release except for two ActivityNet items, which are listed
    diffs = res.extra["bin_differences"]
    assert [d["index"] for d in diffs] == [510, 515]
    raw = json.loads(tvgbench_json.read_text())
    for s in res.samples:
        i = int(s.source_id.rsplit("_", 1)[1])
        rel = {k: raw[i]["bins"][k] for k in ("videolen", "qcenter", "qlen")}
        assert (s.bins == rel) == (i not in (510, 515))


def test_qids_are_unique_content_hashes_independent_of_order(tvgbench_json, tmp_path):
    raw = json.loads(tvgbench_json.read_text())
    a = {s.source_id.rsplit("_", 1)[1]: s.qid for s in ingest("timer1-tvgbench", tvgbench_json).samples}
    assert len(set(a.values())) == 800
    shuffled = raw[:]
    random.Random(0).shuffle(shuffled)
    p = tmp_path / "shuffled.json"
    p.write_text(json.dumps(shuffled))
    b = {s.qid for s in ingest("timer1-tvgbench", p).samples}
    assert set(a.values()) == b  # same records, same ids, whatever the order (no renumbering)
    s = Sample(video="v.mp4", query="q", span=(1, 2), duration=10, source="x")
    assert s.qid == make_qid("x", "v.mp4", None, "q", (1.0, 2.0))


def test_split_roundtrip_and_hf_datasets_reads_it(tvgbench_json, tmp_path):
    import datasets

    res = ingest("timer1-tvgbench", tvgbench_json)
    write_split(res.samples, tmp_path / "s", "test", window_mode="crop")
    split = load_split(tmp_path / "s")
    assert len(split) == 800 and split.samples[0] == res.samples[0]
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "s/data/test-*.parquet"), split="train",
                               cache_dir=str(tmp_path / "cache"))
    assert ds.num_rows == 800 and ds.features == features()
    side = read_sidecar(tmp_path / "s")["splits"]["test"]
    assert side["content_hash"].startswith("sha256:") and side["n"] == 800
    # deterministic bytes
    write_split(res.samples, tmp_path / "s2", "test", window_mode="crop")
    assert (tmp_path / "s/data/test-00000-of-00001.parquet").read_bytes() == \
        (tmp_path / "s2/data/test-00000-of-00001.parquet").read_bytes()


def test_timerft_release(timerft_json):
    res = ingest("timer1-timerft", timerft_json)
    rep = res.report.to_dict()
    assert rep["kept"] + rep["rejected"] == 2500
    assert rep["rejections"] == {"end_past_duration": rep["rejected"]}  # only far-past-duration ends
    s = next(x for x in res.samples if x.source == "internvid-vtime" and x.window)
    assert s.meta["pretrimmed"] is True and s.difficulty is not None and s.pred is not None
    assert Counter(x.source for x in res.samples)["cosmo"] > 700


@pytest.mark.parametrize("fmt,rel,n", [("charades-sta", "charades-sta/test.json", 3720),
                                       ("activitynet", "activitynet/val_2.json", 17031)])
def test_sta_json(fmt, rel, n):
    from conftest import shared_file

    res = ingest(fmt, shared_file(rel))
    assert len(res.samples) + sum(res.report.rejected.values()) == n


def test_charades_sta_txt(tmp_path):
    (tmp_path / "charades_sta_test.txt").write_text(
        "AO8RW 0.0 6.9##a person is putting a book on a shelf.\n"
        "AO8RW 7.0 5.0##start after end.\n"
        "ZZZZZ 1.0 2.0##unknown video.\n"
        "bad line without separator\n"
        "Y6R7T 1.2 8.4##person opens a door\n")
    (tmp_path / "Charades_v1_test.csv").write_text("id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
                                                   "AO8RW,a,b,1,1,Yes,s,o,d,a,33.67\nY6R7T,a,b,1,1,Yes,s,o,d,a,30.0\n")
    res = ingest("charades-sta-txt", tmp_path / "charades_sta_test.txt")
    assert [s.query for s in res.samples] == ["a person is putting a book on a shelf.", "person opens a door"]
    assert res.samples[0].duration == 33.67
    assert dict(res.report.rejected) == {"start_after_end": 1, "unknown_duration": 1, "malformed_record": 1}


@pytest.mark.parametrize("fields,reason", [
    (dict(query="  "), "empty_query"),
    (dict(span=[float("nan"), 2]), "non_finite_time"),
    (dict(span=["a", 2]), "non_numeric_time"),
    (dict(span=[-1, 2]), "negative_time"),
    (dict(span=[5, 2]), "start_after_end"),
    (dict(span=[1, 40]), "end_past_duration"),
    (dict(duration=0), "non_positive_duration"),
    (dict(window=[10, 5]), "bad_window"),
])
def test_validation_reasons(fields, reason):
    base = dict(source="s", video="v.mp4", query="q", span=[1, 2], duration=30.0)
    v = check_record(**{**base, **fields})
    assert v.sample is None and v.reason == reason


def test_validation_flags_and_keeps():
    v = check_record(source="s", video="v.mp4", query=" q ", span=[3, 3], duration=30.0)
    assert v.sample is not None and set(v.sample.flags) == {"query_whitespace_stripped", "zero_length_span"}
    v = check_record(source="s", video="v.mp4", query="q", span=[1, 32], duration=30.0)
    assert v.sample.flags == ["end_past_duration"]


def test_bins():
    assert compute_bins((13.4, 28.1), 30.12) == {"videolen": 1, "qcenter": 6, "qlen": 7}


@pytest.mark.parametrize("content,needle", [("{not json", "not valid JSON"), ("{}", "JSON list")])
def test_bad_release_files(tmp_path, content, needle):
    p = tmp_path / "x.json"
    p.write_text(content)
    with pytest.raises(Timer1Error, match=needle):
        ingest("timer1-tvgbench", p)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(Timer1Error, match="unknown format"):
        ingest("nope", tmp_path / "x.json")
    with pytest.raises(Timer1Error, match="not found"):
        ingest("charades-sta", tmp_path / "missing.json")


@pytest.mark.parametrize("query", ["plain", "é中文😀 \u2028 tab\t\"q\"\\/", "ctl\x01\x7f", "lone \ud800 surrogate"])
def test_qid_payload_encoding_matches_the_standard_json_encoder(query):
    # qids must never change with the encoder used to hash them
    import hashlib

    payload = ["src", "v.mp4", None, query, ["1.0", "2.5"]]
    want = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    assert make_qid("src", "v.mp4", None, query, (1.0, 2.5)) == f"src-{hashlib.sha256(want).hexdigest()[:16]}"
