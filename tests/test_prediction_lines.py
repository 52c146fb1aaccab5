"""One meaning per prediction line: the pyarrow fast path and the line-by-line path read every file alike.

The fast path may refuse a file (it then goes to the line-by-line path); when it accepts one, its columns
and the scores computed from them must be those of the line-by-line path. And no input may kill the process.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tvgbench.core import predictions as P
from tvgbench.core.errors import Timer1Error
from tvgbench.core.schema import Sample
from tvgbench.core.scoring import score
from tvgbench.core.splits import write_split

SPANS = [(0.0, 10.0), (10.0, 20.0), (5.0, 30.0)]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    samples = [Sample(video=f"v{i}.mp4", query=f"q{i}", span=s, duration=40.0, source="t", qtype="Human Pose",
                      source_id=f"TimeR1_{i}") for i, s in enumerate(SPANS)]
    d = tmp_path_factory.mktemp("lines_split")
    write_split(samples, d, "test")
    return d, [s.qid for s in samples]


def _fast(data: bytes):
    """The fast path's columns, or None where it refuses the file."""
    n = P._one_object_per_line(data)
    if n is None:
        return None
    try:
        return P._fast_read(data, n)
    except Exception:
        return None


def _slow(data: bytes):
    try:
        return P._slow_read(data, "p.jsonl")
    except Timer1Error as e:
        return str(e)


def _plain(cols: P.PredictionColumns) -> dict:
    """Columns as comparable Python values (NaN as None)."""
    def floats(a):
        return None if a is None else [None if math.isnan(x) else x for x in np.asarray(a).tolist()]

    def strings(a):
        return None if a is None else (a.to_pylist() if isinstance(a, (pa.Array, pa.ChunkedArray)) else list(a))

    return {"qid": strings(cols.qid), "start": floats(cols.start), "end": floats(cols.end),
            "has_pred": cols.has_pred_key.tolist(), "text": strings(cols.text),
            "target": None if cols.target_start is None else [floats(cols.target_start), floats(cols.target_end)],
            "windows": None if cols.windows is None else [
                None if w is None else [tuple(None if math.isnan(v) else v for v in x) for x in w] for w in cols.windows]}


def _scores(cols, split_dir) -> dict:
    out = {}
    for mode in ("canonical", "timer1"):
        try:
            r = score("p.jsonl", split_dir, mode=mode, bootstrap=0, predictions=cols)
            out[mode] = {k: r[k] for k in ("counts", "metrics", "breakdowns")}
        except Timer1Error as e:
            out[mode] = str(e)
    return out


# ---- generated files -------------------------------------------------------------------------------

def rarely(common, rare, one_in: int = 40):
    """``common``, and ``rare`` about once in ``one_in`` draws (most lines valid, a few not)."""
    return st.integers(1, one_in).flatmap(lambda k: rare if k == 1 else common)


NUMBER = st.one_of(st.sampled_from([0, 1, 5, 12.5, 19.99, 30, -2.0, 1e20]),
                   st.floats(-5, 50, allow_nan=False).map(lambda x: round(x, 2)))
RAW_NUMBER = rarely(NUMBER.map(json.dumps), st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "1E1",
                                                             "123456789012345678901234567890", "-0"]), 60)
SPAN_SIDE = rarely(RAW_NUMBER, st.just("null"), 6)
ANSWER = st.sampled_from(["<answer>1.5 to 9</answer>", "<think>0 to 1</think><answer>12 and 25</answer>",
                          "The event happens 3 - 8 seconds.", "no idea", "", "<answer>30 to 10</answer>",
                          "11.0 to 19.0", "⏱ 2:00 to 2:30"])


def _list(items):
    return "[" + ", ".join(items) + "]"


