"""``timer1 data ingest`` on hostile files: every record a reason, or the file one ``error:`` line; never a crash."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.core.splits import load_split

DEEP = "[" * 100_000 + "]" * 100_000  # deeper than Python's JSON reader recurses
HUGE_INT = "9" * 5000  # past Python's int-from-text digit limit
# raw JSON texts spliced in place of one field's value
HOSTILE = {
    "deep": DEEP, "deep_900": "[" * 900 + "]" * 900, "huge_int": HUGE_INT, "huge_negative": "-" + HUGE_INT, "int_past_float": "1" + "0" * 400,
    "surrogate": '"a \\ud800 b"', "nul": '"a\\u0000b.mp4"', "bell": '"a\\u0007b.mp4"', "number": "5",
    "float": "1e400", "true": "true", "null": "null", "empty_list": "[]", "list": "[1, 2]", "nested": "[[1], {}]",
    "object": '{"a": 1}', "string": '"12-x"', "empty": '""',
}

TVGBENCH = {"path": "videos/a.mp4", "question": "a man opens the door", "answer": "1.5-4.0", "duration": 30.0,
            "dataset_name": "charades", "qsemtype": "Human Action (Simple)", "start": None, "end": None,
            "source": "charades_test.json", "bins": {"videolen": 1, "qcenter": 0, "qlen": 1}}
TIMERFT = {"video": "x/b.mp4", "sentence": "the dog jumps", "timestamp": [2.0, 5.0], "duration": 40.0,
           "qid": "my|cosmo|1", "difficulty": 50.0, "pred": [1.0, 4.0], "video_start": 0.0, "video_end": 40.0}
STA_ENTRY = {"duration": 20.0, "timestamps": [[1.0, 3.0]], "sentences": ["someone sits down"]}


def _with_field(record: dict, key: str, raw: str) -> str:
    """``[record]`` as JSON with ``key``'s value replaced by the raw JSON text ``raw``."""
    marker = "__HOSTILE__"
    return json.dumps([{**record, key: marker}]).replace(json.dumps(marker), raw)


def _files():
    for name, raw in HOSTILE.items():
        for key in TVGBENCH:
            yield "timer1-tvgbench", f"{key}={name}", _with_field(TVGBENCH, key, raw)
        for key in TIMERFT:
            yield "timer1-timerft", f"{key}={name}", _with_field(TIMERFT, key, raw)
        for key in STA_ENTRY:
            yield "charades-sta", f"{key}={name}", '{"vid1": ' + _with_field(STA_ENTRY, key, raw)[1:-1] + "}"
        yield "charades-sta", f"entry={name}", '{"vid1": ' + raw + "}"
        yield "timer1-tvgbench", f"file={name}", raw


def ingest(tmp_path, fmt, text):
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "src.json"
    src.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["data", "ingest", "--format", fmt, str(src), "-o", str(out), "--json"])
    return r, out


def test_no_hostile_field_crashes_ingest(tmp_path):
    crashes = []
    for n, (fmt, case, text) in enumerate(_files()):
        r, out = ingest(tmp_path / str(n), fmt, text)
        fine = r.exit_code == 0 or (r.exit_code == 2 and r.output.startswith("error: ")
                                    and r.output.count("\n") == 1)
        if not fine:
            crashes.append(f"{fmt} {case}: exit {r.exit_code}: {r.output.strip()[:200]}")
        elif r.exit_code == 0:
            load_split(out)  # what was kept reads back
    assert not crashes, "\n".join(crashes[:20]) + f"\n({len(crashes)} in all)"


@pytest.mark.parametrize("key,raw,reason", [
    ("question", HOSTILE["surrogate"], "invalid_text"),
    ("path", HOSTILE["nul"], "bad_video_path"),
    ("path", HOSTILE["bell"], "bad_video_path"),
    ("duration", HOSTILE["huge_int"], "non_finite_time"),
    ("duration", HOSTILE["int_past_float"], "non_finite_time"),
])
def test_hostile_values_are_rejected_per_record_with_a_reason(tmp_path, key, raw, reason):
    good = json.dumps(TVGBENCH)
    text = "[" + good + ", " + _with_field(TVGBENCH, key, raw)[1:-1] + "]"
    r, out = ingest(tmp_path, "timer1-tvgbench", text)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["kept"] == 1 and summary["rejections"] == {reason: 1}, summary
    assert summary["examples"][reason][0].startswith("item 1: ")
    assert [s.video for s in load_split(out).samples] == ["a.mp4"]


def test_sta_timestamps_that_are_not_a_list_are_rejected(tmp_path):
    text = json.dumps({"v1": {**STA_ENTRY, "timestamps": 5}, "v2": STA_ENTRY})
    r, _ = ingest(tmp_path, "charades-sta", text)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["rejections"] == {"malformed_record": 1}


def test_a_file_nested_too_deep_is_one_error_line(tmp_path):
    r, out = ingest(tmp_path, "timer1-tvgbench", "[" + json.dumps(TVGBENCH) + ", " + DEEP + "]")
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("error: ") and "nested" in r.output and not out.exists()


def test_all_rejected_names_the_top_reasons(tmp_path):
    # a TimeRFT file given as TVGBench: every record malformed, and the error says so
    text = json.dumps([TIMERFT] * 3 + [{**TVGBENCH, "duration": -1}])
    r, _ = ingest(tmp_path, "timer1-tvgbench", text)
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "(4 rejected: malformed_record 3, non_positive_duration 1;" in r.output
    assert "item 0: not a TVGBench record); is --format timer1-tvgbench right?" in r.output
