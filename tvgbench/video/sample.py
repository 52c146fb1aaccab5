"""``sample_video``: one video (or one window of it) -> uint8 frames, their times and ``sample_fps``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tvgbench.video import decode
from tvgbench.video.config import SamplingConfig, SamplingPlan, plan_sampling
from tvgbench.video.errors import VideoError
from tvgbench.video.proxy import proxy_indices
from tvgbench.video.resize import RESIZERS


@dataclass
class SampledVideo:
    """Frames as the model sees them. ``timestamps`` are seconds from the clip start (window start when cropped)."""

    frames: np.ndarray  # uint8 (T, H, W, 3)
    timestamps: np.ndarray  # float64 (T,)
    sample_fps: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def _plan(path: Path, probe: decode.VideoProbe, window, cfg: SamplingConfig) -> SamplingPlan:
    try:
        return plan_sampling(probe.total_frames, probe.fps, probe.height, probe.width, window, cfg)
    except ValueError as e:
        reason = "window_outside_video" if window is not None and "outside the video" in str(e) else "undecodable"
        raise VideoError(path, reason, str(e)) from None


def _decode_resized(chunks, plan: SamplingPlan, cfg: SamplingConfig, path: Path | None = None) -> np.ndarray:
    """Resize chunk by chunk into one preallocated (T, h, w, 3) uint8 array."""
    resize = RESIZERS[cfg.resize]
    out = np.empty((len(plan.indices), plan.height, plan.width, 3), dtype=np.uint8)
    filled = 0
    for chunk in chunks:
        out[filled:filled + len(chunk)] = resize(chunk, plan.height, plan.width)
        filled += len(chunk)
    if filled != len(plan.indices):
        raise VideoError(path or "video", "truncated", f"decoder returned {filled} of {len(plan.indices)} frames")
    return out


def _needs_determinism_check(path: Path, cfg: SamplingConfig) -> bool:
    if cfg.decoder == "pyav" or cfg.check_determinism == "never":
        return False
    if cfg.check_determinism == "always" or decode.container_kind(path) in ("avi", "mkv"):
        return True
    return decode.codec_name(path) not in decode.SEEK_SAFE_CODECS


def _pyav(path: Path, window, cfg: SamplingConfig):
    plan = _plan(path, decode.probe_pyav(path), window, cfg)
    return _decode_resized(decode.iter_pyav(path, plan.indices), plan, cfg, path), plan


def decode_with_fallback(path: Path, window, cfg: SamplingConfig, *, iter_decord=None, iter_sequential=None):
    """Decode with ``cfg.decoder``. With decord, AVI/MKV files are decoded twice — by seeking
    (``get_batch``) and by reading front to back — and PyAV decodes them when the two disagree.

    The reading functions are parameters so that the fallback rule itself is testable.
    Returns ``(frames, plan, info)``.
    """
    iter_decord = iter_decord or decode.iter_decord
    iter_sequential = iter_sequential or decode.iter_decord_sequential
    header = decode.read_header(path, cfg.max_source_pixels)  # bad files fail here, quietly, with their reason
    if cfg.decoder == "pyav":
        frames, plan = _pyav(path, window, cfg)
        return frames, plan, {"decoder": "pyav"}

    if header.pixels > decode.LARGE_FRAME_PIXELS:
        # decord's frame count and fps, PyAV's pixels a frame at a time: decord would hold full-size frames
        plan = _plan(path, decode.probe_decord_counts(path), window, cfg)
        frames = _decode_resized(decode.iter_pyav(path, plan.indices), plan, cfg, path)
        return frames, plan, {"decoder": cfg.decoder, "pixels_from": "pyav", "large_frames": True}

    if cfg.decoder == "auto":
        plan = _plan(path, decode.probe_decord_counts(path), window, cfg)
        try:
            frames = _decode_resized(decode.iter_pyav(path, plan.indices), plan, cfg, path)
            return frames, plan, {"decoder": "auto", "pixels_from": "pyav"}
        except VideoError:
            pass  # PyAV saw fewer frames than decord indexed (odd container): decord reads them
    reader = decode.open_decord(path)
    plan = _plan(path, decode.probe_decord(path, reader), window, cfg)
    frames = _decode_resized(iter_decord(path, plan.indices, reader=reader), plan, cfg, path)
    if not _needs_determinism_check(path, cfg):
        return frames, plan, {"decoder": "decord"}
    again = _decode_resized(iter_sequential(path, plan.indices), plan, cfg, path)
    if np.array_equal(frames, again):
        return frames, plan, {"decoder": "decord", "determinism_checked": True}
    frames, plan = _pyav(path, window, cfg)
    return frames, plan, {"decoder": "pyav", "determinism_checked": True, "fallback": "decord_disagrees"}


def decode_from_proxy(path: Path, proxy: Path, source: decode.VideoProbe | None, window, cfg: SamplingConfig):
    """Plan on the source's frame count and fps; take each sampled frame from the proxy nearest in time."""
    decode.check_file(proxy)
    source = source or decode.probe_decord(path)
    plan = _plan(path, source, window, cfg)
    if cfg.decoder in ("pyav", "auto"):
        pprobe = decode.probe_pyav(proxy)
        chunks = decode.iter_pyav(proxy, proxy_indices(plan.indices, plan.video_fps, pprobe))
    else:
        reader = decode.open_decord(proxy)
        pprobe = decode.probe_decord(proxy, reader)
        chunks = decode.iter_decord(proxy, proxy_indices(plan.indices, plan.video_fps, pprobe), reader=reader)
    return _decode_resized(chunks, plan, cfg, proxy), plan, {"decoder": cfg.decoder, "proxy": str(proxy)}


