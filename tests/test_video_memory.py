"""Memory follows the pixel budget, not the source: a tiny file with huge frames stays under 1 GB RSS.

The file is the issue's reproduction made smaller (2880x2880 instead of 3840x3840, 33 frames instead of
300): before frames were decoded a frame at a time it took 2-5 GB in ``eval run`` (decord's get_batch
on 32 full-size frames) and in ``data preprocess`` (PyAV's 32-frame chunks, stacked).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from test_video_support import ffmpeg, make_testsrc, need_ffmpeg
from tvgbench.core.schema import Sample
from tvgbench.core.splits import write_split
from tvgbench.video import SamplingConfig, VideoError, sample_video
from tvgbench.video import decode

RSS_LIMIT_MB = 1024
# a fresh wrapper process: its RUSAGE_CHILDREN peak is the command's alone (not earlier test children)
_PEAK_RSS = ("import resource, subprocess, sys\n"
             "rc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL).returncode\n"
             "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
             "sys.exit(rc)\n")


def peak_rss_mb(args: list[str], tmp_path: Path) -> float:
    out = tmp_path / "peak_rss_kb"
    cmd = [sys.executable, "-c", _PEAK_RSS, str(out), sys.executable, "-m", "tvgbench.cli.main", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return int(out.read_text()) / 1024


@pytest.fixture(scope="module")
def huge_frames(tmp_path_factory):
    """A split of one query over a ~40 KB h264 file of 33 frames of 2880x2880."""
    need_ffmpeg()
    root = tmp_path_factory.mktemp("huge")
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=2880x2880:r=1:d=33", "-c:v", "libx264", "-preset", "ultrafast",
           str(root / "huge.mp4"))
    split = root / "split"
    write_split([Sample(video="huge.mp4", query="the grey screen", span=(1.0, 5.0), duration=33.0, source="t")],
                split, "test", window_mode="crop")
    return split, root


def test_eval_run_on_huge_frames_stays_under_1gb(huge_frames, tiny_model_dir, tmp_path):
    split, root = huge_frames
    peak = peak_rss_mb(["eval", "run", "--split", str(split), "--video-root", str(root), "--model", str(tiny_model_dir),
                        "--out", str(tmp_path / "run"), "--max-new-tokens", "4", "--quiet"], tmp_path)
    assert peak < RSS_LIMIT_MB, f"eval run peaked at {peak:.0f} MB"


def test_preprocess_on_huge_frames_stays_under_1gb(huge_frames, tmp_path):
    split, root = huge_frames
    peak = peak_rss_mb(["data", "preprocess", str(split), "--video-root", str(root), "--cache", str(tmp_path / "c")],
                       tmp_path)
    assert peak < RSS_LIMIT_MB, f"data preprocess peaked at {peak:.0f} MB"
    assert len(list((tmp_path / "c").glob("*/*.t1v"))) == 1


def test_frames_above_max_source_pixels_are_refused(tmp_path):
    video = make_testsrc(tmp_path / "v.mp4", seconds=2, fps="10", size=(120, 160))
    for decoder in ("decord", "auto", "pyav"):
        with pytest.raises(VideoError) as e:
            sample_video(video, config=SamplingConfig(decoder=decoder, max_source_pixels=160 * 119))
        assert e.value.reason == "too_large" and "160x120" in str(e.value)
    assert sample_video(video, config=SamplingConfig(max_source_pixels=160 * 120)).num_frames == 4
    # it refuses, it never changes a frame: the cache keys stay those of the default settings
    assert SamplingConfig(max_source_pixels=10).output_key() == SamplingConfig().output_key()


@pytest.mark.parametrize("which", ["testsrc", "OHOFG"])
def test_large_frame_path_gives_the_same_frames(tmp_path, monkeypatch, which):
    """Frames above LARGE_FRAME_PIXELS take PyAV's pixels a frame at a time: equal to decord's get_batch
    (no decoder-side scaling, so no new tolerance: on the real 640x360 OHOFG.mp4 the difference is 0)."""
    if which == "OHOFG":
        video, window = shared_file("videos/OHOFG.mp4"), None
    else:
        video, window = make_testsrc(tmp_path / "busy.mp4", seconds=3, fps="25", size=(240, 320)), (0.5, 2.5)
    usual = sample_video(video, window)
    assert "large_frames" not in usual.meta
    monkeypatch.setattr(decode, "LARGE_FRAME_PIXELS", 100)
    monkeypatch.setattr(decode, "CHUNK_BYTES", 1)  # one full-size frame at a time
    large = sample_video(video, window)
    assert large.meta["large_frames"] and large.meta["pixels_from"] == "pyav"
    assert large.meta["indices"] == usual.meta["indices"]
    np.testing.assert_array_equal(large.frames, usual.frames)
