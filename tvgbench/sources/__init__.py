"""Source adapters: each turns one raw annotation format into canonical samples.

``ingest(fmt, path)`` validates every record (see :mod:`tvgbench.validate`) and returns the kept
samples with a report of what was flagged or rejected and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import Timer1Error
from ..schema import Sample
from ..validate import DEFAULT_END_TOLERANCE_S, IngestReport, dedupe


@dataclass
class Ingested:
    samples: list[Sample]
    report: IngestReport
    window_mode: str = "crop"
    default_split: str = "test"
    source_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def load_json(path: Path) -> Any:
    if not path.exists():
        raise Timer1Error(f"file not found: {path}")
    if path.is_dir():
        raise Timer1Error(f"expected a file, got a folder: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise Timer1Error(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except UnicodeDecodeError:
        raise Timer1Error(f"{path} is not UTF-8 text") from None


def _formats() -> dict[str, Callable[..., Ingested]]:
    from . import charades_txt, sta_json, timer1_timerft, timer1_tvgbench

    return {
        "timer1-tvgbench": timer1_tvgbench.read,
        "timer1-timerft": timer1_timerft.read,
        "charades-sta": lambda p, **kw: sta_json.read(p, source="charades", **kw),
        "activitynet": lambda p, **kw: sta_json.read(p, source="activitynet", **kw),
        "charades-sta-txt": charades_txt.read,
    }


FORMATS = ("timer1-tvgbench", "timer1-timerft", "charades-sta", "activitynet", "charades-sta-txt")


def ingest(fmt: str, path: str | Path, *, end_tolerance: float = DEFAULT_END_TOLERANCE_S, **kwargs) -> Ingested:
    readers = _formats()
    if fmt not in readers:
        raise Timer1Error(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    result = readers[fmt](Path(path), end_tolerance=end_tolerance, **kwargs)
    result.samples = dedupe(result.samples, result.report)
    return result
