"""Sampling parameters and the qwen-vl-utils / Time-R1 formulas (``vision_process.py``), as small pure functions.

Everything here is plain Python so that the frame count, the frame size and ``sample_fps`` of any
video can be computed (and tested) without decoding it. Only :func:`frame_indices` needs torch,
because the reference rounds a float32 ``torch.linspace`` and a float64 one can round differently.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields

from tvgbench.core.errors import Timer1Error

MAX_ASPECT_RATIO = 200  # smart_resize refuses anything more elongated (as the reference does)
DECODERS = ("decord", "pyav", "auto")
RESIZE_MODES = ("fast", "torch")
_NOT_IN_OUTPUT_KEY = ("check_determinism", "max_source_pixels")  # settings that never change a frame


@dataclass(frozen=True)
class SamplingConfig:
    """How a video becomes frames. Defaults are Time-R1's (fps 2, 3584·28·28 total pixels, 16·28·28 min).

    ``resize="fast"`` resizes with torch's uint8 kernel (within 1.0 mean abs of torch's float bicubic
    antialias, tested); ``resize="torch"`` resizes exactly as the reference does.
    ``check_determinism="auto"`` decodes AVI/MKV files, and codecs other than h264/vp9, a second time
    front to back with decord and uses PyAV when the two decodes disagree.
    ``decoder="auto"`` plans on decord's frame count and fps (as the reference does) but takes the
    pixels from PyAV's sequential decode, which converts only the sampled frames to RGB (decord
    converts every decoded frame) and has no seeking to get wrong; it falls back to decord if PyAV
    cannot deliver those frames. Pixels equal decord's (tests/test_video_decode.py).
    """

    # the help texts are the command-line options' (timer1 eval run, data preprocess, predict)
    fps: float = field(default=2.0, metadata={"help": "Frames per second to sample."})
    min_frames: int = 4
    max_frames: int = field(default=768, metadata={"help": "Most frames sampled from one clip."})
    frame_factor: int = 2
    image_factor: int = 28
    min_pixels: int = field(default=16 * 28 * 28, metadata={"help": "Per-frame pixel floor."})
    total_pixels: int = field(default=3584 * 28 * 28,
                              metadata={"help": "Pixel budget over all frames (Time-R1: 3584*28*28)."})
    max_pixels: int = field(default=768 * 28 * 28, metadata={"help": "Per-frame pixel cap."})
    decoder: str = field(default="decord", metadata={"help": "Video decoder."})
    resize: str = field(default="fast", metadata={
        "help": "fast: torch's uint8 kernel (within 1.0 mean abs of the reference); "
                "torch: full frames + torch bicubic antialias (Time-R1 exact)."})
    check_determinism: str = "auto"  # "auto" (AVI/MKV only) | "always" | "never"
    # frames larger than this are refused ("too_large") before anything is decoded: decoding holds a few
    # source frames at a time, so this bounds a decode's memory whatever file a record points to
    max_source_pixels: int = field(default=8192 * 8192, metadata={
        "help": "Refuse videos whose frames have more pixels than this (reason too_large)."})

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise Timer1Error(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.resize not in RESIZE_MODES:
            raise Timer1Error(f"resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if self.check_determinism not in ("auto", "always", "never"):
            raise Timer1Error(f"check_determinism must be auto, always or never, got {self.check_determinism!r}")
        if self.max_source_pixels < 1:
            raise Timer1Error(f"max_source_pixels must be positive, got {self.max_source_pixels}")
        if self.fps <= 0 or self.min_frames < 1 or self.max_frames < self.min_frames:
            raise Timer1Error(f"invalid frame sampling settings: fps={self.fps}, frames=[{self.min_frames}, {self.max_frames}]")

    def output_key(self) -> str:
        """A short hash of the settings that change the output (cache keys, run records).

        "auto" and "decord" define the same output (decord's frame count, fps and frames; "auto" only
        reads those frames faster), so they share cache entries. ``max_source_pixels`` only refuses
        videos, it never changes a frame.
        """
        keyed = {k: v for k, v in asdict(self).items() if k not in _NOT_IN_OUTPUT_KEY}
        if keyed["decoder"] == "auto":
            keyed["decoder"] = "decord"
        blob = json.dumps(keyed, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def field_default(cls, name: str):
    """The default of dataclass ``cls``'s field ``name`` (so command-line options never retype it)."""
    f = next(f for f in fields(cls) if f.name == name)
    return f.default_factory() if f.default is MISSING else f.default


def field_help(cls, name: str) -> str | None:
    """The ``metadata={"help": ...}`` of dataclass ``cls``'s field ``name`` (the option's help text)."""
    return next(f for f in fields(cls) if f.name == name).metadata.get("help")


def round_by_factor(x: float, factor: int) -> int:
    return round(x / factor) * factor


