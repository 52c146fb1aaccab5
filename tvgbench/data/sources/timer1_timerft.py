"""The official TimeRFT 2.5K release of Time-R1 (``train_2k5.json``: 2500 records, 6 sources)."""

from __future__ import annotations

import re
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.core.validate import IngestReport, Verdict, check_record
from tvgbench.data.sources.base import Ingested, load_json, text_of

# InternVid-VTime files carry their clip window in the name: <id>_HH:MM:SS:mmm_HH:MM:SS:mmm.mp4
_TRIMMED_NAME = re.compile(r"_\d{2}:\d{2}:\d{2}:\d{3}_\d{2}:\d{2}:\d{2}:\d{3}\.\w+$")


def read(path: Path, *, end_tolerance: float) -> Ingested:
    items = load_json(path)
    if not isinstance(items, list):
        raise Timer1Error(f"{path}: a TimeRFT release is a JSON list of records")
    report = IngestReport()
    samples = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "timestamp" not in item or "video" not in item:
            report.add(Verdict(None, "malformed_record", "not a TimeRFT record"), f"item {i}")
            continue
        qid = text_of(item.get("qid"))
        parts = qid.split("|")
        source = parts[1] if len(parts) >= 3 and parts[1] else "timerft"
        video = Path(text_of(item["video"])).name
        window = None
        if item.get("video_start") is not None or item.get("video_end") is not None:
            window = [item.get("video_start"), item.get("video_end")]
        pred = item.get("pred")
        meta = {"released_path": item["video"]}
        if window is not None:
            # a file whose name encodes its window is already the clip: decode it whole
            meta["pretrimmed"] = bool(_TRIMMED_NAME.search(video))
        v = check_record(
            source=source,
            video=video,
            query=item.get("sentence"),
            span=item["timestamp"],
            duration=item.get("duration"),
            window=window,
            end_tolerance=end_tolerance,
            difficulty=item.get("difficulty"),
            pred=pred if isinstance(pred, (list, tuple)) and len(pred) == 2 and None not in pred else None,
            source_id=qid or None,
            meta=meta,
        )
        report.add(v, f"item {i} ({qid})")
        if v.sample is not None:
            samples.append(v.sample)
    return Ingested(samples, report, window_mode="crop", default_split="train", source_name="timerft")
