"""Helpers for the video tests (no tests here): make small real videos with the ffmpeg binary.

"Counter" videos encode the frame number in the picture: frame n is a flat grey whose luma is
``16 + 8 * (n % 25)``, so a decoded frame tells which source frame it was (mod 25).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

COUNTER_PERIOD = 25

CODECS = {
    # suffix -> ffmpeg output args (lossless or near-lossless so grey levels survive)
    ".mp4": ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
    ".avi": ["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p"],
    ".mkv": ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    # MPEG-4 Part 2 with B-frames in AVI (DivX/Xvid style, as in older datasets): decord's seeking misreads it
    ".xvid.avi": ["-c:v", "mpeg4", "-q:v", "2", "-bf", "2"],
}


def need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_counter_video(path: Path, *, frames: int, fps: str = "30", size: tuple[int, int] = (96, 128)) -> Path:
    """A video of ``frames`` frames whose frame n has luma 16 + 8·(n % 25). ``size`` is (h, w)."""
    need_ffmpeg()
    h, w = size
    src = f"color=c=black:s={w}x{h}:r={fps},trim=end_frame={frames},geq=lum='16+8*mod(N\\,{COUNTER_PERIOD})':cb=128:cr=128"
    codec = ".xvid.avi" if path.name.endswith(".xvid.avi") else path.suffix
    ffmpeg("-f", "lavfi", "-i", src, *CODECS[codec], str(path))
    return path


def make_testsrc(path: Path, *, seconds: float, fps: str = "30", size: tuple[int, int] = (360, 640)) -> Path:
    """A busy test pattern (sharp coloured edges: a hard case for resizing)."""
    need_ffmpeg()
    h, w = size
    args = CODECS.get(path.suffix, CODECS[".mp4"])
    if path.suffix == ".mp4":
        args = ["-c:v", "libx264", "-crf", "18", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={w}x{h}:r={fps}:d={seconds}", *args, str(path))
    return path


def counter_of(frames: np.ndarray) -> np.ndarray:
    """Recover ``n % 25`` from decoded counter frames (RGB ≈ full-range of luma 16+8k)."""
    grey = frames.reshape(len(frames), -1).mean(axis=1)
    luma = grey * 219.0 / 255.0 + 16.0
    return np.rint((luma - 16.0) / 8.0).astype(int) % COUNTER_PERIOD
