"""Table-driven tests of the answer parsers on realistic model outputs."""

import math

import pytest

from tvgbench.core.parsing import (
    FLAG_CLIPPED, FLAG_FALLBACK, FLAG_REVERSED, clock_to_seconds, parse_answer, parse_option_letter,
)

R1_EXAMPLE = (
    "<think>The video starts with a person entering the kitchen. <timestep>0.00 to 5.20</timestep> shows "
    "the door. Then <timestep>12.54 to 17.83</timestep> the person opens the fridge.</think> "
)

# (model output, expected canonical span or None, expected flags subset)
CANONICAL_CASES = [
    ("<answer>12.5 to 17.8</answer>", (12.5, 17.8), ()),
    (R1_EXAMPLE + "<answer>12.54 to 17.83</answer>", (12.54, 17.83), ()),
    (R1_EXAMPLE + "<answer>20.10 to 25.00</answer>", (20.1, 25.0), ()),  # ranges in reasoning are ignored
    ("<think>first 3.0 to 4.0, then 30 to 40</think><answer>\n30.00 to 40.00\n</answer>", (30.0, 40.0), ()),
    ("<answer>12.5-17.8</answer>", (12.5, 17.8), ()),
    ("<answer>12.5 - 17.8</answer>", (12.5, 17.8), ()),
    ("<answer>12.5s - 17.8s</answer>", (12.5, 17.8), ()),
    ("<answer>12.5 s to 17.8 s</answer>", (12.5, 17.8), ()),
    ("<answer>from 12.5 to 17.8 seconds</answer>", (12.5, 17.8), ()),
    ("<answer>The event happens from 12.5 to 17.8 seconds.</answer>", (12.5, 17.8), ()),
    ("<answer>between 12.5 and 17.8</answer>", (12.5, 17.8), ()),
    ("<answer>Between 12.5 and 17.8 seconds</answer>", (12.5, 17.8), ()),
    ("<answer>[12.5, 17.8]</answer>", (12.5, 17.8), ()),
    ("<answer>[12.5,17.8]</answer>", (12.5, 17.8), ()),
    ("<answer>(12.5, 17.8)</answer>", (12.5, 17.8), ()),
    ("<answer>00:12.5 to 00:17.8</answer>", (12.5, 17.8), ()),
    ("<answer>01:05 to 01:20</answer>", (65.0, 80.0), ()),
    ("<answer>1:02:03 to 1:02:10</answer>", (3723.0, 3730.0), ()),
    ("<answer>0:00:05 - 0:00:09.5</answer>", (5.0, 9.5), ()),
    ("<answer>12.54 TO 17.83</answer>", (12.54, 17.83), ()),
    ("<answer>12 to 17</answer>", (12.0, 17.0), ()),
    ("<answer>12.5 – 17.8</answer>", (12.5, 17.8), ()),
    ("<answer>12.5 ~ 17.8</answer>", (12.5, 17.8), ()),
    # labelled start / end (models asked for JSON-ish answers write these)
    ("<answer>start: 4.4, end: 9.1</answer>", (4.4, 9.1), ()),
    ("<answer>Start: 4.4s, End: 9.1s</answer>", (4.4, 9.1), ()),
    ("<answer>start time: 00:04.4, end time: 00:09.1</answer>", (4.4, 9.1), ()),
    ("<answer>start = 4.4; end = 9.1</answer>", (4.4, 9.1), ()),
    ('<answer>{"start": 4.4, "end": 9.1}</answer>', (4.4, 9.1), ()),
    ('<answer>{"start_time": 4.4, "end_time": 9.1}</answer>', (4.4, 9.1), ()),
    ("<answer>start: 9.1, end: 4.4</answer>", (4.4, 9.1), (FLAG_REVERSED,)),
    ("<think>start: 1, end: 2 is too early</think><answer>start: 4.4, end: 9.1</answer>", (4.4, 9.1), ()),
    ("The event has start: 4.4 and end: 9.1.", (4.4, 9.1), (FLAG_FALLBACK,)),
    ("<ANSWER>12.5 to 17.8</ANSWER>", (12.5, 17.8), ()),
    ("<answer>first guess 1 to 2</answer> <answer>3.5 to 9.25</answer>", (3.5, 9.25), ()),
    # reversed spans are swapped and flagged
    ("<answer>17.8 to 12.5</answer>", (12.5, 17.8), (FLAG_REVERSED,)),
    ("<answer>[40, 10]</answer>", (10.0, 40.0), (FLAG_REVERSED,)),
    # no <answer> block: fall back to the text (last span wins)
    ("The person sits down between 3.2 and 7.9 seconds.", (3.2, 7.9), (FLAG_FALLBACK,)),
    ("I think 1 to 2 is wrong; the answer is 12.54 to 17.83.", (12.54, 17.83), (FLAG_FALLBACK,)),
    ("12.5-17.8", (12.5, 17.8), (FLAG_FALLBACK,)),
    ("<think>at 4.0 to 8.0 something happens</think>", (4.0, 8.0), (FLAG_FALLBACK,)),
    # an <answer> block without a span falls back to the reasoning
    ("<think>likely 22.0 to 31.5</think><answer>unknown</answer>", (22.0, 31.5), (FLAG_FALLBACK,)),
    ("<think>the moment spans [5.0, 9.0]</think><answer>see above</answer>", (5.0, 9.0), (FLAG_FALLBACK,)),
    # nothing usable
    ("<answer>the person never sits down</answer>", None, ()),
    ("<think>I cannot tell.</think><answer></answer>", None, ()),
    ("", None, ()),
    ("The answer is 42.", None, ()),
    ("<answer>at 12.5 seconds</answer>", None, ()),
    ("1.2.3 to 4", None, ()),  # not a number: Time-R1's eval parser would read (2.3, 4)
    ("Version 2.0.1 released", None, ()),
    # long reasoning mentioning many ranges before the answer
    ("<think>" + " ".join(f"<timestep>{i}.0 to {i+1}.0</timestep>" for i in range(20)) + "</think>"
     "<answer>7.25 to 9.75</answer>", (7.25, 9.75), ()),
    ("<think>Step 1: 0 to 10 intro. Step 2: 10 to 20 cooking.</think>\n<answer>\n10.00 to 20.00\n</answer>",
     (10.0, 20.0), ()),
]


