"""The ``{video_id: {duration, timestamps, sentences}}`` JSON of TimeZero/Time-R1 (Charades-STA, ActivityNet).

Charades-CD / ActivityNet-CD and TimeLens-Bench keep the same shape under other key names; they read
through :func:`read_video_dict` too (``charades_cd.py``, ``timelens.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvgbench.core.errors import Timer1Error
from tvgbench.core.validate import IngestReport, Verdict, check_record
from tvgbench.data.sources.base import Ingested, load_json


@dataclass(frozen=True)
class DictLayout:
    """Which keys of a per-video entry hold the duration, the spans and the queries."""

    duration_keys: tuple[str, ...] = ("duration",)  # the first one present is used
    spans_key: str = "timestamps"
    queries_key: str = "sentences"


STA_LAYOUT = DictLayout()


def _duration(entry: dict, layout: DictLayout) -> Any:
    for key in layout.duration_keys:
        if key in entry:
            return entry[key]
    return None


def _missing_duration(entry: dict, layout: DictLayout) -> Verdict | None:
    """A named rejection when no duration key is present but another layout's is (a wrong --format)."""
    if any(k in entry for k in layout.duration_keys):
        return None
    others = [k for k in ("duration", "video_duration") if k in entry and k not in layout.duration_keys]
    if not others:
        return None
    return Verdict(None, "missing_duration", f"no {' or '.join(map(repr, layout.duration_keys))} "
                                             f"(the entry has {others[0]!r}: another --format?)")


def read_video_dict(data: Any, path: Path, *, source: str, end_tolerance: float, layout: DictLayout = STA_LAYOUT,
                    video_ext: str = ".mp4", first_window_of=None) -> tuple[list, IngestReport]:
    """Samples of a ``{video_id: {duration, spans, queries}}`` object, one per (span, query) pair.

    ``first_window_of`` (optional) turns one span entry into ``(span, further_windows)`` for layouts whose
    span may be a list of windows: such a query keeps every window in ``windows`` (span first), each
    checked as a span is; single-window queries are written as before.
    """
    if not isinstance(data, dict):
        raise Timer1Error(f"{path}: expected a JSON object keyed by video id")
    report = IngestReport()
    samples = []
    multi = 0
    spans_key, queries_key = layout.spans_key, layout.queries_key
    for vid, entry in data.items():
        if not isinstance(entry, dict):
            report.add(Verdict(None, "malformed_record", "entry is not an object"), f"video {vid}")
            continue
        stamps, sentences = entry.get(spans_key) or [], entry.get(queries_key) or []
        if not isinstance(stamps, list) or not isinstance(sentences, list):
            report.add(Verdict(None, "malformed_record", f"{spans_key} and {queries_key} must be lists"), f"video {vid}")
            continue
        if len(stamps) != len(sentences):
            report.add(Verdict(None, "malformed_record", f"{spans_key} and {queries_key} differ in length"),
                       f"video {vid}")
            continue
        missing = _missing_duration(entry, layout)
        for j, (span, sentence) in enumerate(zip(stamps, sentences)):
            if missing is not None:
                report.add(missing, f"{vid}[{j}]")
                continue
            further = []
            if first_window_of is not None:
                span, further = first_window_of(span)
            common = dict(source=source, video=f"{vid}{video_ext}", query=sentence,
                          duration=_duration(entry, layout), end_tolerance=end_tolerance)
            v = next((bad for bad in (check_record(span=w, **common) for w in further) if bad.sample is None), None)
            if v is None:
                windows = {"windows": [tuple(span), *map(tuple, further)]} if further else {}
                v = check_record(span=span, source_id=f"{vid}_{j}", **common, **windows)
                multi += bool(further and v.sample is not None)
            report.add(v, f"{vid}[{j}]")
            if v.sample is not None:
                samples.append(v.sample)
    if multi:
        report.notes.append(f"{multi} queries have several true windows (kept in 'windows'; 'span' is the first)")
    return samples, report


def read(path: Path, *, source: str, end_tolerance: float, video_ext: str = ".mp4") -> Ingested:
    samples, report = read_video_dict(load_json(path), path, source=source, end_tolerance=end_tolerance,
                                      video_ext=video_ext)
    split = "train" if "train" in path.stem else "test"
    return Ingested(samples, report, window_mode="crop", default_split=split, source_name=source)
