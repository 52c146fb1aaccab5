"""Bad videos: one clean reason each, from every decoder, and no decoder noise on stderr.

Before, a text file or a cut-off MP4 went through decord first, which printed FFmpeg's "moov atom not
found" and its own ".../video_reader.cc:83: ERROR" on stderr (fd 2, so ``capfd``), and the reason was
"undecodable" with "[Errno 1094995529]" in it; a window after the last frame said "truncated".
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from test_video_support import ffmpeg, make_counter_video, need_ffmpeg
from tvgbench.core.schema import Sample
from tvgbench.core.splits import write_split
from tvgbench.video import REASONS, SamplingConfig, VideoError, sample_video

NOISE = ("moov atom", "video_reader.cc", "Errno", "1094995529", "partial file", "Invalid data found when")
DECODERS = ("decord", "auto", "pyav")


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """One crafted file per reason (and a good one, for the window)."""
    need_ffmpeg()
    d = tmp_path_factory.mktemp("bad")
    (d / "zero.mp4").write_bytes(b"")
    (d / "notes.mp4").write_text("these are my notes, not a video\n" * 20)
    (d / "noise.mkv").write_bytes(bytes(range(256)) * 64)
    good = make_counter_video(d / "good.mp4", frames=60, fps="30")  # moov at the end (no faststart)
    (d / "cut_header.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    fs = make_counter_video(d / "fs.mp4", frames=240, fps="30")
    (d / "cut_frames.mp4").write_bytes(fs.read_bytes()[: fs.stat().st_size // 3])
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(d / "audio_only.mp4"))
    return d


CASES = [
    ("zero.mp4", None, "zero_bytes"),
    ("notes.mp4", None, "not_a_video"),
    ("noise.mkv", None, "not_a_video"),
    ("cut_header.mp4", None, "truncated"),
    ("cut_frames.mp4", None, "truncated"),
    ("audio_only.mp4", None, "no_video_stream"),
    ("good.mp4", (10.0, 20.0), "window_outside_video"),
]


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("name,window,reason", CASES)
def test_bad_video_has_its_reason_and_no_noise(bad, capfd, name, window, reason, decoder):
    assert reason in REASONS
    with pytest.raises(VideoError) as e:
        sample_video(bad / name, window, config=SamplingConfig(decoder=decoder))
    assert e.value.reason == reason, str(e.value)
    message = str(e.value)
    assert not [n for n in NOISE if n in message], message
    out, err = capfd.readouterr()
    assert err == "" and out == "", err


def test_eval_run_reports_reasons_without_noise(bad, tiny_model_dir, tmp_path):
    """The same through the command line: predictions carry the reasons, stderr carries no decoder output."""
    records = [Sample(video=n, query=f"q {n}", span=(0.5, 1.0), duration=2.0, source="t", window=w)
               for n, w, _ in CASES]
    write_split(records, tmp_path / "split", "test", window_mode="crop")
    r = subprocess.run([sys.executable, "-m", "tvgbench.cli.main", "eval", "run", "--split", str(tmp_path / "split"),
                        "--video-root", str(bad), "--model", str(tiny_model_dir), "--out", str(tmp_path / "run"),
                        "--max-new-tokens", "4", "--quiet"], capture_output=True, text=True)
    assert not [n for n in NOISE if n in r.stderr], r.stderr
    lines = [json.loads(x) for x in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    by_video = {rec.video: rec.qid for rec in records}
    reasons = {v: next(x["error"]["reason"] for x in lines if x["qid"] == q) for v, q in by_video.items()}
    assert reasons == {n: reason for n, _, reason in CASES}
