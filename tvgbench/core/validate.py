"""Per-record validation: keep, keep with a recorded flag, or reject with a reason. Never a silent fix."""

from __future__ import annotations

import math
import re
import reprlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tvgbench.core.schema import Sample

# Rejection reasons (a record with one of these never reaches a split).
REJECT_EMPTY_QUERY = "empty_query"
REJECT_NON_FINITE = "non_finite_time"
REJECT_NON_NUMERIC = "non_numeric_time"
REJECT_NEGATIVE = "negative_time"
REJECT_START_AFTER_END = "start_after_end"
REJECT_END_PAST_DURATION = "end_past_duration"
REJECT_BAD_DURATION = "non_positive_duration"
REJECT_BAD_WINDOW = "bad_window"
REJECT_DUPLICATE = "duplicate_record"
REJECT_MALFORMED = "malformed_record"
REJECT_INVALID_TEXT = "invalid_text"  # a lone UTF-16 surrogate: not writable as UTF-8
REJECT_BAD_VIDEO_PATH = "bad_video_path"  # NUL or a control character: no file system opens it

# Flags (the record is kept and the flag is stored in its ``flags`` column).
FLAG_ZERO_LENGTH = "zero_length_span"
FLAG_END_PAST_DURATION = "end_past_duration"
FLAG_QUERY_STRIPPED = "query_whitespace_stripped"
FLAG_BINS_DIFFER = "bins_differ_from_release"

DEFAULT_END_TOLERANCE_S = 5.0  # TVGBench's worst released overshoot is 4.85 s (a Charades clip)


@dataclass
class Verdict:
    sample: Sample | None
    reason: str | None = None
    detail: str = ""


def _float_or_inf(x: int | float) -> float:
    try:
        return float(x)
    except OverflowError:  # an int past the float range: infinite as a time, rejected as non_finite_time
        return math.inf if x > 0 else -math.inf


def _as_float(x: Any) -> float | None:
    kind = type(x)
    if kind is float or kind is int:  # the common case first: ingestion calls this 200K times per 70K records
        return _float_or_inf(x)
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return _float_or_inf(x)
    if isinstance(x, str):
        try:
            return float(x.strip())
        except ValueError:
            return None
    return None


def _finite(value: Any) -> float | None:
    x = _as_float(value)
    return x if x is not None and math.isfinite(x) else None


def _show(value: Any) -> str:
    """A short repr for a rejection's detail: bounded in length and depth (a hostile value may be huge or deep)."""
    shown = reprlib.Repr()
    shown.maxlevel, shown.maxstring, shown.maxother = 3, 60, 60
    return shown.repr(value)


_CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f]")


def _unencodable(value: Any) -> str | None:
    """The first string inside ``value`` (str, list, tuple or dict) that UTF-8 cannot encode (a lone surrogate)."""
    todo = [value]  # a stack, not recursion: a hostile record may nest deeper than Python recurses
    while todo:
        v = todo.pop()
        if isinstance(v, str):
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    return v
        elif isinstance(v, dict):
            todo.extend(reversed([*v.keys(), *v.values()]))
        elif isinstance(v, (list, tuple)):
            todo.extend(reversed(v))
    return None


