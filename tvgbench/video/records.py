"""From a canonical record to frames: which file, whether to crop, and the cache."""

from __future__ import annotations

import os
from pathlib import Path

from . import cache as cache_mod
from .config import SamplingConfig
from .decode import check_file
from .sample import SampledVideo, sample_video


def should_crop(sample, window_mode: str = "crop") -> bool:
    """Crop to the record's window unless its file already is the clip.

    A record's own ``meta["pretrimmed"]`` wins over the split's ``window_mode`` (TimeRFT mixes raw
    videos and pre-trimmed clips in one split; spec §15.1).
    """
    if sample.window is None:
        return False
    meta = sample.meta or {}
    if "pretrimmed" in meta:
        return not bool(meta["pretrimmed"])
    return window_mode == "crop"


def record_cache_path(sample, video_root, *, window_mode: str = "crop", config: SamplingConfig = SamplingConfig(),
                      cache_dir) -> Path:
    """Where this record's frames live in ``cache_dir`` (the file may not exist yet)."""
    path = Path(video_root) / sample.video
    check_file(path)
    window = sample.window if should_crop(sample, window_mode) else None
    key = cache_mod.entry_key(sample.video, os.stat(path).st_size, window, config)
    return cache_mod.entry_path(cache_dir, key)


def sample_for_record(
    sample,
    video_root: str | os.PathLike,
    *,
    window_mode: str = "crop",
    config: SamplingConfig = SamplingConfig(),
    cache_dir: str | os.PathLike | None = None,
) -> SampledVideo:
    """Frames for one canonical record: from ``cache_dir`` if present there, else decoded (and cached)."""
    path = Path(video_root) / sample.video
    crop = should_crop(sample, window_mode)
    entry = None
    if cache_dir is not None:
        entry = record_cache_path(sample, video_root, window_mode=window_mode, config=config, cache_dir=cache_dir)
        hit = cache_mod.read_entry(entry)
        if hit is not None:
            return hit
    sampled = sample_video(path, sample.window, crop=crop, config=config)
    sampled.meta["video"] = sample.video
    if entry is not None:
        cache_mod.write_entry(entry, sampled)
    return sampled
