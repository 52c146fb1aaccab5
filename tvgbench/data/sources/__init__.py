"""Source adapters: each turns one raw annotation format into canonical samples.

``ingest(fmt, path)`` validates every record (see :mod:`tvgbench.core.validate`) and returns the kept
samples with a report of what was flagged or rejected and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tvgbench.core.errors import Timer1Error
from tvgbench.core.validate import DEFAULT_END_TOLERANCE_S, dedupe
from tvgbench.data.sources import charades_txt, qvhighlights, sta_json, timer1_timerft, timer1_tvgbench
from tvgbench.data.sources.base import Ingested, load_json

__all__ = ["FORMATS", "Ingested", "ingest", "load_json"]


def _formats() -> dict[str, Callable[..., Ingested]]:
    return {
        "timer1-tvgbench": timer1_tvgbench.read,
        "timer1-timerft": timer1_timerft.read,
        "charades-sta": lambda p, **kw: sta_json.read(p, source="charades", **kw),
        "activitynet": lambda p, **kw: sta_json.read(p, source="activitynet", **kw),
        "charades-sta-txt": charades_txt.read,
        "qvhighlights": qvhighlights.read,
    }


FORMATS = ("timer1-tvgbench", "timer1-timerft", "charades-sta", "activitynet", "charades-sta-txt", "qvhighlights")


def ingest(fmt: str, path: str | Path, *, end_tolerance: float = DEFAULT_END_TOLERANCE_S, **kwargs) -> Ingested:
    readers = _formats()
    if fmt not in readers:
        raise Timer1Error(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    result = readers[fmt](Path(path), end_tolerance=end_tolerance, **kwargs)
    result.samples = dedupe(result.samples, result.report)
    return result