def check_record(
    *,
    source: str,
    video: Any,
    query: Any,
    span: Any,
    duration: Any,
    window: Any = None,
    end_tolerance: float = DEFAULT_END_TOLERANCE_S,
    **extra: Any,
) -> Verdict:
    """Validate raw fields and build a :class:`Sample`, or say in one phrase why not."""
    if not isinstance(query, str) or not query.strip():
        return Verdict(None, REJECT_EMPTY_QUERY, "query is empty")
    if not isinstance(video, str) or not video:
        return Verdict(None, REJECT_MALFORMED, "video is missing")
    if not isinstance(source, str) or not source:
        return Verdict(None, REJECT_MALFORMED, f"source must be a name, got {_show(source)}")
    if _CONTROL_CHAR.search(video):
        return Verdict(None, REJECT_BAD_VIDEO_PATH, f"video path {_show(video)} holds a NUL or control character")
    bad = _unencodable([query, video, source, extra])
    if bad is not None:
        return Verdict(None, REJECT_INVALID_TEXT, f"{_show(bad)} holds a lone surrogate (not valid Unicode text)")
    if not isinstance(span, (list, tuple)) or len(span) != 2:
        return Verdict(None, REJECT_MALFORMED, f"span must be [start, end], got {_show(span)}")
    nums = [_as_float(span[0]), _as_float(span[1]), _as_float(duration)]
    win = None
    if window is not None:
        if not isinstance(window, (list, tuple)) or len(window) != 2:
            return Verdict(None, REJECT_BAD_WINDOW, f"window must be [start, end], got {_show(window)}")
        win = (_as_float(window[0]), _as_float(window[1]))
        nums += list(win)
    if None in nums:
        return Verdict(None, REJECT_NON_NUMERIC, "a time is not a number")
    if not all(map(math.isfinite, nums)):
        return Verdict(None, REJECT_NON_FINITE, "a time is NaN or infinite")
    # optional numbers a release may carry (TimeRFT's difficulty and model prediction): finite or absent
    if extra.get("difficulty") is not None:
        if _finite(extra["difficulty"]) is None:
            return Verdict(None, REJECT_MALFORMED, f"difficulty must be a finite number, got {_show(extra['difficulty'])}")
        extra["difficulty"] = _finite(extra["difficulty"])
    if extra.get("pred") is not None:
        pred = extra["pred"]
        pair = [_finite(v) for v in pred] if isinstance(pred, (list, tuple)) and len(pred) == 2 else [None]
        if None in pair:
            return Verdict(None, REJECT_MALFORMED, f"pred must be two finite numbers, got {_show(pred)}")
        extra["pred"] = tuple(pair)
    start, end, dur = nums[0], nums[1], nums[2]
    if dur <= 0:
        return Verdict(None, REJECT_BAD_DURATION, f"duration {dur} <= 0")
    if start < 0 or end < 0:
        return Verdict(None, REJECT_NEGATIVE, f"span [{start}, {end}] has a negative time")
    if start > end:
        return Verdict(None, REJECT_START_AFTER_END, f"start {start} > end {end}")
    if win is not None and (win[0] < 0 or win[1] <= win[0]):
        return Verdict(None, REJECT_BAD_WINDOW, f"window [{win[0]}, {win[1]}] is empty or negative")
    if end > dur + end_tolerance:
        return Verdict(
            None, REJECT_END_PAST_DURATION, f"end {end} is past duration {dur} by more than {end_tolerance} s"
        )

    flags: list[str] = list(extra.pop("flags", []) or [])
    clean_query = query.strip()
    if clean_query != query:
        flags.append(FLAG_QUERY_STRIPPED)
    if end == start:
        flags.append(FLAG_ZERO_LENGTH)
    if end > dur:
        flags.append(FLAG_END_PAST_DURATION)
    sample = Sample(
        video=video, query=clean_query, span=(start, end), duration=dur, source=source, window=win,
        flags=flags, **extra,
    )
    return Verdict(sample)


@dataclass
class IngestReport:
    """Counts of kept / flagged / rejected records, by reason, plus a few examples of each."""

    kept: int = 0
    flagged: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    flagged_records: int = 0

    def add(self, verdict: Verdict, where: str) -> None:
        if verdict.sample is None:
            self.rejected[verdict.reason] += 1
            ex = self.examples.setdefault(verdict.reason, [])
            if len(ex) < 3:
                ex.append(f"{where}: {verdict.detail}")
            return
        self.kept += 1
        if verdict.sample.flags:
            self.flagged_records += 1
            for f in verdict.sample.flags:
                self.flagged[f] += 1

    def top_rejections(self, k: int = 3) -> str:
        """The ``k`` commonest rejection reasons with counts and one example, as one line."""
        top = self.rejected.most_common(k)
        if not top:
            return "none rejected"
        more = len(self.rejected) - len(top)
        text = ", ".join(f"{reason} {n}" for reason, n in top) + (f" and {more} more reasons" if more else "")
        return f"{sum(self.rejected.values())} rejected: {text}; e.g. {self.examples[top[0][0]][0]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "kept_with_flags": self.flagged_records,
            "rejected": sum(self.rejected.values()),
            "flags": dict(sorted(self.flagged.items())),
            "rejections": dict(sorted(self.rejected.items())),
            "examples": self.examples,
            "notes": self.notes,
        }


def dedupe(samples: list[Sample], report: IngestReport) -> list[Sample]:
    """Drop exact duplicates (same qid = same content); the first occurrence is kept."""
    seen: set[str] = set()
    out = []
    for s in samples:
        if s.qid in seen:
            report.kept -= 1
            if s.flags:
                report.flagged_records -= 1
                for f in s.flags:
                    report.flagged[f] -= 1
            report.rejected[REJECT_DUPLICATE] += 1
            ex = report.examples.setdefault(REJECT_DUPLICATE, [])
            if len(ex) < 3:
                ex.append(f"{s.qid}: same source, video, window, query and span as an earlier record")
            continue
        seen.add(s.qid)
        out.append(s)
    return out
