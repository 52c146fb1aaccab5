"""TimeLens-Bench (TencentARC/TimeLens): Charades-TimeLens, ActivityNet-TimeLens, QVHighlights-TimeLens.

One JSON per subset (``charades-timelens.json``, ``activitynet-timelens.json``,
``qvhighlights-timelens.json``): ``{video_id: {duration, spans: [[s, e], ...], queries: [...]}}``, one span
per query; videos are ``videos/<subset>/<video_id>.mp4``. TimeLens's own scorer takes the span as the
query's one true window. A span entry that is itself a list of windows keeps them all in the
sample's ``windows`` (``span`` is the first), as QVHighlights' own release does.
"""

from __future__ import annotations

import re
from pathlib import Path

from tvgbench.data.sources.base import Ingested, load_json
from tvgbench.data.sources.sta_json import DictLayout, read_video_dict

TIMELENS_LAYOUT = DictLayout(duration_keys=("duration",), spans_key="spans", queries_key="queries")
# the subsets as TimeLens names them (its DATASET_DICT keys and DATASET_SOURCE names)
SUBSETS = {
    "charades-timelens": "Charades-TimeLens",
    "activitynet-timelens": "ActivityNet-TimeLens",
    "qvhighlights-timelens": "QVHighlights-TimeLens",
}


def subset_of(path: Path) -> str:
    stem = re.sub(r"[^0-9a-z]+", "-", path.stem.lower())
    for name in SUBSETS:
        if name in stem:
            return name
    return "timelens"


def first_window(span):
    """``[s, e]`` as it is; ``[[s, e], [s2, e2], ...]`` → its first window and the further ones."""
    if isinstance(span, (list, tuple)) and span and all(isinstance(w, (list, tuple)) for w in span):
        return span[0], list(span[1:])
    return span, []


def read(path: Path, *, end_tolerance: float, video_ext: str = ".mp4") -> Ingested:
    subset = subset_of(path)
    samples, report = read_video_dict(load_json(path), path, source=subset, end_tolerance=end_tolerance,
                                      layout=TIMELENS_LAYOUT, video_ext=video_ext, first_window_of=first_window)
    return Ingested(samples, report, window_mode="crop", default_split="test", source_name=subset,
                    extra={"pretty_name": SUBSETS.get(subset, "TimeLens-Bench"), "convention": "timelens"})