def ceil_by_factor(x: float, factor: int) -> int:
    return math.ceil(x / factor) * factor


def floor_by_factor(x: float, factor: int) -> int:
    return math.floor(x / factor) * factor


def frame_range(total_frames: int, video_fps: float, window: tuple[float, float] | None) -> tuple[int, int]:
    """``[start_frame, end_frame)`` of the clip, as Time-R1's windowed decord reader computes it.

    ``int()`` truncation and the ``end == start -> start + 1`` rule are the reference's. Without a
    window the whole file is used (qwen-vl-utils), which avoids Time-R1's float round trip
    ``int(total/fps*fps)`` that can drop the last frame. Raises ``ValueError`` for an empty range.
    """
    if window is None:
        return 0, total_frames
    video_start, video_end = window
    start_frame = max(0, int(video_start * video_fps))
    end_frame = min(total_frames, int(video_end * video_fps))
    if end_frame == start_frame:
        end_frame = min(total_frames, start_frame + 1)
    if end_frame <= start_frame:
        raise ValueError(
            f"window [{video_start}, {video_end}] s is outside the video ({total_frames} frames at {video_fps:.3f} fps)"
        )
    return start_frame, end_frame


def smart_nframes(effective_frames: int, video_fps: float, cfg: SamplingConfig) -> int:
    """Number of frames to sample: ``fps`` per second, clamped to [min, max] and the clip, even."""
    min_frames = ceil_by_factor(cfg.min_frames, cfg.frame_factor)
    max_frames = floor_by_factor(min(cfg.max_frames, effective_frames), cfg.frame_factor)
    nframes = effective_frames / video_fps * cfg.fps
    nframes = min(min(max(nframes, min_frames), max_frames), effective_frames)
    nframes = floor_by_factor(nframes, cfg.frame_factor)
    if not (cfg.frame_factor <= nframes <= effective_frames):
        raise ValueError(f"a clip of {effective_frames} frame(s) is too short to sample {cfg.frame_factor} frames")
    return int(nframes)


def frame_indices(start_frame: int, end_frame: int, nframes: int) -> list[int]:
    """``round(linspace(start, end-1, n))`` in float32, exactly as qwen-vl-utils computes it."""
    import torch

    return torch.linspace(start_frame, end_frame - 1, nframes).round().long().tolist()


def sample_fps_of(nframes: int, effective_frames: int, video_fps: float) -> float:
    """The fps the model is told: ``nframes / effective_frames * video_fps`` (≈ fps up to the frame cap)."""
    return nframes / max(effective_frames, 1e-6) * video_fps


def frame_pixel_budget(nframes: int, cfg: SamplingConfig) -> int | float:
    """Per-frame max pixels: an even share of ``total_pixels`` (per 2 frames), floored at 1.05·min."""
    return max(min(cfg.max_pixels, cfg.total_pixels / nframes * cfg.frame_factor), int(cfg.min_pixels * 1.05))


def smart_resize(height: int, width: int, factor: int, min_pixels: float, max_pixels: float) -> tuple[int, int]:
    """Nearest size with both sides multiples of ``factor`` and area within [min_pixels, max_pixels]."""
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):.1f} is above {MAX_ASPECT_RATIO}")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, floor_by_factor(height / beta, factor))
        w_bar = max(factor, floor_by_factor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return int(h_bar), int(w_bar)


@dataclass(frozen=True)
class SamplingPlan:
    """What will be decoded: the frame range, the frame indices, the output size and ``sample_fps``."""

    total_frames: int
    video_fps: float
    start_frame: int
    end_frame: int
    indices: tuple[int, ...]
    height: int
    width: int
    sample_fps: float

    @property
    def effective_frames(self) -> int:
        return self.end_frame - self.start_frame


def plan_sampling(
    total_frames: int, video_fps: float, height: int, width: int,
    window: tuple[float, float] | None, cfg: SamplingConfig,
) -> SamplingPlan:
    """All reference formulas in one place: frame range -> nframes -> indices -> size -> sample_fps."""
    if total_frames < 1 or not video_fps or video_fps <= 0 or not math.isfinite(video_fps):
        raise ValueError(f"video reports {total_frames} frames at {video_fps} fps")
    start_frame, end_frame = frame_range(total_frames, video_fps, window)
    effective = end_frame - start_frame
    nframes = smart_nframes(effective, video_fps, cfg)
    out_h, out_w = smart_resize(height, width, cfg.image_factor, cfg.min_pixels, frame_pixel_budget(nframes, cfg))
    return SamplingPlan(
        total_frames=total_frames, video_fps=float(video_fps), start_frame=start_frame, end_frame=end_frame,
        indices=tuple(frame_indices(start_frame, end_frame, nframes)), height=out_h, width=out_w,
        sample_fps=sample_fps_of(nframes, effective, video_fps),
    )
