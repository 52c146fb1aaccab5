"""Source adapters: each turns one raw annotation format into canonical samples.

``ingest(fmt, path)`` validates every record (see :mod:`tvgbench.core.validate`) and returns the kept
samples with a report of what was flagged or rejected and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tvgbench.core.errors import Timer1Error
from tvgbench.core.validate import DEFAULT_END_TOLERANCE_S, dedupe
from tvgbench.data.sources import (
    charades_cd, charades_txt, ego4d_nlq, qvhighlights, sta_json, timelens, timer1_timerft, timer1_tvgbench,
)
from tvgbench.data.sources.base import Ingested, load_json
from tvgbench.data.sources.detect import detect_format

__all__ = ["AUTO", "FORMATS", "Ingested", "ingest", "load_json", "resolve_format"]

AUTO = "auto"  # --format auto: detect the format from the file's shape (tvgbench.data.sources.detect)


def _formats() -> dict[str, Callable[..., Ingested]]:
    return {
        "timer1-tvgbench": timer1_tvgbench.read,
        "timer1-timerft": timer1_timerft.read,
        "charades-sta": lambda p, **kw: sta_json.read(p, source="charades", **kw),
        "activitynet": lambda p, **kw: sta_json.read(p, source="activitynet", **kw),
        "charades-sta-txt": charades_txt.read,
        "charades-cd": charades_cd.read,
        "timelens": timelens.read,
        "ego4d-nlq": ego4d_nlq.read,
        "qvhighlights": qvhighlights.read,
    }


FORMATS = ("timer1-tvgbench", "timer1-timerft", "charades-sta", "activitynet", "charades-sta-txt",
           "charades-cd", "timelens", "ego4d-nlq", "qvhighlights")


def resolve_format(fmt: str, path: str | Path) -> str:
    """``fmt`` itself, or for ``auto`` the format ``path`` is detected to be in."""
    return detect_format(path, FORMATS) if fmt == AUTO else fmt


def ingest(fmt: str, path: str | Path, *, end_tolerance: float = DEFAULT_END_TOLERANCE_S, **kwargs) -> Ingested:
    readers = _formats()
    fmt = resolve_format(fmt, path)
    if fmt not in readers:
        raise Timer1Error(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)} or {AUTO}")
    result = readers[fmt](Path(path), end_tolerance=end_tolerance, **kwargs)
    result.samples = dedupe(result.samples, result.report)
    return result
