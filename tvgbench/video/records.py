"""From a canonical record to frames: which file, whether to crop, and the cache."""

from __future__ import annotations

import os
from pathlib import Path

from tvgbench.video import cache as cache_mod
from tvgbench.video.config import SamplingConfig
from tvgbench.video.decode import check_file
from tvgbench.video.sample import SampledVideo, sample_video


def should_crop(sample, window_mode: str = "crop") -> bool:
    """Crop to the record's window unless its file already is the clip.

    A record's own ``meta["pretrimmed"]`` wins over the split's ``window_mode`` (TimeRFT mixes raw
    videos and pre-trimmed clips in one split: 509 InternVid-VTime files are clips, 62 are raw).
    """
    if sample.window is None:
        return False
    meta = sample.meta or {}
    if "pretrimmed" in meta:
        return not bool(meta["pretrimmed"])
    return window_mode == "crop"


def record_cache_path(sample, *, window_mode: str = "crop", config: SamplingConfig = SamplingConfig(),
                      cache_dir) -> Path:
    """Where this record's frames live in ``cache_dir`` (the file may not exist yet)."""
    window = sample.window if should_crop(sample, window_mode) else None
    return cache_mod.entry_path(cache_dir, cache_mod.entry_key(sample.video, window, config))


def _source_size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def sample_for_record(
    sample,
    video_root: str | os.PathLike,
    *,
    window_mode: str = "crop",
    config: SamplingConfig = SamplingConfig(),
    cache_dir: str | os.PathLike | None = None,
) -> SampledVideo:
    """Frames for one canonical record: from ``cache_dir`` if present there, else decoded (and cached).

    A cached entry is served even when the video itself is absent (a cache copied to a GPU box); when
    the video is present but its size differs from the one the entry was made from, it is re-decoded.
    """
    path = Path(video_root) / sample.video
    crop = should_crop(sample, window_mode)
    entry = None
    size = _source_size(path)
    if cache_dir is not None:
        entry = record_cache_path(sample, window_mode=window_mode, config=config, cache_dir=cache_dir)
        hit = cache_mod.read_entry(entry)
        if hit is not None and (size is None or hit.meta.get("source_size") in (None, size)):
            return hit
    check_file(path)
    sampled = sample_video(path, sample.window, crop=crop, config=config)
    sampled.meta.update(video=sample.video, source_size=os.stat(path).st_size)
    if entry is not None:
        cache_mod.write_entry(entry, sampled)
    return sampled