SPAN = st.lists(SPAN_SIDE, min_size=2, max_size=2).map(_list)
VALUES = {
    "pred": rarely(st.one_of(st.just("null"), SPAN),
                   st.sampled_from(["[]", "[1, 2, 3]", '"1 to 2"', "[true, 1]", '["1", 2]', "{}"])),
    "text": rarely(st.one_of(st.just("null"), ANSWER.map(json.dumps)), st.sampled_from(["5", "true", "[1]"])),
    "output_text": rarely(st.one_of(st.just("null"), ANSWER.map(json.dumps)), st.just("7")),
    "target": rarely(st.one_of(st.just("null"), SPAN), st.sampled_from(["[1]", '"x"', "[1, 2, 3]", "[true, 2]"]), 8),
    "windows": rarely(st.one_of(st.just("null"), st.just("[]"),
                                st.lists(st.lists(RAW_NUMBER, min_size=2, max_size=3).map(_list), max_size=3).map(_list)),
                      st.sampled_from(["[[1]]", "[[1, null]]", "[null]", "[[1, 2, 3, 4]]", '"w"'])),
    "duration": RAW_NUMBER,
    "extra": st.sampled_from(['{"a": [1, {"b": null}]}', '"x"', "null"]),
}


@st.composite
def line(draw, qids):
    if draw(st.integers(0, 80)) == 0:
        return draw(st.sampled_from(["null", "[1]", "5", '"x"', "", "   ", "{}", "true", '{"qid": "a"} {"qid": "b"}']))
    qid = draw(rarely(st.sampled_from(qids + ["TimeR1_1", "unknown-q"]).map(json.dumps),
                      st.sampled_from(["7", '""', "null", "true", "3.5"]), 60))
    items = [("qid", qid)] + [(k, draw(v)) for k, v in VALUES.items() if draw(st.integers(0, 2)) == 0]
    if draw(st.integers(0, 30)) == 0:  # a repeated key: the last one counts
        k = draw(st.sampled_from([k for k, _ in items]))
        items.append((k, draw(VALUES[k]) if k in VALUES else json.dumps(draw(st.sampled_from(qids)))))
    items = draw(st.permutations(items))
    if draw(st.integers(0, 8)) == 0:  # a long line (longer than the fast path's block below)
        items = list(items) + [("pad", json.dumps("x" * draw(st.integers(100, 400))))]
    sep = draw(st.sampled_from([", ", ","]))
    return draw(rarely(st.just(""), st.just(" "), 20)) + "{" + sep.join(f'"{k}": {v}' for k, v in items) + "}"


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fast_and_line_paths_mean_the_same(split, data, monkeypatch_block):
    split_dir, qids = split
    lines = data.draw(st.lists(line(qids), min_size=1, max_size=8))
    newline = data.draw(st.sampled_from(["\n", "\r\n"]))
    blob = (newline.join(lines) + data.draw(st.sampled_from(["", newline, newline * 2]))).encode()
    fast, slow = _fast(blob), _slow(blob)
    if fast is None:
        return  # refused: the line-by-line path reads it (read_predictions below)
    assert not isinstance(slow, str), f"the fast path read a file the line path refuses ({slow}): {blob!r}"
    assert _plain(fast) == _plain(slow), blob
    assert _scores(fast, split_dir) == _scores(slow, split_dir), blob


@pytest.fixture
def monkeypatch_block(monkeypatch):
    monkeypatch.setattr(P, "_BLOCK", 256)  # lines longer than a block go to the line path, as 16 MiB ones do


# ---- the known disagreements, one by one --------------------------------------------------------------

@pytest.mark.parametrize("lines,want", [
    # text null: the output_text counts (a null is an absent key), on both paths
    ([{"text": None, "output_text": "<answer>13.4 to 28.1</answer>"}], {"text": ["<answer>13.4 to 28.1</answer>"]}),
    # "pred": null is no pred, so compat mode parses the text
    ([{"pred": None, "text": "<answer>1 to 2</answer>"}], {"has_pred": [False]}),
    ([{"pred": [None, None], "text": "x"}], {"has_pred": [True], "text": ["x"]}),
    # a text next to a finite pred is never read (nor checked)
    ([{"pred": [1, 2], "text": "ignored"}, {"pred": [1, None], "text": "read"}], {"text": [None, "read"]}),
])
def test_field_rules(split, tmp_path, lines, want):
    _, qids = split
    blob = "".join(json.dumps({"qid": qids[i], **o}) + "\n" for i, o in enumerate(lines)).encode()
    fast, slow = _fast(blob), _slow(blob)
    assert fast is not None
    for cols in (fast, slow):
        got = _plain(cols)
        assert {k: got[k] for k in want} == want