def sample_video(
    path: str | os.PathLike,
    window: tuple[float, float] | None = None,
    *,
    crop: bool = True,
    config: SamplingConfig = SamplingConfig(),
    proxy: str | os.PathLike | None = None,
    source_probe: decode.VideoProbe | None = None,
) -> SampledVideo:
    """Sample ``path`` at ``config.fps`` (Time-R1 / qwen-vl-utils rules), cropping to ``window`` if ``crop``.

    ``window=[start, end]`` seconds; with ``crop=False`` (the file already is the clip) it is ignored
    for decoding and only kept in ``meta``. With ``proxy`` (see :mod:`tvgbench.video.proxy`), pixels
    come from the proxy while counts, sizes, ``sample_fps`` and times are the source's
    (``source_probe`` spares opening the source). Raises :class:`VideoError` with a reason on any failure.
    """
    path = Path(path)
    used_window = tuple(float(v) for v in window) if (window is not None and crop) else None
    if proxy is not None:
        if source_probe is None:
            decode.check_file(path)
        frames, plan, info = decode_from_proxy(path, Path(proxy), source_probe, used_window, config)
    else:
        decode.check_file(path)
        frames, plan, info = decode_with_fallback(path, used_window, config)
    clip_start = used_window[0] if used_window is not None else 0.0
    indices = np.asarray(plan.indices, dtype=np.int64)
    timestamps = indices / plan.video_fps - clip_start
    meta = {
        "path": str(path),
        "window": list(window) if window is not None else None,
        "cropped": used_window is not None,
        "clip_start": clip_start,
        "total_frames": plan.total_frames,
        "video_fps": plan.video_fps,
        "start_frame": plan.start_frame,
        "end_frame": plan.end_frame,
        "effective_frames": plan.effective_frames,
        "indices": indices.tolist(),
        "nframes": len(plan.indices),
        "height": plan.height,
        "width": plan.width,
        "sample_fps": plan.sample_fps,
        "config": config.__dict__.copy(),
        **info,
    }
    return SampledVideo(frames=frames, timestamps=timestamps, sample_fps=plan.sample_fps, meta=meta)
