"""Rewards against Time-R1's reference formulas (its ``main.py`` reward functions), on 10^5 random cases."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from trainer import rewards
from tvgbench.core.metrics import temporal_iou_array

N = 100_000


def reference_iou(ps, pe, gs, ge):
    """Time-R1 ``iou_timestamp_reward`` for one parsed completion union > 0."""
    inter = max(0.0, min(pe, ge) - max(ps, gs))
    union = max(pe, ge) - min(ps, gs)
    return inter / union


def reference_iou_v2(ps, pe, gs, ge, d):
    """Time-R1 ``iou_timestamp_reward_v2``, unclamped."""
    return reference_iou(ps, pe, gs, ge) * (1 - abs(gs / d - ps / d)) * (1 - abs(ge / d - pe / d))


def reference_format(text):
    return 1.0 if re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", text.strip(), re.DOTALL) else 0.0


def _random_cases(rng, n):
    d = rng.uniform(5, 600, n)
    gs = rng.uniform(0, 1, n) * d
    ge = gs + rng.uniform(0.01, 1, n) * (d - gs)
    # predictions inside, around and far beyond the clip (iou_v2 goes negative there in Time-R1)
    ps = rng.uniform(-0.2, 1.5, n) * d
    pe = ps + rng.uniform(-0.3, 2.5, n) * d
    ps, pe = np.abs(ps), np.abs(pe)  # the parser never yields a negative number
    return np.round(ps, 2), np.round(pe, 2), gs, ge, d


def test_iou_and_iou_v2_match_reference_on_1e5_random_cases():
    rng = np.random.default_rng(0)
    ps, pe, gs, ge, d = _random_cases(rng, N)
    ref_iou = np.array([reference_iou(*row) for row in zip(ps, pe, gs, ge)])
    ref_v2 = np.array([reference_iou_v2(*row) for row in zip(ps, pe, gs, ge, d)])
    assert (ref_v2 < 0).sum() > 100, "the random cases must exercise Time-R1's negative iou_v2"
    np.testing.assert_allclose(temporal_iou_array(ps, pe, gs, ge), ref_iou, rtol=0, atol=1e-12)
    got_v2 = rewards.iou_v2_array(ps, pe, gs, ge, d)
    # equal to the reference everywhere except the documented clamp at 0
    np.testing.assert_allclose(got_v2, np.maximum(ref_v2, 0.0), rtol=0, atol=1e-12)
    assert np.array_equal(got_v2 == 0.0, (ref_v2 <= 0.0))


def test_reward_callables_parse_like_timer1_training_on_1e5_texts():
    rng = np.random.default_rng(1)
    ps, pe, gs, ge, d = _random_cases(rng, N)
    sep = rng.choice(["to", "and", "TO"], N)
    texts = [
        f"<think>between {a / 2:.2f} to {b / 2:.2f} maybe</think> <answer>{a:.2f} {s} {b:.2f}</answer>"
        for a, b, s in zip(ps, pe, sep)
    ]
    spans = np.stack([gs, ge], 1).tolist()
    got_iou = np.array(rewards.iou(None, texts, span=spans, duration=d.tolist()))
    got_v2 = np.array(rewards.iou_v2(None, texts, span=spans, duration=d.tolist()))
    ref_iou = np.array([reference_iou(*row) for row in zip(ps, pe, gs, ge)])
    ref_v2 = np.array([max(0.0, reference_iou_v2(*row)) for row in zip(ps, pe, gs, ge, d)])
    np.testing.assert_allclose(got_iou, ref_iou, atol=1e-12)
    np.testing.assert_allclose(got_v2, ref_v2, atol=1e-12)


def test_iou_v2_worked_examples_from_the_spec():
    # pred [10,20], GT [12,18], D=30 -> 0.5227; pred [10,500], GT [10,20], D=100 -> -0.0776 in Time-R1
    assert rewards.iou_v2(None, ["<answer>10 to 20</answer>"], span=[[12, 18]], duration=[30])[0] == pytest.approx(
        0.6 * (1 - 2 / 30) ** 2
    )
    assert reference_iou_v2(10, 500, 10, 20, 100) == pytest.approx(-0.0776, abs=1e-4)
    assert rewards.iou_v2(None, ["<answer>10 to 500</answer>"], span=[[10, 20]], duration=[100]) == [0.0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<answer>12.54-17.83</answer>", None),  # Time-R1's training regex needs ' to ' / ' and '
        ("<answer>12.54s to 17.83s</answer>", None),
        ("<think>3 to 4</think>", None),  # no answer block: 0 even though the reasoning has a span
        ("<answer>1 to 2</answer> <answer>between 5 and 9</answer>", (5.0, 9.0)),  # last block, last span
        ("<answer>00:12 to 00:17</answer>", (12.0, 0.0)),  # Time-R1 mis-parses mm:ss the same way
    ],
)
def test_parser_semantics_are_timer1_training(text, expected):
    gt = [0.0, 10.0] if expected is None else list(expected) if expected[1] > expected[0] else [0.0, 100.0]
    r = rewards.iou(None, [text], span=[gt], duration=[100.0])[0]
    if expected is None:
        assert r == 0.0
    elif expected[1] > expected[0]:
        assert r == 1.0
    else:
        assert r == 0.0  # reversed span: no overlap


def test_format_matches_reference_on_1e5_random_completions():
    rng = np.random.default_rng(2)
    pieces = ["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "x", "1.5 to 2", "<timestep>", "ok."]
    texts = ["".join(rng.choice(pieces, rng.integers(0, 9))) for _ in range(N // 2)]
    texts += [
        f"{pre}<think>{a}</think>{mid}<answer>{b}</answer>{post}"
        for pre, a, mid, b, post in zip(
            rng.choice(["", " ", "\n", "x"], N // 2), rng.choice(["", "r", "a\nb"], N // 2),
            rng.choice(["", " ", "\n\n", "y"], N // 2), rng.choice(["1 to 2", ""], N // 2),
            rng.choice(["", " ", "z", "</answer>"], N // 2),
        )
    ]
    got = np.array(rewards.format_reward(None, texts))
    ref = np.array([reference_format(t) for t in texts])
    assert ref.sum() > 1000 and (1 - ref).sum() > 1000
    assert np.array_equal(got, ref)


def test_conversational_completions_and_timer1_column_names():
    conv = [[{"role": "assistant", "content": "<think>a</think><answer>2 to 4</answer>"}]]
    assert rewards.iou(None, conv, solution=[(2, 4)], durations=[10]) == [1.0]
    assert rewards.format_reward(None, conv) == [1.0]
    assert rewards.REWARDS["format"].__name__ == "format"
    assert math.isclose(rewards.iou_v2(None, conv, span=[[2, 4]], duration=[0])[0], 1.0)  # D<=0: no penalty


def test_zero_union_gives_0_whatever_came_before():
    """A zero-length GT hit exactly has a zero union: 0 (Time-R1 reuses the call's previous IoU there)."""
    texts = ["<answer>2 to 4</answer>", "<answer>5 to 5</answer>"]
    spans, durations = [[2, 4], [5, 5]], [10, 10]
    assert rewards.iou(None, texts, span=spans, duration=durations) == [1.0, 0.0]
    assert rewards.iou_v2(None, texts, span=spans, duration=durations) == [1.0, 0.0]


def test_resolve_rewards_rejects_unknown_names():
    from tvgbench.core.errors import Timer1Error

    funcs, weights = rewards.resolve_rewards({"iou_v2": 1.0, "format": 0.5})
    assert [f.__name__ for f in funcs] == ["iou_v2", "format"] and weights == [1.0, 0.5]
    with pytest.raises(Timer1Error, match="unknown reward"):
        rewards.resolve_rewards({"accuracy": 1.0})


def test_tags_shaping_reward_counts_the_format_building_blocks():
    got = rewards.tags(None, ["", "<think>", "<think></think><answer>1 to 2</answer>", "</answer>", "7"])
    assert got == pytest.approx([0.0, 3 / 6, 1.0, 3 / 6, 1 / 6])