def test_repeated_keys_last_wins(split, tmp_path):
    _, qids = split
    p = tmp_path / "p.jsonl"
    p.write_text(f'{{"qid": "{qids[0]}", "pred": [1, 2], "pred": [3, 4]}}\n{{"qid": "{qids[1]}", "pred": [5, 6]}}\n')
    assert _fast(p.read_bytes()) is None  # pyarrow refuses repeated keys: the line path reads them
    assert P.read_predictions(p).start.tolist() == [3.0, 5.0]


def test_a_line_over_the_block_reads_the_same(split, tmp_path):
    _, qids = split
    p = tmp_path / "p.jsonl"
    long_text = "x" * (17 << 20) + " <answer>1 to 9</answer>"
    p.write_text(json.dumps({"qid": qids[0], "text": long_text}) + "\n" + json.dumps({"qid": qids[1], "pred": [10, 20]}) + "\n")
    cols = P.read_predictions(p)
    assert _plain(cols)["text"] == [long_text, None] and cols.start.tolist()[1] == 10.0
    assert _plain(cols) == _plain(P._slow_read(p.read_bytes(), p.name))


# ---- no input may kill the process; streams are read to their end ---------------------------------------

def _cli(args, **kw):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "tvgbench.cli.main", *args], capture_output=True, text=True, env=env,
                          timeout=120, **kw)


HOSTILE = {
    "null": b"null\n",
    "null_no_newline": b"null",
    "space_null": b"  null\n",
    "blank_then_null": b"\n\nnull\n",
    "object_then_null": b'{"qid": "a", "pred": [1, 2]}\nnull\n',
    "list": b"[1, 2]\n",
    "two_objects_one_line": b'{"qid": "a"} {"qid": "b"}\n',
    "nan": b'{"qid": "a", "pred": [NaN, 1]}\n',
    "truncated": b'{"qid": "a", "pred": [1, 2]}\n{"qid": "b", "pr',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_end_in_one_error_line_never_a_signal(split, tmp_path, name):
    split_dir, _ = split
    p = tmp_path / "p.jsonl"
    p.write_bytes(HOSTILE[name])
    res = _cli(["eval", "score", str(p), "--split", str(split_dir)])
    assert res.returncode >= 0, f"killed by {signal.Signals(-res.returncode).name}"
    if name != "nan":  # NaN reads as Python's json reads it: no span, scored 0
        said = (res.stderr + res.stdout).strip()
        assert res.returncode != 0 and said.startswith("error:") and "\n" not in said, said


def test_null_line_at_a_block_start_is_not_read_by_pyarrow(split, tmp_path):
    # pyarrow crashes on a line `null` that starts one of its 16 MiB blocks, not only on the first line
    split_dir, qids = split
    pad = 63 - len(json.dumps({"qid": qids[0], "pred": [1, 2], "p": ""}))
    row = json.dumps({"qid": qids[0], "pred": [1, 2], "p": "x" * pad})  # 64 bytes with its newline
    p = tmp_path / "p.jsonl"
    p.write_bytes(((row + "\n") * ((16 << 20) // 64)).encode() + b"null\n")
    res = _cli(["eval", "score", str(p), "--split", str(split_dir), "--compat", "timer1", "--bootstrap", "0"])
    assert res.returncode >= 0, f"killed by {signal.Signals(-res.returncode).name}"
    assert "expected a JSON object" in res.stderr


def test_a_pipe_is_read_like_the_file(split, tmp_path):
    split_dir, qids = split
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps({"qid": q, "pred": [0, 12]}) + "\n" for q in qids))
    from_file = _cli(["eval", "score", str(p), "--split", str(split_dir), "--json", "--bootstrap", "0"])
    assert from_file.returncode == 0, from_file.stderr
    r, w = os.pipe()
    with os.fdopen(w, "wb") as f:
        f.write(p.read_bytes())
    try:
        from_pipe = _cli(["eval", "score", f"/dev/fd/{r}", "--split", str(split_dir), "--json", "--bootstrap", "0"],
                         pass_fds=(r,))
    finally:
        os.close(r)
    assert from_pipe.returncode == 0, from_pipe.stderr
    a, b = json.loads(from_file.stdout), json.loads(from_pipe.stdout)
    a.pop("predictions"), b.pop("predictions")
    assert a == b
