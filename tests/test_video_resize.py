"""The fast resize (torch uint8 SIMD kernel) stays within 1.0 mean abs of the reference float resize."""

from __future__ import annotations

import numpy as np
import pytest

from test_video_support import make_testsrc
from tvgbench.video import SamplingConfig, resize_reference, sample_video
from tvgbench.video import decode
from tvgbench.video.config import plan_sampling
from tvgbench.video.resize import resize_fast


@pytest.mark.parametrize("size,fps,seconds", [
    ((720, 1280), "30", 3),   # strong downscale (the benchmark case shape)
    ((360, 640), "25", 8),    # slight upscale to 364x644
    ((240, 320), "24", 3),    # upscale to meet min pixels
    ((1080, 1920), "30", 2),
])
def test_fast_resize_is_within_one_grey_level_of_reference(tmp_path, size, fps, seconds):
    path = make_testsrc(tmp_path / "v.mp4", seconds=seconds, fps=fps, size=size)  # sharp edges: worst case
    probe = decode.probe_decord(path)
    plan = plan_sampling(probe.total_frames, probe.fps, probe.height, probe.width, None, SamplingConfig())
    full = np.concatenate(list(decode.iter_decord(path, plan.indices)))  # the same decoded frames for both
    ref = resize_reference(full, plan.height, plan.width)
    fast = resize_fast(full, plan.height, plan.width)
    assert fast.shape == ref.shape == (len(plan.indices), plan.height, plan.width, 3)
    diff = np.abs(fast.astype(np.int16) - ref.astype(np.int16))
    assert diff.mean() <= 1.0, diff.mean()
    # and the pipeline's default output is exactly the fast resize of those frames
    np.testing.assert_array_equal(sample_video(path).frames, fast)
    np.testing.assert_array_equal(sample_video(path, config=SamplingConfig(resize="torch")).frames, ref)


def test_reference_resize_matches_float_bicubic_antialias_rounding():
    import torch
    import torch.nn.functional as F

    frames = np.random.default_rng(1).integers(0, 256, (2, 50, 70, 3), dtype=np.uint8)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(28, 56), mode="bicubic", antialias=True, align_corners=False)
    expected = y.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(resize_reference(frames, 28, 56), expected)
    assert resize_reference(frames, 50, 70) is not None and np.array_equal(resize_reference(frames, 50, 70), frames)
