"""Per-video failures, each with a machine-readable reason (the preprocess report groups by it)."""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error

REASONS = ("missing", "zero_bytes", "truncated", "undecodable")


class VideoError(Timer1Error):
    """A video that cannot be sampled; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, path, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown video failure reason {reason!r}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))
