"""Per-video failures, each with a machine-readable reason (the preprocess report groups by it)."""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error

# missing / zero_bytes: no file or an empty one; not_a_video: no container FFmpeg can read (text, random
# bytes); truncated: a container cut short (header or frames lost); no_video_stream: e.g. audio only;
# window_outside_video: the record's window starts after the last frame; too_large: frames above the
# configured ``max_source_pixels``; undecodable: anything else the decoders refuse.
REASONS = ("missing", "zero_bytes", "not_a_video", "truncated", "no_video_stream", "window_outside_video",
           "too_large", "undecodable")


class VideoError(Timer1Error):
    """A video that cannot be sampled; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, path, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown video failure reason {reason!r}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))
