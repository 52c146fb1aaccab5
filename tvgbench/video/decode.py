"""Decoders: decord (default) and PyAV (fallback), both returning uint8 (T, H, W, 3) RGB frames.

Every failure is raised as :class:`VideoError` with a reason, so a preprocessing run can report it
and go on. Frame ``i`` means the i-th frame in presentation order in both decoders; the frame count
and the average fps come from the decoder that decodes (as in the reference, decord's ``len`` and
``get_avg_fps``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tvgbench.video.errors import VideoError

# Container signatures whose seeking decord gets wrong now and then (AVI has no reliable index).
_AVI_MAGIC = (b"RIFF", b"AVI ")
_MKV_MAGIC = b"\x1a\x45\xdf\xa3"
# Messages from FFmpeg that mean "the file stops early" rather than "this is not a video".
_TRUNCATION_HINTS = ("moov atom not found", "truncat", "end of file", "partial file", "invalid nal", "premature")


@dataclass(frozen=True)
class VideoProbe:
    total_frames: int
    fps: float
    height: int
    width: int
    decoder: str


def check_file(path: Path) -> None:
    """Fail fast with the right reason for files that cannot be videos."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise VideoError(path, "missing") from None
    except OSError as e:
        raise VideoError(path, "undecodable", e.strerror or str(e)) from None
    if not path.is_file():
        raise VideoError(path, "missing", "not a regular file")
    if size == 0:
        raise VideoError(path, "zero_bytes")


def container_kind(path: Path) -> str:
    """'avi', 'mkv' or 'other', from the file's first bytes (not its name: proxies may be renamed)."""
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] == _AVI_MAGIC[0] and head[8:12] == _AVI_MAGIC[1]:
        return "avi"
    if head[:4] == _MKV_MAGIC:
        return "mkv"
    return "other"


# Codecs whose seeking decord was checked to get right (tests/test_video_decode.py); any other codec,
# and any AVI/MKV file, is decoded a second time front to back to catch misread frames.
SEEK_SAFE_CODECS = ("h264", "vp9")


def codec_name(path: Path) -> str:
    """The video codec's name from the container header ('' if PyAV cannot tell)."""
    import av

    try:
        with av.open(str(path)) as container:
            return container.streams.video[0].codec_context.name if container.streams.video else ""
    except Exception:
        return ""


def _classify(path: Path, err: BaseException, default: str = "undecodable") -> VideoError:
    """FFmpeg's message -> a reason. ``default="truncated"`` for failures after the header was read:
    a file whose header opens but whose frames do not is almost always cut short."""
    msg = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    reason = "truncated" if any(h in msg.lower() for h in _TRUNCATION_HINTS) else default
    return VideoError(path, reason, msg)


# ---------------------------------------------------------------- decord

_thread_settings = threading.local()


def set_decoder_threads(n: int) -> None:
    """FFmpeg threads for the decord readers this thread opens (0: FFmpeg picks, i.e. all cores; PyAV keeps its own).

    A decode pool calls this with 1 in each worker: the pool already keeps the cores busy, and
    workers × all-core decoders would oversubscribe them (measured in bench/bench_harness.py).
    Frame-threaded decoding is bit-exact, so this changes speed, never pixels.
    """
    _thread_settings.threads = max(0, int(n))


def decoder_threads() -> int:
    return getattr(_thread_settings, "threads", 0)


def _decord_reader(path: Path, width: int = -1, height: int = -1):
    import decord

    try:
        return decord.VideoReader(str(path), width=width, height=height, num_threads=decoder_threads())
    except Exception as e:  # decord raises RuntimeError/DECORDError/AssertionError with FFmpeg's text
        raise _diagnose_open_failure(path, e) from None


def _diagnose_open_failure(path: Path, err: BaseException) -> VideoError:
    """decord indexes every packet when it opens a file, so a cut-off file fails right there.

    If PyAV can still read the container header and finds a video stream, the data after it is what
    is missing: the file is truncated. Otherwise it is judged on FFmpeg's message.
    """
    import av

    try:
        with av.open(str(path)) as container:
            if container.streams.video:
                return _classify(path, err, default="truncated")
    except Exception as av_err:
        return _classify(path, av_err)
    return _classify(path, err)


def probe_decord(path: Path, reader=None) -> VideoProbe:
    vr = reader if reader is not None else _decord_reader(path)
    total = len(vr)
    fps = float(vr.get_avg_fps())
    try:
        first = vr[0].asnumpy()
    except Exception as e:
        raise _classify(path, e, default="truncated") from None
    return VideoProbe(total, fps, int(first.shape[0]), int(first.shape[1]), "decord")


