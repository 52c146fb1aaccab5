"""Frame cache and ``timer1 data preprocess``: exact round trip, ≤ ¼ of Time-R1's float32 bytes,
resumable, atomic under kill -9, per-video failure reasons, parallel workers, proxies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from test_video_support import counter_of, make_counter_video, make_testsrc, need_ffmpeg
from tvgbench.core.schema import Sample
from tvgbench.core.splits import write_split
from tvgbench.video import SamplingConfig, record_cache_path, sample_for_record, sample_video
from tvgbench.video import cache as cache_mod
from tvgbench.video.preprocess import REPORT, preprocess

REPO = Path(__file__).resolve().parents[1]


def _rec(video, window=None, **meta):
    return Sample(video=video, query=f"q {video} {window}", span=(0.5, 1.0), duration=5.0, source="t",
                  window=window, meta=meta)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A split over real small videos plus every kind of broken file."""
    need_ffmpeg()
    root = tmp_path_factory.mktemp("videos")
    make_testsrc(root / "busy.mp4", seconds=6, fps="25", size=(240, 320))
    make_counter_video(root / "c30.mp4", frames=300, fps="30")
    make_counter_video(root / "c25.avi", frames=150, fps="25")
    (root / "zero.mp4").write_bytes(b"")
    (root / "garbage.mkv").write_bytes(os.urandom(20_000))
    fs = make_counter_video(root / "cut.mp4", frames=240, fps="30").read_bytes()
    (root / "cut.mp4").write_bytes(fs[: len(fs) // 3])
    records = [
        _rec("busy.mp4"), _rec("busy.mp4", (1.0, 4.0)), _rec("c30.mp4", (2.0, 6.0)),
        Sample(video="c30.mp4", query="another query, same window", span=(1.0, 2.0), duration=4.0, source="t",
               window=(2.0, 6.0)),
        _rec("c30.mp4"), _rec("c25.avi", (1.0, 5.0), pretrimmed=True), _rec("absent.mp4"), _rec("zero.mp4"),
        _rec("garbage.mkv"), _rec("cut.mp4"),
    ]
    split = tmp_path_factory.mktemp("split")
    write_split(records, split, "test", window_mode="crop")
    return split, root, records


def test_round_trip_is_exact_and_small(tmp_path):
    need_ffmpeg()
    video = make_testsrc(tmp_path / "v.mp4", seconds=5, fps="30", size=(360, 640))
    rec = _rec("v.mp4", (0.5, 4.5))
    fresh = sample_for_record(rec, tmp_path, cache_dir=tmp_path / "cache")
    entry = record_cache_path(rec, cache_dir=tmp_path / "cache")
    assert entry.is_file() and cache_mod.entry_is_complete(entry)
    hit = sample_for_record(rec, tmp_path, cache_dir=tmp_path / "cache")
    assert hit.meta["cache_entry"] == str(entry)
    np.testing.assert_array_equal(hit.frames, fresh.frames)
    np.testing.assert_array_equal(hit.timestamps, fresh.timestamps)
    assert hit.sample_fps == fresh.sample_fps and hit.meta["indices"] == fresh.meta["indices"]
    assert hit.frames.flags.writeable
    # Time-R1's fine-tune cache: torch.save([float32 T×3×H×W]) per video (preprocess_dataset.py)
    timer1_file = tmp_path / "video_inputs.pt"
    torch.save([torch.from_numpy(fresh.frames).permute(0, 3, 1, 2).float()], timer1_file)
    assert entry.stat().st_size <= timer1_file.stat().st_size / 4
    assert (entry.stat().st_mode & 0o444) == 0o444
    # served without the video (a cache copied elsewhere); re-decoded when the video changed
    video.rename(tmp_path / "moved.mp4")
    np.testing.assert_array_equal(sample_for_record(rec, tmp_path, cache_dir=tmp_path / "cache").frames, fresh.frames)
    make_testsrc(video, seconds=3, fps="30", size=(360, 640))
    changed = sample_for_record(rec, tmp_path, cache_dir=tmp_path / "cache")
    assert "cache_entry" not in changed.meta and changed.num_frames != fresh.num_frames


def test_damaged_or_partial_entries_are_not_read_as_valid(tmp_path):
    need_ffmpeg()
    make_counter_video(tmp_path / "v.mp4", frames=90, fps="30")
    rec = _rec("v.mp4")
    good = sample_for_record(rec, tmp_path, cache_dir=tmp_path / "c")
    entry = record_cache_path(rec, cache_dir=tmp_path / "c")
    blob = entry.read_bytes()
    entry.write_bytes(blob[:-100])  # as a crash mid-write would leave it, were writes not atomic
    assert not cache_mod.entry_is_complete(entry) and cache_mod.read_entry(entry) is None
    again = sample_for_record(rec, tmp_path, cache_dir=tmp_path / "c")  # recomputed and rewritten
    np.testing.assert_array_equal(again.frames, good.frames)
    assert cache_mod.entry_is_complete(entry)
    # a stray temp file beside it is never an entry
    (entry.parent / (entry.name + ".abc.tmp")).write_bytes(blob[:50])
    assert cache_mod.read_entry(entry.parent / (entry.name + ".abc.tmp")) is None


def test_preprocess_reports_failures_and_resumes(dataset, tmp_path):
    split, root, records = dataset
    cache = tmp_path / "cache"
    report = preprocess(split, root, cache, progress=False)
    # busy (2 entries: whole + window), c30 (window once for two records + whole), c25 (pretrimmed: whole),
    # garbage and cut (they exist, so they get entries, which fail); absent and zero fail before that
    assert report["records"] == 10 and report["entries"] == 7 and report["cached_now"] == 5
    reasons = {f["video"]: f["reason"] for f in report["failures"]}
    assert reasons == {"absent.mp4": "missing", "zero.mp4": "zero_bytes", "garbage.mkv": "not_a_video",
                       "cut.mp4": "truncated"}
    assert report["failures_by_reason"] == {"missing": 1, "not_a_video": 1, "truncated": 1, "zero_bytes": 1}
    assert json.loads((cache / REPORT).read_text())["cached_now"] == 5
    assert report["bytes_written"] <= report["float32_bytes_equivalent"] / 4
    # resume: nothing new to do, failures still reported
    again = preprocess(split, root, cache, progress=False)
    assert again["already_cached"] == 5 and again["cached_now"] == 0 and again["failed_entries"] == 4
    # the cache serves exactly what decoding gives, and the pretrimmed record was not cropped
    for rec in records[:6]:
        hit = sample_for_record(rec, root, cache_dir=cache)
        assert "cache_entry" in hit.meta
        direct = sample_for_record(rec, root)
        np.testing.assert_array_equal(hit.frames, direct.frames)
        assert hit.sample_fps == direct.sample_fps
    assert sample_for_record(records[5], root, cache_dir=cache).meta["cropped"] is False


def test_preprocess_removes_only_its_own_stale_temp_files(dataset, tmp_path):
    """--cache may name a folder holding a user's files: only the temp entries a killed run left go."""
    split, root, _ = dataset
    cache = tmp_path / "project"
    (cache / "notes").mkdir(parents=True)
    mine = [cache / "notes" / "draft.tmp", cache / "ab" / "ab12.txt.tmp"]
    mine[1].parent.mkdir()
    ours = cache / "cd" / ("cd" + "0" * 30 + cache_mod.SUFFIX + ".x1y2.tmp")  # as write_entry names its temp
    ours.parent.mkdir()
    old = time.time() - 3600
    for p in (*mine, ours):
        p.write_bytes(b"half")
        os.utime(p, (old, old))
    preprocess(split, root, cache, progress=False)
    assert all(p.read_bytes() == b"half" for p in mine)
    assert not ours.exists()


def test_cli_parallel_workers(dataset, tmp_path):
    from tvgbench.cli.main import cli

    split, root, _ = dataset
    res = CliRunner().invoke(cli, ["data", "preprocess", str(split), "--video-root", str(root), "--cache",
                                   str(tmp_path / "c"), "--workers", "2", "--quiet"])
    assert res.exit_code == 3, res.output  # partial: 4 entries failed, as `eval run` reports it
    assert "10 records -> 7 cache entries" in res.output and "5 new" in res.output
    assert "FAILED truncated   cut.mp4" in res.output and "FAILED missing     absent.mp4" in res.output
    bad = CliRunner().invoke(cli, ["data", "preprocess", str(tmp_path / "nope"), "--video-root", str(root),
                                   "--cache", str(tmp_path / "c")])
    assert bad.exit_code == 2 and bad.output.startswith("error: ") and len(bad.output.strip().splitlines()) == 1


def test_cli_exit_code_is_zero_only_when_nothing_failed(tmp_path):
    from tvgbench.cli.main import cli

    make_counter_video(tmp_path / "ok.mp4", frames=60, fps="30")
    write_split([_rec("ok.mp4")], tmp_path / "split", "test")
    args = ["data", "preprocess", str(tmp_path / "split"), "--video-root", str(tmp_path), "--quiet"]
    clean = CliRunner().invoke(cli, [*args, "--cache", str(tmp_path / "c1")])
    assert clean.exit_code == 0 and "0 failed" in clean.output, clean.output
    write_split([_rec("ok.mp4"), _rec("gone.mp4")], tmp_path / "split2", "test")
    args[2] = str(tmp_path / "split2")
    partial = CliRunner().invoke(cli, [*args, "--cache", str(tmp_path / "c2"), "--json"])
    assert partial.exit_code == 3 and json.loads(partial.output)["failed_records"] == 1, partial.output


def _split_of_counter_videos(tmp_path, n: int) -> tuple[Path, Path]:
    root = tmp_path / "v"
    root.mkdir()
    records = []
    for i in range(n):
        make_counter_video(root / f"c{i}.mp4", frames=240, fps="30", size=(240, 320))
        records.append(_rec(f"c{i}.mp4"))
    write_split(records, tmp_path / "split", "test")
    return tmp_path / "split", root


@pytest.mark.parametrize("when", ["workers starting", "first entry written"])
def test_ctrl_c_with_workers_is_one_line_and_exit_130(tmp_path, when):
    """SIGINT to the whole process group (what a terminal's Ctrl-C does): the workers must not print
    their own KeyboardInterrupt tracebacks, the pool no InvalidStateError; one line, exit 130, soon."""
    need_ffmpeg()
    split, root = _split_of_counter_videos(tmp_path, 6)
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "tvgbench.cli.main", "data", "preprocess", str(split), "--video-root", str(root),
           "--cache", str(cache), "--workers", "2", "--quiet", "--resize", "torch"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    ready = (lambda: (cache / "cache.json").exists()) if when == "workers starting" else (
        lambda: bool(list(cache.glob("*/*.t1v"))))
    deadline = time.time() + 120
    while time.time() < deadline and not ready() and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.3 if when == "workers starting" else 0.0)  # workers are spawning / importing torch now
    os.killpg(proc.pid, signal.SIGINT)
    t0 = time.time()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["error: interrupted"], err
    assert time.time() - t0 < 10
    report = json.loads((cache / REPORT).read_text())
    assert report["interrupted"] is True
    assert all(cache_mod.read_entry(p) is not None for p in cache.glob("*/*.t1v"))


@pytest.mark.slow
def test_kill_minus_nine_leaves_only_valid_entries(tmp_path):
    need_ffmpeg()
    root = tmp_path / "v"
    root.mkdir()
    records = []
    for i in range(8):
        make_counter_video(root / f"c{i}.mp4", frames=240 + 30 * i, fps="30", size=(240, 320))
        records.append(_rec(f"c{i}.mp4"))
    write_split(records, tmp_path / "split", "test")
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "tvgbench.cli.main", "data", "preprocess", str(tmp_path / "split"), "--video-root",
           str(root), "--cache", str(cache), "--quiet", "--resize", "torch"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(cache.glob("*/*.t1v")) and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = list(cache.glob("*/*.t1v"))
    assert all(cache_mod.read_entry(p) is not None for p in done)
    report = preprocess(tmp_path / "split", root, cache, config=SamplingConfig(resize="torch"), progress=False)
    assert report["already_cached"] == len(done) and report["already_cached"] + report["cached_now"] == 8


def test_proxies_keep_counts_sizes_and_time_axis(tmp_path):
    need_ffmpeg()
    root = tmp_path / "v"
    root.mkdir()
    make_counter_video(root / "c.mp4", frames=600, fps="30", size=(480, 640))  # 20 s
    rec = _rec("c.mp4", (3.0, 17.0))
    write_split([rec], tmp_path / "split", "test")
    report = preprocess(tmp_path / "split", root, tmp_path / "cache", proxy_dir=tmp_path / "px", proxy_limits=(120, 4.0),
                        progress=False)
    assert report["cached_now"] == 1 and report["failed_entries"] == 0
    manifest = json.loads((tmp_path / "px" / "proxies.json").read_text())
    proxy = manifest["c.mp4"]["proxy"]
    assert proxy["fps"] == 4.0 and min(proxy["height"], proxy["width"]) == 120
    assert abs(proxy["total_frames"] / proxy["fps"] - 20.0) <= 0.25
    cached = sample_for_record(rec, root, cache_dir=tmp_path / "cache")
    source = sample_video(root / "c.mp4", (3.0, 17.0))
    assert cached.meta["proxy"].endswith("c.mp4")
    assert cached.frames.shape == source.frames.shape and cached.sample_fps == source.sample_fps
    np.testing.assert_array_equal(cached.timestamps, source.timestamps)
    # each proxy frame shows the source at (nearly) the same time: compare frame counters mod 25
    shown, wanted = counter_of(cached.frames), np.asarray(source.meta["indices"]) % 25
    circular = np.minimum((shown - wanted) % 25, (wanted - shown) % 25)
    # nearest proxy frame: ≤ 1/8 s (3.75 source frames) away, and it shows the source frame at or just before it
    assert circular.max() <= 5
