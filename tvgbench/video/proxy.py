"""Small h264 proxies of raw videos (≤ ``max_fps``, short side ≤ ``height``) that decode much faster.

A proxy only supplies pixels. The sampling plan (frame count, size, ``sample_fps``, timestamps) is
still computed from the *source's* frame count and fps, which the proxy manifest records, and each
sampled source frame is taken from the proxy frame nearest in time. So counts, sizes and the time
scale stay exactly those of the source; only pixel values come from the smaller file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import ffmpeg

from tvgbench.core.report import write_text_atomic
from tvgbench.video.decode import VideoProbe, check_file, probe_decord
from tvgbench.video.errors import VideoError

MANIFEST = "proxies.json"


def proxy_filters(height: int, width: int, fps: float, *, max_height: int, max_fps: float) -> dict:
    """The ffmpeg settings: keep the fps if it is already ≤ max_fps; scale the short side to ≤ max_height."""
    out_fps = fps if fps <= max_fps else max_fps
    if min(height, width) > max_height:
        scale = f"-2:{max_height}" if height <= width else f"{max_height}:-2"
    else:
        scale = None
    return {"fps": out_fps, "scale": scale}


def make_proxy(src: Path, dst: Path, *, max_height: int = 360, max_fps: float = 4.0, crf: int = 23) -> dict:
    """Transcode ``src`` to ``dst`` (atomic) and check that the time axis survived; returns the manifest row."""
    check_file(src)
    source = probe_decord(src)
    settings = proxy_filters(source.height, source.width, source.fps, max_height=max_height, max_fps=max_fps)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=dst.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        stream = ffmpeg.input(str(src)).video
        if settings["fps"] != source.fps:
            # round=up: proxy frame k is the last source frame at or before k/fps (the default "near"
            # keeps the last frame *before (k+½)/fps*, which shifts the picture up to half a frame late)
            stream = stream.filter("fps", fps=settings["fps"], round="up")
        if settings["scale"]:
            stream = stream.filter("scale", *settings["scale"].split(":"))
        out = ffmpeg.output(stream, tmp, format="mp4", vcodec="libx264", preset="veryfast", crf=crf,
                            pix_fmt="yuv420p", g=max(1, int(round(settings["fps"] * 2))), an=None)
        try:
            out.overwrite_output().run(quiet=True)
        except ffmpeg.Error as e:
            tail = (e.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["ffmpeg failed"]
            raise VideoError(src, "undecodable", f"proxy transcode failed: {tail[0][:200]}") from None
        proxy = probe_decord(Path(tmp))
        check_time_axis(src, source, proxy)
        os.replace(tmp, dst)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return {"source": asdict(source), "proxy": asdict(proxy), "source_size": os.stat(src).st_size,
            "max_height": max_height, "max_fps": max_fps}


def check_time_axis(src: Path, source: VideoProbe, proxy: VideoProbe) -> None:
    """The proxy must last as long as the source (within one frame of either)."""
    src_dur = source.total_frames / source.fps
    proxy_dur = proxy.total_frames / proxy.fps
    if abs(src_dur - proxy_dur) > 1.0 / proxy.fps + 1.0 / source.fps:
        raise VideoError(src, "truncated", f"proxy lasts {proxy_dur:.3f} s but the source {src_dur:.3f} s")


def proxy_indices(source_indices, source_fps: float, proxy: VideoProbe) -> list[int]:
    """The proxy frame nearest in time to each sampled source frame."""
    return [min(proxy.total_frames - 1, int(round(i / source_fps * proxy.fps))) for i in source_indices]


def read_manifest(proxy_dir: str | os.PathLike) -> dict:
    p = Path(proxy_dir) / MANIFEST
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError:
        return {}


def write_manifest(proxy_dir: str | os.PathLike, manifest: dict) -> None:
    write_text_atomic(Path(proxy_dir) / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
