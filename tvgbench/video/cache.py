"""A compact, resumable frame cache: one self-checking file per (video, window, sampling config).

Entry layout (``<cache>/<key[:2]>/<key>.t1v``)::

    b"T1VC" | u32 header length | header JSON | zstd(uint8 frames)

The header holds the shape, the payload size, the timestamps, ``sample_fps`` and the sampling
metadata. uint8 frames are ¼ of the bytes of Time-R1's float32 cache before compression; zstd
(through pyarrow, already a dependency) shrinks them further. Entries are written to a temp file
and ``os.replace``-d, so a killed run never leaves a file that reads as valid; a damaged file fails
its size check and is treated as absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from tvgbench.video.sample import SampledVideo

MAGIC = b"T1VC"
CACHE_FORMAT = 1
SUFFIX = ".t1v"
ZSTD_LEVEL = 1  # fast to write; decompression speed barely depends on the level


def entry_key(video: str, window, config) -> str:
    """Stable key: the record's relative video path, the window decoded, the settings.

    The source file's size is kept inside the entry instead (``source_size``), so a cache copied to
    a machine without the videos still serves them, while a replaced video is detected where present.
    """
    payload = json.dumps(
        [CACHE_FORMAT, str(video), None if window is None else [float(v) for v in window], config.output_key()],
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def entry_path(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / key[:2] / (key + SUFFIX)


def _codec():
    return pa.Codec("zstd", compression_level=ZSTD_LEVEL)


def write_entry(path: Path, sampled) -> int:
    """Write one entry atomically; returns its size in bytes."""
    frames = np.ascontiguousarray(sampled.frames, dtype=np.uint8)
    payload = _codec().compress(frames.tobytes(), asbytes=True)
    header = json.dumps({
        "format": CACHE_FORMAT,
        "shape": list(frames.shape),
        "raw_bytes": frames.nbytes,
        "payload_bytes": len(payload),
        "timestamps": [float(t) for t in sampled.timestamps],
        "sample_fps": float(sampled.sample_fps),
        "meta": sampled.meta,
    }, separators=(",", ":")).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + struct.pack("<I", len(header)) + header + payload)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared cache must be readable by its users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(MAGIC) + 4 + len(header) + len(payload)


def read_entry(path: Path):
    """The cached :class:`SampledVideo`, or ``None`` if the entry is absent or damaged."""
    try:
        blob = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    try:
        if blob[:4] != MAGIC:
            return None
        (hlen,) = struct.unpack("<I", blob[4:8])
        header = json.loads(blob[8:8 + hlen])
        payload = blob[8 + hlen:]
        if header.get("format") != CACHE_FORMAT or len(payload) != header["payload_bytes"]:
            return None
        raw = _codec().decompress(payload, decompressed_size=header["raw_bytes"], asbytes=True)
        frames = np.frombuffer(raw, dtype=np.uint8).reshape(header["shape"]).copy()  # writable
    except (ValueError, KeyError, struct.error, OSError):
        return None
    meta = dict(header["meta"], cache_entry=str(path))
    return SampledVideo(frames=frames, timestamps=np.asarray(header["timestamps"], dtype=np.float64),
                        sample_fps=header["sample_fps"], meta=meta)


def entry_is_complete(path: Path, source_size: int | None = None) -> bool:
    """Cheap resumability check (header only): the file exists, is exactly as long as it says, and
    (when ``source_size`` is given) was made from a source file of that size."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8 or head[:4] != MAGIC:
                return False
            (hlen,) = struct.unpack("<I", head[4:8])
            header = json.loads(f.read(hlen))
        if source_size is not None and header.get("meta", {}).get("source_size") not in (None, source_size):
            return False
        return os.stat(path).st_size == 8 + hlen + int(header["payload_bytes"])
    except (FileNotFoundError, ValueError, KeyError, OSError):
        return False