@pytest.mark.parametrize("text,expected,flags", CANONICAL_CASES)
def test_canonical_parser(text, expected, flags):
    parsed = parse_answer(text)
    if expected is None:
        assert parsed.span is None
        return
    assert parsed.span == pytest.approx(expected)
    assert set(flags) <= set(parsed.flags)
    if FLAG_REVERSED not in flags:
        assert FLAG_REVERSED not in parsed.flags


def test_enough_cases():
    assert len(CANONICAL_CASES) >= 40


def test_canonical_clips_to_duration():
    p = parse_answer("<answer>25 to 45</answer>", duration=30.0)
    assert p.span == (25.0, 30.0) and FLAG_CLIPPED in p.flags
    assert FLAG_CLIPPED not in parse_answer("<answer>5 to 10</answer>", duration=30.0).flags


# Time-R1's parsers: main.py::parse_timestamp_output (train) and evaluate.py::extract_answer (eval)
TIMER1_CASES = [
    # text, timer1-train, timer1-eval
    ("<answer>12.54 to 17.83</answer>", (12.54, 17.83), (12.54, 17.83)),
    ("<answer>12.54-17.83</answer>", None, None),
    ("<answer>12.54s to 17.83s</answer>", None, None),
    ("<answer>between 12 and 17</answer>", (12.0, 17.0), (12.0, 17.0)),
    ("<answer>12.54 To 17.83</answer>", (12.54, 17.83), None),  # IGNORECASE only in training
    ("<answer>00:12 to 00:17</answer>", (12.0, 0.0), (12.0, 0.0)),  # mm:ss mis-parsed, as Time-R1
    ("<answer>1.2.3 to 4</answer>", (2.3, 4.0), (2.3, 4.0)),
    (R1_EXAMPLE + "<answer>none</answer>", None, (12.54, 17.83)),  # eval reads the reasoning
    ("no tags 3 to 4", None, (3.0, 4.0)),  # train needs <answer>
    ("<answer>30 to 10</answer>", (30.0, 10.0), (30.0, 10.0)),  # no reordering
    ("<answer>start: 4.4, end: 9.1</answer>", None, None),  # labelled spans: canonical only
    ("<answer>start: 4.4 to end: 9.1</answer>", None, None),
]


@pytest.mark.parametrize("text,train,evaluate", TIMER1_CASES)
def test_timer1_variants(text, train, evaluate):
    assert parse_answer(text, "timer1-train").span == (pytest.approx(train) if train else None)
    assert parse_answer(text, "timer1-eval").span == (pytest.approx(evaluate) if evaluate else None)


def test_timer1_force_takes_first_two_numbers():
    assert parse_answer("about 3 or maybe 4.5, ends 9", "timer1-force").span == (3.0, 4.5)
    assert parse_answer("only 3", "timer1-force").span is None


def test_unknown_variant_and_non_text():
    with pytest.raises(ValueError):
        parse_answer("1 to 2", "nope")
    assert parse_answer(None).span is None


@pytest.mark.parametrize("token,seconds", [("17.8", 17.8), ("00:12.5", 12.5), ("1:02:03", 3723.0), ("10:00", 600.0)])
def test_clock_to_seconds(token, seconds):
    assert math.isclose(clock_to_seconds(token), seconds)


@pytest.mark.parametrize("text,letter", [
    ("<think>(A) is wrong</think><answer>(C)</answer>", "C"),
    ("The best option is (B).", "B"),
    ("D", "D"),
    ("<answer>none</answer>", None),
])
def test_option_letter(text, letter):
    assert parse_option_letter(text) == letter
