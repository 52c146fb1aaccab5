"""Decoding real files: the right frames, the right count and fps, windows, AVI/MKV determinism, failures."""

from __future__ import annotations

import numpy as np
import pytest

from test_video_support import counter_of, make_counter_video, make_testsrc, need_ffmpeg
from tvgbench.core.schema import Sample
from tvgbench.video import SamplingConfig, VideoError, plan_sampling, sample_for_record, sample_video
from tvgbench.video import decode
from tvgbench.video.sample import decode_with_fallback


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    need_ffmpeg()
    d = tmp_path_factory.mktemp("videos")
    return {
        # name: (path, frames, fps)
        "mp4_30": (make_counter_video(d / "c30.mp4", frames=300, fps="30"), 300, 30.0),
        "mp4_ntsc_short": (make_counter_video(d / "c_short.mp4", frames=45, fps="30000/1001"), 45, 30000 / 1001),
        "avi_25": (make_counter_video(d / "c25.avi", frames=200, fps="25"), 200, 25.0),
        "mkv_24": (make_counter_video(d / "c24.mkv", frames=170, fps="24"), 170, 24.0),
        "xvid_25": (make_counter_video(d / "bframes.xvid.avi", frames=300, fps="25"), 300, 25.0),
    }


@pytest.mark.parametrize("name", ["mp4_30", "mp4_ntsc_short", "avi_25", "mkv_24", "xvid_25"])
@pytest.mark.parametrize("decoder", ["decord", "pyav", "auto"])
def test_frames_counts_and_fps_are_exact(videos, name, decoder):
    path, frames, fps = videos[name]
    cfg = SamplingConfig(decoder=decoder)
    out = sample_video(path, config=cfg)
    plan = plan_sampling(frames, fps, 96, 128, None, cfg)
    assert out.meta["total_frames"] == frames
    assert out.meta["video_fps"] == pytest.approx(fps, rel=1e-9)
    assert out.frames.dtype == np.uint8
    assert out.frames.shape == (len(plan.indices), plan.height, plan.width, 3)
    assert out.sample_fps == plan.sample_fps
    assert out.meta["indices"] == list(plan.indices)
    # the picture itself says which source frame it is
    assert counter_of(out.frames).tolist() == [i % 25 for i in plan.indices]
    np.testing.assert_allclose(out.timestamps, np.asarray(plan.indices) / plan.video_fps)


def test_short_video_under_two_seconds(videos):
    path, frames, fps = videos["mp4_ntsc_short"]  # 45 frames ≈ 1.5 s
    out = sample_video(path)
    assert out.num_frames == 4
    assert out.sample_fps == pytest.approx(4 / 45 * fps)


@pytest.mark.parametrize("decoder", ["decord", "pyav"])
def test_window_is_cropped_and_times_are_relative(videos, decoder):
    path, frames, fps = videos["mp4_30"]
    out = sample_video(path, (2.5, 7.0), config=SamplingConfig(decoder=decoder))
    assert out.meta["start_frame"] == 75 and out.meta["end_frame"] == 210
    assert out.num_frames == 8  # 135 frames = 4.5 s -> 9 -> even 8
    assert out.meta["indices"][0] == 75 and out.meta["indices"][-1] == 209
    assert counter_of(out.frames).tolist() == [i % 25 for i in out.meta["indices"]]
    assert out.timestamps[0] == pytest.approx(0.0) and out.timestamps[-1] == pytest.approx(209 / 30 - 2.5)
    assert out.sample_fps == pytest.approx(8 / 135 * 30)


def test_window_not_cropped_for_pretrimmed(videos):
    path, frames, fps = videos["mp4_30"]
    out = sample_video(path, (2.5, 7.0), crop=False)
    assert out.meta["cropped"] is False and out.meta["window"] == [2.5, 7.0]
    assert out.meta["indices"][0] == 0 and out.meta["indices"][-1] == frames - 1


def test_sample_for_record_honours_split_and_record_modes(videos, tmp_path):
    path, frames, fps = videos["mp4_30"]
    rec = Sample(video=path.name, query="q", span=(0.5, 1.0), duration=4.5, source="t", window=(2.5, 7.0))
    root = path.parent
    assert sample_for_record(rec, root, window_mode="crop").meta["start_frame"] == 75
    assert sample_for_record(rec, root, window_mode="pretrimmed").meta["start_frame"] == 0
    trimmed = Sample(video=path.name, query="q", span=(0.5, 1.0), duration=4.5, source="t", window=(2.5, 7.0),
                     meta={"pretrimmed": True})
    raw = Sample(video=path.name, query="q", span=(0.5, 1.0), duration=4.5, source="t", window=(2.5, 7.0),
                 meta={"pretrimmed": False})
    assert sample_for_record(trimmed, root, window_mode="crop").meta["start_frame"] == 0
    assert sample_for_record(raw, root, window_mode="pretrimmed").meta["start_frame"] == 75


