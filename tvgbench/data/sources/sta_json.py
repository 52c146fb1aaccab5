"""The ``{video_id: {duration, timestamps, sentences}}`` JSON of TimeZero/Time-R1 (Charades-STA, ActivityNet)."""

from __future__ import annotations

from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.core.validate import IngestReport, Verdict, check_record
from tvgbench.data.sources.base import Ingested, load_json


def read(path: Path, *, source: str, end_tolerance: float, video_ext: str = ".mp4") -> Ingested:
    data = load_json(path)
    if not isinstance(data, dict):
        raise Timer1Error(f"{path}: expected a JSON object keyed by video id")
    report = IngestReport()
    samples = []
    for vid, entry in data.items():
        if not isinstance(entry, dict):
            report.add(Verdict(None, "malformed_record", "entry is not an object"), f"video {vid}")
            continue
        stamps, sentences = entry.get("timestamps") or [], entry.get("sentences") or []
        if not isinstance(stamps, list) or not isinstance(sentences, list):
            report.add(Verdict(None, "malformed_record", "timestamps and sentences must be lists"), f"video {vid}")
            continue
        if len(stamps) != len(sentences):
            report.add(Verdict(None, "malformed_record", "timestamps and sentences differ in length"),
                       f"video {vid}")
            continue
        for j, (span, sentence) in enumerate(zip(stamps, sentences)):
            v = check_record(
                source=source, video=f"{vid}{video_ext}", query=sentence, span=span,
                duration=entry.get("duration"), end_tolerance=end_tolerance, source_id=f"{vid}_{j}",
            )
            report.add(v, f"{vid}[{j}]")
            if v.sample is not None:
                samples.append(v.sample)
    split = "train" if "train" in path.stem else "test"
    return Ingested(samples, report, window_mode="crop", default_split=split, source_name=source)