def probe_decord_counts(path: Path) -> VideoProbe:
    """decord's frame count and fps with the frame size from PyAV's header, without decoding a frame.

    The reader is dropped at once: decord starts decoding (and converting every frame to RGB) in a
    background thread as soon as it opens, which would compete with the decoder actually used.
    """
    vr = _decord_reader(path)
    total, fps = len(vr), float(vr.get_avg_fps())
    del vr
    container = _open_av(path)
    try:
        ctx = container.streams.video[0].codec_context
        height, width = int(ctx.height), int(ctx.width)
    finally:
        container.close()
    if not height or not width:
        raise VideoError(path, "undecodable", "no frame size in the stream header")
    return VideoProbe(total, fps, height, width, "decord")


CHUNK = 32  # frames decoded at full resolution at a time (bounds memory for long 1080p videos)


def _chunks(indices, size: int):
    indices = list(indices)
    for i in range(0, len(indices), size):
        yield indices[i:i + size]


def open_decord(path: Path):
    return _decord_reader(path)


def iter_decord(path: Path, indices, *, reader=None, chunk: int = CHUNK):
    """Full-resolution uint8 frames at ``indices``, ``chunk`` frames at a time (one reader, in order)."""
    vr = reader if reader is not None else _decord_reader(path)
    try:
        for part in _chunks(indices, chunk):
            yield np.ascontiguousarray(vr.get_batch(part).asnumpy(), dtype=np.uint8)
    except VideoError:
        raise
    except Exception as e:
        raise _classify(path, e, default="truncated") from None


def iter_decord_sequential(path: Path, indices, *, chunk: int = CHUNK):
    """The same frames read front to back with ``next()`` on a fresh reader (no seeking at all).

    decord's ``get_batch`` (and even ``skip_frames``) return wrong frames on some AVI files (e.g.
    MPEG-4 Part 2 with B-frames) — the same wrong frames every time, so decoding twice the same way
    would not notice; reading every frame in order is the independent second decode.
    """
    vr = _decord_reader(path)
    current, last, pending = -1, None, []
    try:
        for idx in indices:
            while current < idx:
                frame = vr.next()
                current += 1
                if current == idx:
                    last = frame.asnumpy()
            pending.append(last)
            if len(pending) >= chunk:
                yield np.stack(pending)
                pending = []
    except VideoError:
        raise
    except StopIteration:
        raise VideoError(path, "truncated", f"the file ends before frame {idx}") from None
    except Exception as e:
        raise _classify(path, e, default="truncated") from None
    if pending:
        yield np.stack(pending)


# ---------------------------------------------------------------- PyAV


def _open_av(path: Path):
    import av

    try:
        container = av.open(str(path))
    except Exception as e:  # av.error.InvalidDataError and friends
        raise _classify(path, e) from None
    if not container.streams.video:
        container.close()
        raise VideoError(path, "undecodable", "no video stream")
    return container


def probe_pyav(path: Path) -> VideoProbe:
    """Frame count = number of non-empty video packets (what decord indexes), fps = average rate."""
    container = _open_av(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        count = 0
        for packet in container.demux(stream):
            if packet.size:
                count += 1
        width, height = stream.codec_context.width, stream.codec_context.height
    except Exception as e:
        raise _classify(path, e) from None
    finally:
        container.close()
    if count == 0 or not rate:
        raise VideoError(path, "undecodable", "no decodable video frames")
    return VideoProbe(count, float(rate), int(height), int(width), "pyav")


def iter_pyav(path: Path, indices, *, chunk: int = CHUNK):
    """Decode sequentially and yield the full-resolution frames at ``indices`` (duplicates allowed)."""
    wanted = list(indices)
    positions: dict[int, int] = {}
    for idx in wanted:
        positions[idx] = positions.get(idx, 0) + 1
    last = max(wanted)
    pending: list[np.ndarray] = []
    produced = 0
    container = _open_av(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i in positions:
                arr = frame.to_ndarray(format="rgb24")
                pending.extend([arr] * positions[i])
                if len(pending) >= chunk:
                    produced += len(pending)
                    yield np.stack(pending)
                    pending = []
            if i >= last:
                break
    except VideoError:
        raise
    except Exception as e:
        raise _classify(path, e, default="truncated") from None
    finally:
        container.close()
    produced += len(pending)
    if produced < len(wanted):
        raise VideoError(path, "truncated", f"{len(wanted) - produced} of {len(wanted)} sampled frames could not be decoded")
    if pending:
        yield np.stack(pending)
