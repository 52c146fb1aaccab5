"""Leaderboard validation: the declared row schema, every rejection as one line, and a 10,000-case fuzz.

Also holds the tiny-split helper the other leaderboard test files import.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard.service import submit
from leaderboard.store import open_store
from leaderboard.validate import SplitIndex, SubmissionRejected, row_schema, validate_bytes
from tvgbench.core.schema import QTYPES, Sample
from tvgbench.core.splits import write_split

TINY_N = 12


def make_tiny_split(out: Path, n: int = TINY_N, split: str = "test") -> Path:
    """A small realistic split: 2 sources, several query types, videos shared by several queries."""
    samples = [
        Sample(video=f"vid{i % 5}.mp4", query=f"the person does thing {i}.", span=(2.0 * i, 2.0 * i + 6.5),
               duration=40.0 + 10 * (i % 3), source=("charades", "activitynet")[i % 2],
               qtype=list(QTYPES)[i % len(QTYPES)], source_id=f"TimeR1_test_{i}")
        for i in range(n)
    ]
    write_split(samples, out, split, window_mode="pretrimmed")
    return out


def rows_for(split: SplitIndex, k: int | None = None, shift: float = 0.0) -> list[dict]:
    """Predictions for the first ``k`` queries (all by default)."""
    return [{"qid": q, "pred": [2.0 * i + shift, 2.0 * i + 6.5 + shift]} for i, q in enumerate(split.qids[:k])]


def jsonl(rows) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n").encode()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = make_tiny_split(tmp_path_factory.mktemp("tiny_split"))
    return d, SplitIndex.from_dir(d)


def reason(data: bytes, idx: SplitIndex, **kw) -> str:
    with pytest.raises(SubmissionRejected) as ei:
        validate_bytes(data, idx, **kw)
    msg = str(ei.value)
    assert msg and "\n" not in msg and "\r" not in msg and msg.isprintable(), repr(msg)
    return msg


def test_row_schema_is_a_valid_declared_schema():
    from jsonschema import Draft7Validator

    schema = row_schema()
    Draft7Validator.check_schema(schema)
    assert schema["required"] == ["qid"]
    assert set(schema["properties"]) >= {"qid", "pred", "text", "windows"}


def test_valid_submission_accepted_with_coverage(tiny):
    _, idx = tiny
    ok = validate_bytes(jsonl(rows_for(idx)), idx)
    assert (ok.lines, ok.matched, ok.missing) == (TINY_N, TINY_N, 0)
    assert ok.sha256.startswith("sha256:") and len(ok.sha256) == 71


def test_missing_qids_are_accepted_and_counted(tiny):
    _, idx = tiny
    ok = validate_bytes(jsonl(rows_for(idx, 5)), idx)
    assert (ok.matched, ok.missing) == (5, TINY_N - 5)
    assert ok.missing_examples == list(idx.qids[5:10])


def test_same_line_formats_as_eval_score(tiny):
    """Span, raw text, Time-R1 evaluate.py lines ([null, null] included), windows, Time-R1 ids as qids."""
    _, idx = tiny
    q = idx.qids
    rows = [
        {"qid": q[0], "pred": [1.0, 5.0]},
        {"qid": q[1], "text": "The event happens from 2.0 to 8.5 seconds."},
        {"qid": q[2], "pred": [4.0, 10.5], "target": [4.0, 10.5], "duration": 60.0, "output_text": "<answer>4 to 10.5</answer>"},
        {"qid": q[3], "pred": [None, None], "target": [6.0, 12.5], "duration": 40.0, "output_text": "no idea"},
        {"qid": q[4], "windows": [[8.0, 14.5, 0.9], [0.0, 3.0, 0.1]]},
        {"qid": "TimeR1_test_5", "pred": [10, 16.5]},  # the split's source_id is an accepted alias
        {"qid": q[6], "pred": None, "output_text": "12 - 18.5"},
    ]
    ok = validate_bytes(jsonl(rows), idx)
    assert (ok.matched, ok.missing) == (7, TINY_N - 7)


@pytest.mark.parametrize("lines, expected", [
    ([{"qid": "Q0", "pred": [1, 2]}, {"qid": "Q0", "pred": [3, 4]}], "already given on line 1"),
    ([{"qid": "Q0", "pred": [1, 2]}, {"qid": "TimeR1_test_0", "pred": [3, 4]}], "alias of"),
    ([{"qid": "not-in-split", "pred": [1, 2]}], "not in split 'test'"),
    (['{"qid": "Q0", "pred": [NaN, 2]}'], "non-finite number NaN"),
    (['{"qid": "Q0", "pred": [1, Infinity]}'], "non-finite number Infinity"),
    (['{"qid": "Q0", "pred": [1, 1e999]}'], "out of range"),
    ([{"qid": "Q0", "pred": ["1", 2]}], "'pred' must be [start, end]"),
    ([{"qid": "Q0", "pred": [True, 2]}], "'pred' must be [start, end]"),
    ([{"qid": "Q0", "pred": [1, 2, 3]}], "'pred' must be [start, end]"),
    ([{"qid": "Q0", "pred": [1, None]}], "'pred' must be [start, end]"),
    ([{"qid": 1.5, "pred": [1, 2]}], "'qid' must be"),
    ([{"qid": "", "pred": [1, 2]}], "'qid' must be"),
    ([{"pred": [1, 2]}], "lacks 'qid'"),
    ([{"qid": "Q0"}], "needs one of 'pred'"),
    ([{"qid": "Q0", "text": 12}], "'text' must be a string or null"),
    ([{"qid": "Q0", "windows": [[1, "x"]]}], "must be a number"),
    ([{"qid": "Q0", "pred": [1, 2e12]}], "outside [-1e9, 1e9]"),
    (['{"qid": "Q0", "pred": [1, 2]}', "[1, 2]"], "line 2: expected a JSON object, got a list"),
    (['{"qid": "Q0", "pred": [1, 2]'], "not valid JSON"),
    (["[" * 100_000], "nested too deeply"),
    (['{"qid": "Q0", "pred": [1, 2]}', "{'qid': 'Q1'}"], "line 2: not valid JSON"),
])
def test_each_rejection_is_one_clear_line(tiny, lines, expected):
    _, idx = tiny
    qmap = {"Q0": idx.qids[0], "Q1": idx.qids[1]}
    fixed = [json.loads(json.dumps(x).replace('"Q0"', json.dumps(qmap["Q0"]))) if isinstance(x, dict) else
             x.replace('"Q0"', json.dumps(qmap["Q0"])) for x in lines]
    assert expected in reason(jsonl(fixed), idx)


@pytest.mark.parametrize("data, expected", [
    (b"", "file is empty"),
    (b"  \n\n\t \n", "file is empty"),
    (b"\x00\x01\x02binary", "binary"),
    (b'{"qid": "\xff\xfe", "pred": [1, 2]}\n', "not UTF-8"),
    (b'\xef\xbb\xbf{"qid": "a", "pred": [1, 2]}\n', "byte-order mark"),
    (b'[{"qid": "a", "pred": [1, 2]}]', "one JSON list"),
])
def test_unreadable_files(tiny, data, expected):
    _, idx = tiny
    assert expected in reason(data, idx)


def test_oversized_file(tiny):
    _, idx = tiny
    data = jsonl(rows_for(idx))
    assert "larger than" in reason(data, idx, max_bytes=len(data) - 1)
    assert validate_bytes(data, idx, max_bytes=len(data)).matched == TINY_N


def test_reason_never_echoes_control_characters(tiny):
    _, idx = tiny
    msg = reason(jsonl([{"qid": "evil\u2028\n\x1b[31mred", "pred": [1, 2]}]), idx)
    assert "\x1b" not in msg and "\u2028" not in msg


# ---- fuzz: ≥ 10,000 malformed submissions -----------------------------------------------------------

FUZZ_EXAMPLES = int(__import__("os").environ.get("LB_FUZZ", 10_000))
MAX_BYTES = 4096

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=8))
non_numbers = st.one_of(st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
times = st.floats(0, 500, allow_nan=False)
# built once: strategies made inside a composite on every draw cost more than the check itself
wrong_lengths = st.sampled_from([0, 1, 3, 4, 5, 6])
wrong_preds = st.one_of(st.booleans(), st.integers(), st.text(), st.dictionaries(st.text(max_size=3), times, max_size=2))
wrong_qids = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.just(""), st.integers(max_value=-1),
                       st.lists(st.text(max_size=3), max_size=2), st.text(min_size=257, max_size=300))
unknown_qids = st.one_of(st.text(min_size=1, max_size=40), st.integers(0, 10**9).map(str))


@st.composite
def valid_rows(draw, idx: SplitIndex):
    # one seed instead of dozens of draws: generation stays cheap enough for 10,000 examples
    rng = random.Random(draw(st.integers(0, 2**32)))
    chosen = rng.sample(idx.qids, rng.randint(1, len(idx.qids)))
    return [{"qid": q, "pred": [round(rng.uniform(0, 90), rng.choice([0, 1, 3])), rng.uniform(0, 90)]} for q in chosen]


def _bad_row(draw, idx: SplitIndex) -> str:
    """One line that is wrong on its own."""
    qid = draw(st.sampled_from(idx.qids))
    kind = draw(st.integers(0, 11))
    if kind == 0:  # non-finite literal or overflowing number
        lit = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-4e400"]))
        return f'{{"qid": {json.dumps(qid)}, "pred": [{lit}, 3.0]}}'
    if kind == 1:  # non-numeric time
        return json.dumps({"qid": qid, "pred": draw(st.permutations([draw(non_numbers), draw(times)]))})
    if kind == 2:  # span of the wrong length
        return json.dumps({"qid": qid, "pred": [draw(times) for _ in range(draw(wrong_lengths))]})
    if kind == 3:  # pred of the wrong type
        return json.dumps({"qid": qid, "pred": draw(wrong_preds)})
    if kind == 4:  # qid of the wrong type
        return json.dumps({"qid": draw(wrong_qids), "pred": [1.0, 2.0]})
    if kind == 5:  # not an object
        return json.dumps(draw(st.one_of(scalars, st.lists(scalars, max_size=3))))
    if kind == 6:  # truncated object
        line = json.dumps({"qid": qid, "pred": [draw(times), draw(times)]})
        return line[: draw(st.integers(1, len(line) - 1))]
    if kind == 7:  # no answer at all, or only a target
        return json.dumps({"qid": qid, **draw(st.sampled_from([{}, {"target": [1, 2]}, {"duration": 30.0}]))})
    if kind == 8:  # text / windows of the wrong type
        return json.dumps({"qid": qid, **draw(st.sampled_from([
            {"text": 5}, {"output_text": [1]}, {"windows": []}, {"windows": [[1]]}, {"windows": [[1, 2, 3, 4]]},
            {"windows": [[1, "a"]]}, {"windows": "1-2"}, {"pred": [1, 2], "text": {"a": 1}}]))})
    if kind == 9:  # half-null span
        return json.dumps({"qid": qid, "pred": draw(st.sampled_from([[None, 1.0], [2.0, None], [None]]))})
    if kind == 10:  # times beyond the declared bound
        return json.dumps({"qid": qid, "pred": [draw(times), draw(st.floats(1.1e9, 1e300))]})
    return draw(st.sampled_from(["{", "}", "nul", "{'qid': 1}", '{"qid": "a",}', "\x7f", "[[", '"qid"']))


@st.composite
def malformed_submission(draw, idx: SplitIndex) -> bytes:
    rows = [json.dumps(r) for r in draw(valid_rows(idx))]
    at = draw(st.integers(0, len(rows)))
    kind = draw(st.integers(0, 8))
    if kind == 0:  # a qid twice (possibly once by its Time-R1 alias)
        src = json.loads(rows[draw(st.integers(0, len(rows) - 1))])
        i = idx.qids.index(src["qid"])
        dup_id = draw(st.sampled_from([src["qid"], f"TimeR1_test_{i}"]))
        rows.insert(at, json.dumps({"qid": dup_id, "pred": [draw(times), draw(times)]}))
    elif kind == 1:  # a qid the split does not know
        unknown = draw(unknown_qids)
        unknown = unknown if unknown not in idx.row_of else "unknown-" + unknown
        rows.insert(at, json.dumps({"qid": unknown, "pred": [draw(times), draw(times)]}))
    elif kind in (2, 3, 4):
        rows.insert(at, _bad_row(draw, idx))
    else:
        data = "\n".join(rows).encode()
        if kind == 5:  # binary: NUL bytes or invalid UTF-8 spliced in
            pos = draw(st.integers(0, len(data)))
            junk = draw(st.sampled_from([b"\x00", b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80"]))
            return data[:pos] + junk + data[pos:]
        if kind == 6:  # empty or blank
            return draw(st.sampled_from([b"", b"\n", b" \n \n", b"\t\r\n", b"\n" * 50]))
        if kind == 7:  # oversized
            return data + b"\n" * (MAX_BYTES + 1 - len(data)) + draw(st.binary(max_size=20))
        return b"\xef\xbb\xbf" + data if draw(st.booleans()) else ("[" + ",".join(rows) + "]").encode()
    return ("\n".join(rows) + draw(st.sampled_from(["", "\n", "\r\n"]))).encode()


def test_fuzz_10000_malformed_submissions_one_line_and_store_unchanged(tiny, tmp_path):
    """Full submit path (validation, then the store): never a traceback, always one line, nothing stored."""
    split_dir, idx = tiny
    store = open_store(tmp_path / "fuzz.sqlite3")
    baseline = submit(store, jsonl(rows_for(idx)), split_dir, model_name="baseline", split=idx, bootstrap=0)
    assert baseline.created and store.count() == 1
    seen = {"n": 0, "reasons": set()}

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(malformed_submission(idx))
    def check(data: bytes):
        seen["n"] += 1
        with pytest.raises(SubmissionRejected) as ei:
            submit(store, data, split_dir, model_name="fuzz", split=idx, max_bytes=MAX_BYTES, bootstrap=0)
        msg = str(ei.value)
        assert msg and msg.isprintable() and len(msg) <= 300, repr(msg)
        seen["reasons"].add(msg.split(":")[0].split(" (")[0][:25])

    check()
    assert seen["n"] >= FUZZ_EXAMPLES
    assert store.count() == 1 and store.integrity_check() == "ok"
    assert len(seen["reasons"]) > 10  # the generator really reaches many different checks


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_valid_submissions_are_accepted_and_scored_like_eval_score(tiny, tmp_path_factory, data):
    """The strictness never refuses a well-formed file, and its scores equal `timer1 eval score`'s."""
    from tvgbench.core.scoring import score

    split_dir, idx = tiny
    rows = data.draw(valid_rows(idx))
    blob = jsonl(rows)
    ok = validate_bytes(blob, idx)
    assert ok.matched == len(rows) and ok.missing == TINY_N - len(rows)
    from leaderboard.service import score_bytes

    canonical, compat, _ = score_bytes(blob, split_dir, idx, bootstrap=0)
    p = tmp_path_factory.mktemp("pred") / "p.jsonl"
    p.write_bytes(blob)
    assert canonical["metrics"] == score(p, split_dir, bootstrap=0)["metrics"]
    assert compat["metrics"] == score(p, split_dir, mode="timer1", bootstrap=0)["metrics"]
    assert all(math.isfinite(v) for v in canonical["metrics"].values())
