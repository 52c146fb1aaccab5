"""Which records are cropped, on the real Time-R1 releases: the window rule per split and per record."""

from __future__ import annotations

from tvgbench.core.schema import Sample
from tvgbench.data.sources import ingest
from tvgbench.core.splits import load_split
from tvgbench.video import SamplingConfig, should_crop
from tvgbench.video.cache import entry_key


def test_tvgbench_crops_exactly_its_252_windowed_records(tvgbench_split):
    sp = load_split(tvgbench_split)
    assert sp.window_mode == "crop"
    cropped = [s for s in sp.samples if should_crop(s, sp.window_mode)]
    assert len(cropped) == 252 == sum(s.window is not None for s in sp.samples)
    # the same video under different windows gets different cache entries (52 such videos in TVGBench)
    by_video: dict[str, set] = {}
    for s in cropped:
        by_video.setdefault(s.video, set()).add(entry_key(s.video, s.window, SamplingConfig()))
    assert sum(len(keys) > 1 for keys in by_video.values()) == 52


def test_timerft_pretrimmed_clips_are_decoded_whole(timerft_json):
    res = ingest("timer1-timerft", timerft_json)
    windowed = [s for s in res.samples if s.window is not None]
    pretrimmed = [s for s in windowed if s.meta.get("pretrimmed")]
    assert len(pretrimmed) == 509  # InternVid-VTime clips whose file name carries the window
    assert not any(should_crop(s, res.window_mode) for s in pretrimmed)
    assert all(should_crop(s, res.window_mode) for s in windowed if not s.meta.get("pretrimmed"))


def test_record_flag_wins_over_split_mode():
    base = dict(video="v.mp4", query="q", span=(1.0, 2.0), duration=10.0, source="t", window=(5.0, 15.0))
    assert should_crop(Sample(**base), "crop") and not should_crop(Sample(**base), "pretrimmed")
    assert not should_crop(Sample(**base, meta={"pretrimmed": True}), "crop")
    assert should_crop(Sample(**base, meta={"pretrimmed": False}), "pretrimmed")
    assert not should_crop(Sample(**{**base, "window": None}), "crop")
