"""Published temporal-grounding results with their settings and sources (``published.yaml``), as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from tvgbench.core.errors import Timer1Error

PUBLISHED_PATH = Path(__file__).with_name("published.yaml")
# the metrics a row may state, by the names timer1's --json gives them
METRIC_NAMES = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU", "mAP", "mAP@0.5", "mAP@0.75")


@dataclass(frozen=True)
class PublishedResult:
    """One published number set: what was measured, how, and where it is stated."""

    benchmark: str
    model: str
    setting: str  # zero-shot | fine-tuned
    convention: str  # the timer1 scoring mode that reproduces the scorer behind the number
    metrics: dict[str, float]
    source: str
    fps: float | None = None
    pixels: str | None = None
    prompt: str | None = None  # a timer1 --prompt preset
    decoding: str | None = None
    extra: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def _rows() -> tuple[PublishedResult, ...]:
    raw = yaml.safe_load(PUBLISHED_PATH.read_text(encoding="utf-8"))
    known = set(PublishedResult.__dataclass_fields__) - {"extra"}
    return tuple(PublishedResult(**{k: v for k, v in r.items() if k in known},
                                 extra={k: v for k, v in r.items() if k not in known}) for r in raw)


def benchmarks() -> list[str]:
    return sorted({r.benchmark for r in _rows()})


def published_results(benchmark: str | None = None) -> list[PublishedResult]:
    """The rows of one benchmark (all rows without one); an unknown benchmark is a Timer1Error naming the known."""
    rows = [r for r in _rows() if benchmark is None or r.benchmark == benchmark]
    if benchmark is not None and not rows:
        raise Timer1Error(f"no published results for benchmark {benchmark!r}; known: {', '.join(benchmarks())}")
    return rows
