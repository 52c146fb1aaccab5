"""Charades-CD / ActivityNet-CD, TimeLens-Bench and Ego4D-NLQ ingestion, --format auto, and the reasons
printed when records are rejected. Fixtures (tests/fixtures/ingest/) are small hand-written files in
each release's public layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tvgbench.cli.data import INGEST_FORMATS
from tvgbench.cli.main import cli
from tvgbench.core.errors import Timer1Error
from tvgbench.core.splits import load_split, read_sidecar
from tvgbench.data.sources import FORMATS, ingest, resolve_format

FIX = Path(__file__).parent / "fixtures" / "ingest"
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_choices_are_the_registered_formats_plus_auto():
    assert INGEST_FORMATS == (*FORMATS, "auto")


def test_charades_cd_reads_video_duration_and_names_its_split():
    res = ingest("charades-cd", FIX / "charades_test_ood.json")
    assert res.default_split == "test_ood" and res.source_name == "charades"
    by_query = {s.query: s for s in res.samples}
    s = by_query["person sitting down in a chair."]
    assert (s.video, s.span, s.duration, s.window) == ("OHOFG.mp4", (1.0, 7.5), 35.04, None)
    assert by_query["person turn a light on."].duration == 30.96
    assert dict(res.report.rejected) == {"start_after_end": 1}  # ZBUAT's reversed span, named
    assert res.extra["pretty_name"] == "Charades-CD"


def test_activitynet_cd_keeps_duration_and_is_activitynet():
    res = ingest("charades-cd", FIX / "anet_test_iid.json")
    assert res.default_split == "test_iid" and res.source_name == "activitynet"
    assert {s.source for s in res.samples} == {"activitynet"} and len(res.samples) == 3
    assert {s.duration for s in res.samples} == {126.6, 61.32}
    assert res.extra["pretty_name"] == "ActivityNet-CD"


def test_charades_cd_file_as_charades_sta_says_why_and_which_format(tmp_path):
    r = run("data", "ingest", "--format", "charades-sta", FIX / "charades_test_ood.json", "-o", tmp_path / "o")
    assert r.exit_code != 0 and "Traceback" not in r.output
    line = r.output.strip()
    assert line.count("\n") == 0 and line.startswith("error: no valid records")
    assert "4 rejected: missing_duration 4" in line and "'video_duration'" in line
    assert line.endswith("the file looks like --format charades-cd")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name, subset, pretty, n", [
    ("charades-timelens.json", "charades-timelens", "Charades-TimeLens", 3),
    ("activitynet-timelens.json", "activitynet-timelens", "ActivityNet-TimeLens", 2),
    ("qvhighlights-timelens.json", "qvhighlights-timelens", "QVHighlights-TimeLens", 3),
])
def test_timelens_subsets(name, subset, pretty, n):
    res = ingest("timelens", FIX / name)
    assert len(res.samples) == n and {s.source for s in res.samples} == {subset}
    assert res.extra == {"pretty_name": pretty, "convention": "timelens"}
    raw = json.loads((FIX / name).read_text())
    for s in res.samples:
        vid, j = s.source_id.rsplit("_", 1)
        assert s.video == f"{vid}.mp4" and s.duration == raw[vid]["duration"]
        assert s.query == raw[vid]["queries"][int(j)].strip()


def test_timelens_multi_window_query_keeps_every_window(tmp_path):
    res = ingest("timelens", FIX / "qvhighlights-timelens.json")
    cook = next(s for s in res.samples if s.query.startswith("A woman cooks"))
    assert cook.span == (20.0, 34.0) and cook.windows == [(20.0, 34.0), (80.0, 96.0)]
    assert all(s.windows is None for s in res.samples if s is not cook)  # single-window queries: as before
    assert res.report.notes == ["1 queries have several true windows (kept in 'windows'; 'span' is the first)"]
    r = run("data", "ingest", "--format", "timelens", FIX / "qvhighlights-timelens.json", "-o", tmp_path / "q")
    assert r.exit_code == 0, r.output
    back = next(s for s in load_split(tmp_path / "q").samples if s.query.startswith("A woman cooks"))
    assert back.windows == [(20.0, 34.0), (80.0, 96.0)]


def test_timelens_bad_further_window_rejects_its_query(tmp_path):
    raw = {"v1": {"duration": 30.0, "spans": [[[1.0, 2.0], [9.0, 4.0]], [3.0, 5.0]], "queries": ["bad", "good"]}}
    p = tmp_path / "qvhighlights-timelens.json"
    p.write_text(json.dumps(raw))
    res = ingest("timelens", p)
    assert [s.query for s in res.samples] == ["good"] and dict(res.report.rejected) == {"start_after_end": 1}


def test_ego4d_nlq_clip_is_the_window_and_spans_are_clip_relative():
    res = ingest("ego4d-nlq", FIX / "nlq_val.json")
    assert res.default_split == "val" and res.window_mode == "crop"
    eggs = next(s for s in res.samples if s.query == "where was eggs?")
    assert eggs.video == "bbd99850-bcb0-460e-8a40-056f1e618f88.mp4" and eggs.source == "egonlq"
    assert eggs.window == (0.93, 480.93) and eggs.duration == pytest.approx(480.0) and eggs.span == (0.81, 12.09)
    assert eggs.meta["clip_uid"] == "93231c7e-1cf4-4a20-b1f8-9cc9428915b2" and eggs.meta["query_idx"] == 0
    assert eggs.meta["template"] == "Objects: Where is object X?"
    pick = next(s for s in res.samples if s.query.startswith("What did I pick"))
    # the query's video times are the window start plus its clip times
    assert pick.window[0] + pick.span[0] == pytest.approx(178.62)
    assert dict(res.report.rejected) == {"empty_query": 1, "end_past_duration": 1}


def test_ego4d_unannotated_queries_are_rejected_with_a_reason(tmp_path):
    raw = json.loads((FIX / "nlq_val.json").read_text())
    for clip in raw["videos"][0]["clips"]:
        for ann in clip["annotations"]:
            for q in ann["language_queries"]:
                q.pop("clip_start_sec"), q.pop("clip_end_sec")
    p = tmp_path / "nlq_test_unannotated.json"
    p.write_text(json.dumps(raw))
    r = run("data", "ingest", "--format", "ego4d-nlq", p, "-o", tmp_path / "o")
    assert r.exit_code != 0
    assert "5 rejected: malformed_record 5; e.g." in r.output and "unannotated" in r.output


@pytest.mark.parametrize("name, fmt", [
    ("charades_test_ood.json", "charades-cd"), ("anet_test_iid.json", "charades-cd"),
    ("charades-timelens.json", "timelens"), ("qvhighlights-timelens.json", "timelens"),
    ("nlq_val.json", "ego4d-nlq"),
])
def test_auto_detects_fixture_formats(name, fmt):
    assert resolve_format("auto", FIX / name) == fmt


@pytest.mark.parametrize("rel, fmt", [
    ("charades-sta/test.json", "charades-sta"), ("activitynet/val_2.json", "activitynet"),
    ("timer1/tvgbench.json", "timer1-tvgbench"), ("timer1/train_2k5.json", "timer1-timerft"),
    ("qvhighlights/highlight_val_release.jsonl", "qvhighlights"),
])
def test_auto_detects_the_real_releases(rel, fmt):
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"{path} is absent (real annotation files live in ../shared/data)")
    assert resolve_format("auto", path) == fmt


def test_auto_detects_charades_text_annotations(tmp_path):
    txt = tmp_path / "charades_sta_test.txt"
    txt.write_text("3MSZA 24.3 30.4##person turn a light on.\n")
    (tmp_path / "Charades_v1_test.csv").write_text("id,length\n3MSZA,30.96\n")
    assert resolve_format("auto", txt) == "charades-sta-txt"
    assert len(ingest("auto", txt).samples) == 1


def test_auto_in_the_cli_names_the_format_and_writes_the_same_split(tmp_path):
    r = run("data", "ingest", "--format", "auto", FIX / "nlq_val.json", "-o", tmp_path / "a")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "detected format: ego4d-nlq"
    assert sum("detected format" in line for line in r.output.splitlines()) == 1
    r2 = run("data", "ingest", "--format", "ego4d-nlq", FIX / "nlq_val.json", "-o", tmp_path / "b")
    assert r2.exit_code == 0 and "detected format" not in r2.output
    assert (tmp_path / "a/data/val-00000-of-00001.parquet").read_bytes() == \
        (tmp_path / "b/data/val-00000-of-00001.parquet").read_bytes()
    js = run("data", "ingest", "--format", "auto", FIX / "nlq_val.json", "-o", tmp_path / "c", "--json")
    assert json.loads(js.output)["format"] == "ego4d-nlq"


def test_auto_unknown_shape_is_one_error_line_listing_the_formats(tmp_path):
    p = tmp_path / "mystery.json"
    p.write_text(json.dumps({"a": {"start": 1, "end": 2}}))
    r = run("data", "ingest", "--format", "auto", p, "-o", tmp_path / "o")
    assert r.exit_code != 0 and r.output.count("\n") == 1 and r.output.startswith("error: cannot tell the format")
    assert all(f in r.output for f in FORMATS)
    with pytest.raises(Timer1Error, match="cannot tell the format"):
        ingest("auto", p)


def test_benchmark_name_and_convention_reach_the_sidecar_and_card(tmp_path):
    r = run("data", "ingest", "--format", "timelens", FIX / "charades-timelens.json", "-o", tmp_path / "t")
    assert r.exit_code == 0, r.output
    entry = read_sidecar(tmp_path / "t")["splits"]["test"]
    assert entry["pretty_name"] == "Charades-TimeLens" and entry["convention"] == "timelens"
    assert "pretty_name: Charades-TimeLens" in (tmp_path / "t/README.md").read_text()
    assert len(load_split(tmp_path / "t")) == 3


def test_many_rejections_print_the_top_reasons(tmp_path):
    raw = {f"V{i:04d}": {"video_duration": 20.0, "timestamps": [[5, 3]], "sentences": ["q"]} for i in range(3)}
    raw["V9999"] = {"video_duration": 20.0, "timestamps": [[1, 2]], "sentences": ["kept"]}
    p = tmp_path / "charades_test_iid.json"
    p.write_text(json.dumps(raw))
    r = run("data", "ingest", "--format", "charades-cd", p, "-o", tmp_path / "o")
    assert r.exit_code == 0, r.output
    assert "  most rejections: 3 rejected: start_after_end 3; e.g. V0000[0]: start 5.0 > end 3.0" in r.output


def test_data_build_names_the_new_layouts_without_a_format_suffix():
    from tvgbench.data.build import infer_format

    assert infer_format(FIX / "nlq_val.json", None) == "ego4d-nlq"
    assert infer_format(FIX / "charades_test_ood.json", "cd") == "charades-cd"
    assert infer_format(FIX / "qvhighlights-timelens.json", None) == "timelens"
    sta = DATA / "charades-sta" / "test.json"
    if sta.exists():  # the older layouts keep their name-based choice
        assert infer_format(sta, None) == "charades-sta"


def test_ego4d_clip_files_are_records_without_a_window(tmp_path):
    full = {s.source_id: s for s in ingest("ego4d-nlq", FIX / "nlq_val.json").samples}
    clips = {s.source_id: s for s in ingest("ego4d-nlq", FIX / "nlq_val.json", videos="clips").samples}
    assert full.keys() == clips.keys()
    for key, s in clips.items():
        assert s.window is None and s.video == f"{s.meta['clip_uid']}.mp4"
        assert (s.span, s.duration, s.query) == (full[key].span, full[key].duration, full[key].query)
    r = run("data", "ingest", "--format", "ego4d-nlq", "--ego4d-videos", "clips", FIX / "nlq_val.json",
            "-o", tmp_path / "c")
    assert r.exit_code == 0, r.output
    assert read_sidecar(tmp_path / "c")["splits"]["val"]["build"]["ego4d_videos"] == "clips"
    assert {s.window for s in load_split(tmp_path / "c").samples} == {None}