@pytest.mark.parametrize("name", ["avi_25", "mkv_24"])
def test_avi_and_mkv_are_decoded_twice_and_agree_with_pyav(videos, name):
    path, _, _ = videos[name]
    out = sample_video(path)
    assert out.meta["decoder"] == "decord" and out.meta["determinism_checked"] is True
    for decoder in ("pyav", "auto"):
        ref = sample_video(path, config=SamplingConfig(decoder=decoder))
        assert ref.meta["indices"] == out.meta["indices"]
        np.testing.assert_array_equal(out.frames, ref.frames)


def test_auto_gives_decords_pixels_on_busy_video(tmp_path):
    path = make_testsrc(tmp_path / "busy.mp4", seconds=4, fps="30", size=(360, 640))
    a = sample_video(path)
    b = sample_video(path, config=SamplingConfig(decoder="auto"))
    assert b.meta["pixels_from"] == "pyav" and b.meta["indices"] == a.meta["indices"]
    np.testing.assert_array_equal(a.frames, b.frames)


def test_decord_misread_of_bframe_avi_is_caught(videos):
    """decord's seeking get_batch returns wrong frames here, the same way every time; the sequential
    second decode disagrees with it, so PyAV decodes the file and the frames are the right ones."""
    import decord

    path, _, _ = videos["xvid_25"]
    out = sample_video(path, (1.3, 9.7))
    seeking = decord.VideoReader(str(path)).get_batch(out.meta["indices"]).asnumpy()
    assert counter_of(seeking).tolist() != [i % 25 for i in out.meta["indices"]]  # the decord bug is real
    assert out.meta["decoder"] == "pyav" and out.meta["fallback"] == "decord_disagrees"
    assert counter_of(out.frames).tolist() == [i % 25 for i in out.meta["indices"]]


def test_bframe_mpeg4_in_mp4_is_caught_too(tmp_path):
    path = make_counter_video(tmp_path / "m4.xvid.avi", frames=200, fps="25")
    mp4 = tmp_path / "m4.mp4"
    from test_video_support import ffmpeg

    ffmpeg("-i", str(path), "-c", "copy", str(mp4))  # same MPEG-4 Part 2 stream, MP4 container
    out = sample_video(mp4, (1.0, 7.0))
    assert decode.codec_name(mp4) == "mpeg4" and out.meta.get("fallback") == "decord_disagrees"
    assert counter_of(out.frames).tolist() == [i % 25 for i in out.meta["indices"]]


def test_mp4_is_not_decoded_twice_unless_asked(videos):
    path, _, _ = videos["mp4_30"]
    assert "determinism_checked" not in sample_video(path).meta
    assert sample_video(path, config=SamplingConfig(check_determinism="always")).meta["determinism_checked"] is True


def test_decord_disagreeing_with_itself_falls_back_to_pyav(videos):
    path, _, _ = videos["avi_25"]
    calls = {"n": 0}

    def shifted_sequential(p, indices, *, chunk=32):
        # a second pass that lands one frame late, as nondeterministic AVI decoding can
        calls["n"] += 1
        yield from decode.iter_decord_sequential(p, [min(i + 1, 199) for i in indices], chunk=chunk)

    frames, plan, info = decode_with_fallback(path, None, SamplingConfig(), iter_sequential=shifted_sequential)
    assert calls["n"] == 1
    assert info == {"decoder": "pyav", "determinism_checked": True, "fallback": "decord_disagrees"}
    assert counter_of(frames).tolist() == [i % 25 for i in plan.indices]


# ------------------------------------------------------------------ broken inputs


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    need_ffmpeg()
    d = tmp_path_factory.mktemp("broken")
    good = make_testsrc(d / "good.mp4", seconds=4, size=(120, 160))
    data = good.read_bytes()
    (d / "zero.mp4").write_bytes(b"")
    (d / "garbage.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    faststart = make_counter_video(d / "fs.mp4", frames=240, fps="30", size=(120, 160))
    fs = faststart.read_bytes()
    (d / "truncated_faststart.mp4").write_bytes(fs[: len(fs) // 3])
    (d / "truncated_tail.mp4").write_bytes(data[: len(data) // 2])  # moov atom at the end is lost
    return d


@pytest.mark.parametrize("name,reason", [
    ("absent.mp4", "missing"),
    ("zero.mp4", "zero_bytes"),
    ("garbage.mp4", "not_a_video"),
    ("truncated_faststart.mp4", "truncated"),
    ("truncated_tail.mp4", "truncated"),
])
@pytest.mark.parametrize("decoder", ["decord", "pyav", "auto"])
def test_broken_files_give_reasons(broken, name, reason, decoder):
    with pytest.raises(VideoError) as e:
        sample_video(broken / name, config=SamplingConfig(decoder=decoder))
    assert e.value.reason == reason, str(e.value)
    assert str(broken / name) in str(e.value)


def test_window_past_end_is_window_outside_video(broken):
    with pytest.raises(VideoError) as e:
        sample_video(broken / "good.mp4", (10.0, 20.0))
    assert e.value.reason == "window_outside_video"
