"""QVHighlights (moment_detr JSONL): multi-window ground truth and saliency in the one schema."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from conftest import shared_file

from tvgbench.core.errors import Timer1Error
from tvgbench.core.schema import OPTIONAL_COLUMNS, Sample, arrow_schema, features, features_dict
from tvgbench.core.splits import load_split, read_sidecar, write_split
from tvgbench.data.sources import ingest

VAL = "qvhighlights/highlight_val_release.jsonl"


def _raw(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_val_ingests_every_query_and_window_with_saliency():
    path = shared_file(VAL)
    res = ingest("qvhighlights", path)
    raw = _raw(path)
    assert len(res.samples) == 1550 and res.report.to_dict()["rejected"] == 0
    assert sum(len(s.windows) for s in res.samples) == 2803
    assert res.default_split == "val" and res.window_mode == "pretrimmed"
    by_qid = {r["qid"]: r for r in raw}
    for s in res.samples:
        r = by_qid[int(s.source_id)]
        assert [list(w) for w in s.windows] == [[float(a), float(b)] for a, b in r["relevant_windows"]]
        assert s.span == s.windows[0] and s.duration == r["duration"] and s.query == r["query"].strip()
        assert s.video == r["vid"] + ".mp4"
        assert s.saliency["clip_ids"] == r["relevant_clip_ids"] and s.saliency["scores"] == r["saliency_scores"]
        start, end = r["vid"].rsplit("_", 2)[1:]
        assert s.window == (float(start), float(end))
    assert len({s.qid for s in res.samples}) == 1550


def test_multi_window_split_round_trips_and_datasets_reads_it(tmp_path):
    import datasets

    res = ingest("qvhighlights", shared_file(VAL))
    write_split(res.samples, tmp_path / "qv", "val", window_mode=res.window_mode)
    back = load_split(tmp_path / "qv")
    assert back.samples == res.samples
    assert read_sidecar(tmp_path / "qv")["splits"]["val"]["optional_columns"] == ["saliency", "windows"]
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "qv" / "data" / "val-*.parquet"))["train"]
    assert ds.features == features(optional=True) and len(ds) == 1550
    assert ds[0]["windows"] == [list(w) for w in res.samples[0].windows]


def test_single_window_splits_write_no_optional_column(tmp_path):
    s = Sample(video="v.mp4", query="a person sits", span=(1.0, 2.5), duration=10.0, source="x")
    assert not set(OPTIONAL_COLUMNS) & set(s.to_row())
    write_split([s], tmp_path / "one", "test")
    f = pq.read_schema(tmp_path / "one" / "data" / "test-00000-of-00001.parquet")
    assert f.remove_metadata().equals(arrow_schema()) and not set(OPTIONAL_COLUMNS) & set(f.names)
    assert json.loads(f.metadata[b"huggingface"])["info"]["features"] == features_dict()
    assert "optional_columns" not in read_sidecar(tmp_path / "one")["splits"]["test"]
    # the optional columns come after the base ones, so the base schema is a prefix of the full one
    assert arrow_schema(True).names[: len(arrow_schema().names)] == arrow_schema().names


@pytest.mark.parametrize("record, reason", [
    ({"relevant_windows": []}, "malformed_record"),
    ({"relevant_windows": [[5, 2]]}, "start_after_end"),
    ({"relevant_windows": [[0, 2], [10, 400]]}, "end_past_duration"),
    ({"relevant_clip_ids": [1], "saliency_scores": [[1, 2]]}, "malformed_record"),
    ({"saliency_scores": [[1, 2, 9]]}, "malformed_record"),
    ({"relevant_clip_ids": [75]}, "malformed_record"),  # 150 s: clips 0-74
])
def test_bad_records_are_rejected_with_a_reason(tmp_path, record, reason):
    good = {"qid": 7, "query": "a dog runs", "duration": 150, "vid": "abc_0.0_150.0",
            "relevant_windows": [[2, 6]], "relevant_clip_ids": [1], "saliency_scores": [[1, 2, 3]]}
    p = tmp_path / "highlight_val_release.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps({**good, "qid": 8, **record}) + "\n")
    res = ingest("qvhighlights", p)
    assert len(res.samples) == 1 and res.report.to_dict()["rejections"] == {reason: 1}


def test_a_file_that_is_not_jsonl_is_one_error(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"qid": 1,\n')
    with pytest.raises(Timer1Error, match="line 1 is not valid JSON"):
        ingest("qvhighlights", p)
