"""Decoders: decord (default) and PyAV (fallback), both returning uint8 (T, H, W, 3) RGB frames.

Every failure is raised as :class:`VideoError` with a reason, so a preprocessing run can report it
and go on. Frame ``i`` means the i-th frame in presentation order in both decoders; the frame count
and the average fps come from the decoder that decodes (as in the reference, decord's ``len`` and
``get_avg_fps``).
"""

from __future__ import annotations

import os
import re
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
# First bytes of containers FFmpeg reads: such a file whose header cannot be read was cut short.
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
_CONTAINER_STARTS = (b"RIFF", _MKV_MAGIC, b"OggS", b"FLV\x01", b"\x00\x00\x01\xba")
# Frames above this many pixels never go through decord's get_batch, which holds several full-size RGB
# frames per decoded frame (measured: 4.2-6.9 GB for 300 frames of 3840x3840, one frame per call): their
# pixels come from PyAV's sequential decode (the same pixels, as with decoder="auto"), a frame at a time.
LARGE_FRAME_PIXELS = 1920 * 1088
CHUNK_BYTES = 64 << 20  # full-size RGB frames held at a time by the PyAV path (at most CHUNK frames)


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


@dataclass(frozen=True)
class VideoHeader:
    """What the container header says, read by PyAV before any decoder touches the file."""

    height: int
    width: int
    codec: str

    @property
    def pixels(self) -> int:
        return self.height * self.width


def read_header(path: Path, max_pixels: int) -> VideoHeader:
    """The first stream's frame size and codec; refuses frames above ``max_pixels`` ("too_large").

    PyAV reads it quietly (FFmpeg's logging is off there), so a file no decoder can use fails here with
    its reason instead of through decord, which prints FFmpeg's and its own messages on stderr.
    """
    container = _open_av(path)
    try:
        ctx = container.streams.video[0].codec_context
        header = VideoHeader(int(ctx.height or 0), int(ctx.width or 0), ctx.name or "")
    finally:
        container.close()
    if not header.pixels:
        raise VideoError(path, "undecodable", "no frame size in the stream header")
    if header.pixels > max_pixels:
        raise VideoError(path, "too_large", f"{header.width}x{header.height} frames are above max_source_pixels="
                                            f"{max_pixels}")
    return header


def _looks_like_container(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
    return head[4:8] in _ISO_BOXES or head.startswith(_CONTAINER_STARTS)


def _open_failure(path: Path) -> VideoError:
    """av.open failed: a known container cut short is "truncated", anything else "not_a_video"."""
    if _looks_like_container(path):
        return VideoError(path, "truncated", "it starts as a video container but its header cannot be read")
    return VideoError(path, "not_a_video", "FFmpeg finds no video container in it")


# decord's "[10:26:53] /github/workspace/src/video/video_reader.cc:486: " prefix and PyAV's "[Errno N] ":
# where a message was raised, not what went wrong
_DECODER_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: (Error: |ERROR |Check failed: )?|\[Errno -?\d+\] ")
_AVERROR_INVALIDDATA = "1094995529"


def _first_line(err: BaseException) -> str:
    """The first line of a decoder's message, without where it came from (a reason's detail)."""
    text = str(err).strip()
    if not text:
        return type(err).__name__
    line = _DECODER_PREFIX.sub("", text.splitlines()[0]).replace(f"with {_AVERROR_INVALIDDATA}", "on invalid data")
    return line[:200]


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
    msg = _first_line(err)
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

    decord.logging.set_level(decord.logging.QUIET)  # its FFmpeg's messages; failures are raised as reasons
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
        _open_av(path).close()
    except VideoError as header_err:
        return header_err
    return _classify(path, err, default="truncated")


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
        raise _open_failure(path) from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise VideoError(path, "no_video_stream", f"streams: {', '.join(kinds)}")
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


def frames_per_chunk(height: int, width: int, chunk: int = CHUNK) -> int:
    """``chunk`` frames, fewer when they would pass :data:`CHUNK_BYTES` (one at least): memory follows bytes."""
    return max(1, min(chunk, CHUNK_BYTES // max(1, height * width * 3)))


def iter_pyav(path: Path, indices, *, chunk: int = CHUNK):
    """Decode sequentially and yield the full-resolution frames at ``indices`` (duplicates allowed),
    at most :func:`frames_per_chunk` frames at a time (each frame is resized on its own, so the chunk
    size never changes a pixel)."""
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
        chunk = frames_per_chunk(stream.codec_context.height, stream.codec_context.width, chunk)
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
