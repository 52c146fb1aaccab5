"""Charades-CD and ActivityNet-CD (Yuan et al., "A Closer Look at Temporal Sentence Grounding in Videos").

The splits (``train``, ``val``, ``test_iid``, ``test_ood``; the novel-composition / novel-word splits of
later work) re-divide Charades-STA and ActivityNet Captions: ``{video_id: {timestamps, sentences,
video_duration, framestamps, decode_fps, ...}}``. Charades-CD names the duration ``video_duration``
where Charades-STA has ``duration``; ActivityNet-CD keeps ``duration``. ``framestamps`` are the same
spans in frames at ``decode_fps`` and are not needed: the seconds are read.
"""

from __future__ import annotations

import re
from pathlib import Path

from tvgbench.data.sources.base import Ingested, load_json
from tvgbench.data.sources.sta_json import DictLayout, read_video_dict

CD_LAYOUT = DictLayout(duration_keys=("video_duration", "duration"))
# split names as the releases spell them in their file names (charades_test_ood.json, anet_test_iid.json, ...)
SPLIT_NAMES = ("test_ood", "test_iid", "novel_composition", "novel_word", "train", "val", "test")


def split_of(path: Path) -> str:
    stem = re.sub(r"[^0-9a-z]+", "_", path.stem.lower())
    for name in SPLIT_NAMES:
        if re.search(rf"(^|_){name}($|_)", stem):
            return name
    return "test"


def source_of(data) -> str:
    """ActivityNet video ids start with ``v_`` (v_mHVmDOxtVt0); Charades ids are five characters (3MSZA)."""
    keys = list(data)[:50] if isinstance(data, dict) else []
    return "activitynet" if keys and all(str(k).startswith("v_") for k in keys) else "charades"


def read(path: Path, *, end_tolerance: float, video_ext: str = ".mp4") -> Ingested:
    data = load_json(path)
    source = source_of(data)
    samples, report = read_video_dict(data, path, source=source, end_tolerance=end_tolerance, layout=CD_LAYOUT,
                                      video_ext=video_ext)
    return Ingested(samples, report, window_mode="crop", default_split=split_of(path), source_name=source,
                    extra={"pretty_name": f"{'ActivityNet' if source == 'activitynet' else 'Charades'}-CD"})
