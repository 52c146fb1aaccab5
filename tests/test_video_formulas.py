"""Frame counts, sizes and sample_fps equal the qwen-vl-utils / Time-R1 formulas — table-driven, no decoding."""

from __future__ import annotations

import math

import pytest

from tvgbench.video import SamplingConfig, plan_sampling
from tvgbench.video.config import frame_range, smart_resize

CFG = SamplingConfig()


def reference_plan(total_frames, video_fps, height, width, window=None):
    """Time-R1's smart_nframes / fetch_video_v3 restated literally (independent of tvgbench.video.config)."""
    if window is None:
        start, end = 0, total_frames
    else:
        start = max(0, int(window[0] * video_fps))
        end = min(total_frames, int(window[1] * video_fps))
        if end == start:
            end = min(total_frames, start + 1)
    eff = end - start
    lo = math.ceil(4 / 2) * 2
    hi = math.floor(min(768, eff) / 2) * 2
    n = eff / video_fps * 2.0
    n = math.floor(min(min(max(n, lo), hi), eff) / 2) * 2
    max_px = max(min(768 * 784, 3584 * 784 / n * 2), int(16 * 784 * 1.05))
    h, w = max(28, round(height / 28) * 28), max(28, round(width / 28) * 28)
    if h * w > max_px:
        b = math.sqrt(height * width / max_px)
        h, w = max(28, math.floor(height / b / 28) * 28), max(28, math.floor(width / b / 28) * 28)
    elif h * w < 16 * 784:
        b = math.sqrt(16 * 784 / (height * width))
        h, w = math.ceil(height * b / 28) * 28, math.ceil(width * b / 28) * 28
    return n, h, w, n / eff * video_fps, (start, end)


def tokens(plan):
    return (len(plan.indices) // 2) * (plan.height // 28) * (plan.width // 28)


# Recovered from Time-R1's data: a 640x360 source at 30 fps.
SPEC_EXAMPLES = [
    # seconds, frames, (h, w), tokens, sample_fps
    (10, 20, (364, 644), 2990, 2.0),
    (60, 120, (140, 280), 3000, 2.0),
    (180, 360, (84, 140), 2700, 2.0),
    (300, 600, (84, 140), 4500, 2.0),
    (384, 768, (84, 140), 5760, 2.0),
    (600, 768, (84, 140), 5760, 1.28),
    (1200, 768, (84, 140), 5760, 0.64),
]


@pytest.mark.parametrize("seconds,frames,size,n_tokens,sfps", SPEC_EXAMPLES)
def test_spec_examples(seconds, frames, size, n_tokens, sfps):
    plan = plan_sampling(seconds * 30, 30.0, 360, 640, None, CFG)
    assert len(plan.indices) == frames
    assert (plan.height, plan.width) == size
    assert tokens(plan) == n_tokens
    assert plan.sample_fps == pytest.approx(sfps, abs=1e-9)


DURATIONS = [1.0, 1.5, 1.9, 2.0, 2.5, 3.3, 10.0, 59.9, 60.0, 121.7, 383.0, 384.0, 385.5, 600.0, 1200.0]
RESOLUTIONS = [(240, 320), (360, 640), (720, 1280), (1080, 1920), (1920, 1080), (480, 480), (200, 1000)]
FPS = [24.0, 25.0, 30000 / 1001, 30.0, 60.0]


@pytest.mark.parametrize("seconds", DURATIONS)
@pytest.mark.parametrize("height,width", RESOLUTIONS)
@pytest.mark.parametrize("fps", FPS)
def test_plan_matches_reference(seconds, height, width, fps):
    total = max(1, int(round(seconds * fps)))
    plan = plan_sampling(total, fps, height, width, None, CFG)
    n, h, w, sfps, (start, end) = reference_plan(total, fps, height, width)
    assert (len(plan.indices), plan.height, plan.width) == (n, h, w)
    assert plan.sample_fps == sfps
    assert (plan.start_frame, plan.end_frame) == (start, end)
    # invariants the model relies on
    assert n % 2 == 0 and 4 <= n <= 768 or total < 4
    assert h % 28 == 0 and w % 28 == 0
    assert plan.indices[0] == 0 and plan.indices[-1] == total - 1
    assert all(b > a for a, b in zip(plan.indices, plan.indices[1:]))
    if h * w > int(16 * 784 * 1.05) and n >= 4:  # the total-pixel budget binds unless the floor does
        assert tokens(plan) <= 3584 * (1 + 1e-9) or (h, w) == (28, 28)


WINDOWS = [(0.0, 5.0), (2.5, 7.25), (10.0, 10.2), (59.0, 61.0), (0.3, 1.2), (100.0, 500.0)]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("fps", FPS)
def test_windows_match_reference(window, fps):
    total = int(600 * fps)
    plan = plan_sampling(total, fps, 360, 640, window, CFG)
    n, h, w, sfps, (start, end) = reference_plan(total, fps, 360, 640, window)
    assert (plan.start_frame, plan.end_frame) == (start, end)
    assert (len(plan.indices), plan.height, plan.width, plan.sample_fps) == (n, h, w, sfps)
    assert plan.indices[0] == start and plan.indices[-1] == end - 1


def test_short_clip_gets_four_frames_and_higher_fps():
    # 1 s at 30 fps: 2 frames at 2 fps is below the minimum of 4, so 4 frames are spread over 1 s
    plan = plan_sampling(30, 30.0, 360, 640, None, CFG)
    assert len(plan.indices) == 4 and plan.sample_fps == 4.0
    assert plan.indices == (0, 10, 19, 29)


def test_too_short_raises():
    with pytest.raises(ValueError):
        plan_sampling(1, 30.0, 360, 640, None, CFG)
    assert len(plan_sampling(3, 30.0, 360, 640, None, CFG).indices) == 2  # 3 frames -> 2 (even, ≤ clip)


def test_window_outside_video_raises():
    with pytest.raises(ValueError, match="outside the video"):
        frame_range(300, 30.0, (20.0, 30.0))


def test_nondefault_parameters_are_honoured():
    cfg = SamplingConfig(fps=1.0, max_frames=64, total_pixels=1024 * 784, min_pixels=4 * 784)
    plan = plan_sampling(3000, 25.0, 720, 1280, None, cfg)  # 120 s
    assert len(plan.indices) == 64 and plan.sample_fps == pytest.approx(64 / 3000 * 25)
    assert (len(plan.indices) // 2) * (plan.height // 28) * (plan.width // 28) <= 1024


def test_smart_resize_rejects_extreme_aspect():
    with pytest.raises(ValueError):
        smart_resize(10, 2100, 28, 784, 10000)


def test_zero_length_window_is_too_short():
    # the reference turns end == start into one frame, which cannot make a 2-frame temporal patch
    assert frame_range(18000, 30.0, (10.0, 10.0)) == (300, 301)
    with pytest.raises(ValueError, match="too short"):
        plan_sampling(18000, 30.0, 360, 640, (10.0, 10.0), CFG)


def test_output_key_separates_settings_but_not_equivalent_decoders():
    assert SamplingConfig(decoder="auto").output_key() == SamplingConfig().output_key()
    assert SamplingConfig(decoder="pyav").output_key() != SamplingConfig().output_key()
    assert SamplingConfig(fps=1.0).output_key() != SamplingConfig().output_key()
    assert SamplingConfig(resize="torch").output_key() != SamplingConfig().output_key()
    assert SamplingConfig(check_determinism="never").output_key() == SamplingConfig().output_key()
