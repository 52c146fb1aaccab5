"""timer1 eval convert: a run in each peer's format, read back by eval score to the run's scores."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.core.errors import Timer1Error
from tvgbench.core.schema import Sample
from tvgbench.core.scoring import score
from tvgbench.core.splits import write_split
from tvgbench.harness.convert import convert_run

TEXTS = ["The event happens in 1.0 - 6.0 seconds.", "<answer>2.5 to 7.5</answer>", "From 00:03 to 00:08.",
         "It starts at 4 and ends at 9.", "no idea", "between 5.5 and 10.0", "[6, 12]", "7.0 - 3.0 and 1 - 2"]


@pytest.fixture()
def run(tmp_path):
    from tvgbench.core.parsing import parse_answer

    samples = [Sample(video=f"vid{k % 3}.mp4", query=f"the person does thing {k}.", span=(1.0 + k, 6.0 + k),
                      duration=40.0, source="charades", source_id=f"Charades_sta_test_{k}") for k in range(9)]
    split = tmp_path / "split"
    write_split(samples, split, "test")
    d = tmp_path / "run"
    d.mkdir()
    lines = []
    for s, t in zip(samples, TEXTS):  # the last query has no line (missing)
        p = parse_answer(t, duration=s.duration)
        lines.append({"qid": s.qid, "text": t, "pred": list(p.span) if p.ok else None, "error": None})
    (d / "predictions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (d / "run.json").write_text(json.dumps({"settings": {"split": str(split)}}))
    return d, split, samples


@pytest.mark.parametrize("to,mode", [("timelens", "timelens"), ("lmms-eval", "lmms-eval")])
def test_converted_files_score_as_the_run_does_in_that_convention(run, tmp_path, to, mode):
    d, split, samples = run
    out = tmp_path / f"out.{to}"
    done = convert_run(d, to, out)
    assert done == {"queries": 9, "with_prediction": 8, "format": to}
    got = score(out, split, mode=mode, bootstrap=0)
    want = score(d / "predictions.jsonl", split, mode=mode, bootstrap=0)
    # every query is an entry of the peer's file; the unanswered one counts 0 there, and is absent from the run
    assert got["counts"]["scored"] == 9 and want["counts"]["scored"] == 8
    for m in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU"):
        assert got["metrics"][m] == pytest.approx(want["metrics"][m] * 8 / 9, abs=1e-3)
    assert got["peer_file"]["matched"] == 9 and got["peer_file"]["span_disagreements"] == 0


def test_time_r1_lines_carry_its_own_parser_and_score_as_its_text_would(run, tmp_path):
    from tvgbench.core.parsing import parse_answer

    d, split, samples = run
    convert_run(d, "timer1", tmp_path / "t1.jsonl")
    t1 = [json.loads(x) for x in (tmp_path / "t1.jsonl").read_text().splitlines()]
    for row, text in zip(t1, TEXTS):
        p = parse_answer(text, "timer1-eval")
        assert row["pred"] == (list(p.span) if p.ok else [None, None]) and row["output_text"] == text
    assert t1[8]["pred"] == [None, None] and t1[8]["target"] == list(samples[8].span)
    texts_only = tmp_path / "texts.jsonl"
    texts_only.write_text("".join(json.dumps({"qid": s.qid, "text": t}) + "\n" for s, t in zip(samples, TEXTS)))
    got, want = (score(p, split, mode="timer1", bootstrap=0) for p in (tmp_path / "t1.jsonl", texts_only))
    assert got["metrics"]["R1@0.5"] == pytest.approx(want["metrics"]["R1@0.5"] * 8 / 9, abs=1e-3)


def test_moment_detr_rows_and_time_r1_ids(run, tmp_path):
    d, _, samples = run
    convert_run(d, "moment-detr", tmp_path / "md.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "md.jsonl").read_text().splitlines()]
    assert [r["vid"] for r in rows[:3]] == ["vid0", "vid1", "vid2"]
    assert rows[0]["pred_relevant_windows"] == [[1.0, 6.0, 1.0]] and rows[4]["pred_relevant_windows"] == []
    convert_run(d, "timer1", tmp_path / "t1.jsonl")
    t1 = [json.loads(x) for x in (tmp_path / "t1.jsonl").read_text().splitlines()]
    assert t1[0]["qid"] == "Charades_sta_test_0" and t1[4]["pred"] == [None, None]
    assert t1[7]["pred"] == [3.0, 1.0]  # Time-R1's eval parser: the last "a to|and b", as written
    with pytest.raises(Timer1Error, match="exists"):
        convert_run(d, "timer1", tmp_path / "t1.jsonl")


def test_cli(run, tmp_path):
    d, split, _ = run
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["eval", "convert", str(d), "--to", "timelens", "-o", str(out)])
    assert res.exit_code == 0 and "9 queries (8 with a prediction)" in res.output
    assert all(">>>" in k for k in json.loads(out.read_text()))
