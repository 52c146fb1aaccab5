"""timer1 eval compare: one file under every convention, and reasons that account for the differences."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.core.compare import compare
from tvgbench.core.schema import Sample
from tvgbench.core.scoring import score
from tvgbench.core.splits import write_split


def test_every_row_is_that_modes_score_and_parse_failures_are_counted(tmp_path):
    from conftest import shared_file
    from test_peer_compat import lmms_extract, raw_answers, timelens_extract

    from tvgbench.data.sources import ingest

    res = ingest("charades-sta", shared_file("charades-sta/test.json"))
    d = tmp_path / "charades"
    write_split(res.samples, d, "test", window_mode=res.window_mode, report=res.report.to_dict())
    samples = res.samples[:600]  # 600 of 3,720 queries answered: the denominators differ
    texts = raw_answers(samples, 5)
    p = tmp_path / "pred.jsonl"
    p.write_text("".join(json.dumps({"qid": s.qid, "text": t}) + "\n" for s, t in zip(samples, texts)))
    got = compare(p, d)
    assert list(got["modes"]) == ["canonical", "timer1", "timelens", "lmms-eval"]
    for mode, row in got["modes"].items():
        want = score(p, d, mode=mode, bootstrap=0)
        assert row["metrics"] == {m: want["metrics"][m] for m in row["metrics"]}
        assert row["units"] == (3720 if mode == "canonical" else 600)
    parsers = got["reasons"]["parsers"]
    assert parsers["timelens"]["no_span"] == sum(not timelens_extract(t) for t in texts)
    # lmms-eval's "no answer" (its [0, 0] fallback; a parsed 00:00:00 pair is an answer)
    def lmms_fails(t):
        if "boxed" in t or "[" in t:
            return re.search(r"(\d{1,2}):(\d{1,2}),\s*(\d{1,2}):(\d{1,2})\]", t) is None
        return len(lmms_extract(t)) != 1

    assert parsers["lmms-eval"]["no_span"] == sum(lmms_fails(t) for t in texts)
    assert parsers["timelens"]["differs_from_canonical"] > 0
    d_ = got["reasons"]["denominator"]
    assert d_ == {"split_queries": 3720, "missing": 3120, "unknown_qids": 0, "prediction_lines": 600}


def test_threshold_reason_accounts_for_the_gap_between_ge_and_gt(tmp_path):
    spans = [(0.0, 4.0), (2.0, 6.0), (0.0, 10.0), (1.0, 3.0)]
    samples = [Sample(video=f"v{k}.mp4", query=f"q{k}", span=s, duration=20.0, source="t") for k, s in enumerate(spans)]
    d = tmp_path / "split"
    write_split(samples, d, "test")
    preds = [[0.0, 8.0], [2.0, 10.0], [0.0, 3.0], [1.0, 3.0]]  # IoU 0.5, 0.5, 0.3, 1.0: exactly on thresholds
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps({"qid": s.qid, "pred": x}) + "\n" for s, x in zip(samples, preds)))
    got = compare(p, d)
    at = got["reasons"]["threshold"]
    assert at == {"IoU == 0.3": 1, "IoU == 0.5": 2, "IoU == 0.7": 0}
    for t, n in ((0.3, 1), (0.5, 2), (0.7, 0)):
        gap = got["modes"]["canonical"]["metrics"][f"R1@{t}"] - got["modes"]["timer1"]["metrics"][f"R1@{t}"]
        assert gap == pytest.approx(n * 100 / len(samples))


def test_duplicates_refuse_canonical_only_and_the_cli_prints_json(tmp_path):
    samples = [Sample(video="v.mp4", query=f"q{k}", span=(1.0, 5.0), duration=20.0, source="t") for k in range(2)]
    d = tmp_path / "split"
    write_split(samples, d, "test")
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps({"qid": samples[0].qid, "text": t}) + "\n" for t in ("1 to 5", "9 to 12")))
    res = CliRunner().invoke(cli, ["eval", "compare", str(p), "--split", str(d), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert "more than once" in out["modes"]["canonical"]["error"]
    assert out["modes"]["timer1"]["metrics"]["R1@0.3"] == 0.0  # the last duplicate wins there
    table = CliRunner().invoke(cli, ["eval", "compare", str(p), "--split", str(d)])
    assert table.exit_code == 0 and "refused" in table.output and "threshold:" in table.output


def test_a_multi_window_split_adds_moment_detr(tmp_path):
    from conftest import shared_file

    from tvgbench.data.sources import ingest

    res = ingest("qvhighlights", shared_file("qvhighlights/highlight_val_release.jsonl"))
    d = tmp_path / "qvh"
    write_split(res.samples, d, "val", window_mode=res.window_mode, report=res.report.to_dict())
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps({"qid": s.qid, "pred": [s.span[0], s.span[1] + 4.0]}) + "\n" for s in res.samples))
    got = compare(p, d)
    assert list(got["modes"]) == ["canonical", "timer1", "timelens", "lmms-eval", "moment-detr"]
    want = score(p, d, mode="moment-detr", bootstrap=0)["metrics"]
    row = got["modes"]["moment-detr"]["metrics"]
    assert row and row == {m: want[m] for m in row}
