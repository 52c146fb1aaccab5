"""Peers' result files, read as prediction columns and matched to a split.

Formats (detected from the content, never from the file name):

``result-dict``   TimeLens's and lmms-eval's result dicts: ``{"{video}>>>{query}>>>{span}": value}`` where the
                  value is the raw answer text, or ``{"timestamps": [[s, e], ...], "answers": text}``
                  (TimeLens); one JSON object, or JSONL of such objects (merged in order, a repeated key's
                  last value winning, as ``dict.update`` does). The span in the key is the ground truth the
                  peer scores against: ``[s, e]`` (lmms-eval charades_sta) or ``[[s, e]]`` (TimeLens).
``lmms-samples``  lmms-eval ``--log_samples`` JSONL: one row per document, ``{"doc_id", "doc", "target",
                  "resps", "filtered_resps", ...}``; the doc of ``temporal_grounding_charades`` holds
                  ``video``, ``caption``, ``timestamp``, that of the ``timelens_*`` tasks ``video_path``,
                  ``query``, ``span``; the answer is ``filtered_resps[0]`` (else ``resps[0][0]``).

An entry is matched to a split query on the video id (the basename without extension) and the query with
its whitespace collapsed; where that finds nothing, on the casefolded query without a trailing full stop
when that is unique. A video+query the split holds several times is told apart by the key's span. An
entry whose key span differs from the split's (beyond float16 rounding, in which lmms-eval stores spans)
is reported. Entries the split does not hold keep their key and span: the peers' modes score them on
that span, as the peers do; canonical mode counts them as unknown.
"""

from __future__ import annotations

import ast
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from tvgbench.core.errors import Timer1Error
from tvgbench.core.splits import read_split_table, resolve_split

KEY_SEPARATOR = ">>>"
FORMATS = ("result-dict", "lmms-samples")
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class PeerEntry:
    """One result of a peer's file."""

    key: str  # the peer's own key ("{video}>>>{query}>>>{span}")
    video: str
    query: str
    key_span: tuple[float, float] | None  # the ground truth the peer scores against
    span: tuple[float, float] | None  # a numeric prediction (TimeLens "timestamps"[0]); None: parse text
    text: str | None


@dataclass
class PeerFile:
    """A peer's file: its format and entries (file order, one per key)."""

    format: str
    entries: list[PeerEntry]


@dataclass
class MatchReport:
    """How a peer file's entries met the split."""

    format: str
    entries: int
    matched: int = 0
    matched_loosely: int = 0  # by casefolded query without a trailing full stop
    unmatched: int = 0
    span_disagreements: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, text: str) -> None:
        shown = self.examples.setdefault(kind, [])
        if len(shown) < MAX_EXAMPLES:
            shown.append(text)

    def to_dict(self) -> dict:
        return {"format": self.format, "entries": self.entries, "matched": self.matched,
                "matched_loosely": self.matched_loosely, "unmatched": self.unmatched,
                "span_disagreements": self.span_disagreements, "examples": self.examples}


def normalise_query(text: str) -> str:
    return " ".join(str(text).split())


def loose_query(text: str) -> str:
    return normalise_query(text).casefold().rstrip(".").rstrip()


def video_id(video: str) -> str:
    """``Charades_v1_480/3MSZA.mp4`` → ``3MSZA``: the basename without extension."""
    name = PurePosixPath(str(video).replace("\\", "/")).name
    return name.rsplit(".", 1)[0] if "." in name else name


def _number_pair(value) -> tuple[float, float] | None:
    """``[s, e]`` or ``[[s, e], ...]`` (the first) as floats; None for anything else."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        value = value[0]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    s, e = float(value[0]), float(value[1])
    return (s, e) if math.isfinite(s) and math.isfinite(e) else None


def parse_key_span(text: str) -> tuple[float, float] | None:
    """The span written in a key: a Python / JSON literal (``[24.3, 30.4]``, ``[[24.3, 30.4]]``)."""
    try:
        return _number_pair(ast.literal_eval(text.strip()))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def split_key(key: str) -> tuple[str, str, tuple[float, float] | None] | None:
    """``video>>>query>>>span`` → (video, query, span); the query may itself hold ``>>>``."""
    if key.count(KEY_SEPARATOR) < 2:
        return None
    video, rest = key.split(KEY_SEPARATOR, 1)
    query, span = rest.rsplit(KEY_SEPARATOR, 1)
    return video, query, parse_key_span(span)


def _dict_entry(key: str, value) -> PeerEntry | None:
    parts = split_key(key)
    if parts is None:
        return None
    video, query, key_span = parts
    if isinstance(value, str):
        return PeerEntry(key, video, query, key_span, None, value)
    if isinstance(value, dict):
        answer = value.get("answers")
        if isinstance(answer, list):  # one answer per sample: the first, as the span is
            answer = next((a for a in answer if isinstance(a, str)), None)
        return PeerEntry(key, video, query, key_span, _number_pair(value.get("timestamps") or None),
                         answer if isinstance(answer, str) else None)
    return None


def _samples_entry(row: dict) -> PeerEntry | None:
    doc = row.get("doc")
    if not isinstance(doc, dict):
        return None
    if "caption" in doc and "video" in doc:  # temporal_grounding_charades
        video, query, gt = doc["video"], doc["caption"], doc.get("timestamp")
    elif "query" in doc and ("video_path" in doc or "video" in doc):  # timelens_*
        video, query, gt = doc.get("video_path", doc.get("video")), doc["query"], doc.get("span")
    else:
        return None
    text = None
    filtered = row.get("filtered_resps")
    if isinstance(filtered, list) and filtered:
        text = filtered[0][0] if isinstance(filtered[0], list) and filtered[0] else filtered[0]
    if not isinstance(text, str):
        resps = row.get("resps")
        text = resps[0][0] if isinstance(resps, list) and resps and isinstance(resps[0], list) and resps[0] else None
    key_span = _number_pair(gt) if not isinstance(gt, str) else parse_key_span(gt)
    key = f"{video}{KEY_SEPARATOR}{query}{KEY_SEPARATOR}{gt}"
    return PeerEntry(key, str(video), str(query), key_span, None, text if isinstance(text, str) else None)


def _objects(data: bytes) -> list | None:
    """The file as one JSON value (a list of one), or as JSONL (a list of values); None when neither."""
    text = bytes(data).decode("utf-8", errors="replace")
    try:
        return [json.loads(text)]
    except (ValueError, RecursionError):
        pass
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except (ValueError, RecursionError):
                return None
    return out


def _is_result_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) and k.count(KEY_SEPARATOR) >= 2 for k in obj)


def looks_like_peer_file(head: bytes) -> bool:
    """A cheap look at the first bytes: could this be a peer's file (else it is read as timer1 lines)?"""
    return KEY_SEPARATOR.encode() in head or (b'"doc_id"' in head and b'"doc"' in head)


def read_peer_file(data: bytes, name: str = "predictions") -> PeerFile | None:
    """Entries of a peer's file, or None when the bytes are no peer format (timer1 lines, for one)."""
    objs = _objects(data)
    if not objs:
        return None
    if all(_is_result_dict(o) for o in objs):
        merged: dict = {}
        for o in objs:
            merged.update(o)
        entries = [_dict_entry(k, v) for k, v in merged.items()]
        fmt = "result-dict"
    elif all(isinstance(o, dict) and "doc" in o and "doc_id" in o for o in objs):
        entries = [_samples_entry(o) for o in objs]
        fmt = "lmms-samples"
    else:
        return None
    bad = [k for k, e in enumerate(entries) if e is None]
    if bad:
        raise Timer1Error(f"{name}: entry {bad[0] + 1} of this {fmt} file is not a temporal-grounding result "
                          "(expected a 'video>>>query>>>span' key with a text or {'timestamps', 'answers'} value)")
    return PeerFile(fmt, entries)


# ---- matching to a split -------------------------------------------------------------------------------


def span_agrees(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Equal up to float16 rounding (lmms-eval's datasets store spans as float16) or 0.01 s."""
    return all(abs(x - y) <= max(0.01, abs(y) * 2.0 ** -10) for x, y in zip(a, b))


@dataclass(frozen=True)
class SplitQueries:
    """What matching needs from a split, in split order."""

    qid: list[str]
    video: list[str]
    query: list[str]
    span: np.ndarray  # (n, 2)


def read_split_queries(split_dir: str | os.PathLike, split_name: str | None = None) -> SplitQueries:
    d, name, _ = resolve_split(split_dir, split_name)
    t = read_split_table(d, name, columns=["qid", "video", "query", "span"])
    span = t.column("span").combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, 2)
    return SplitQueries(t.column("qid").to_pylist(), t.column("video").to_pylist(), t.column("query").to_pylist(),
                        span)


def _index(split: SplitQueries, key_of) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for i, (v, q) in enumerate(zip(split.video, split.query)):
        out.setdefault((video_id(v), key_of(q)), []).append(i)
    return out


def _pick(rows: list[int], span, split: SplitQueries) -> int:
    """Of the split rows with this video and query, the one whose span is the key's (else the first)."""
    if span is not None:
        for r in rows:
            if span_agrees(span, tuple(split.span[r])):
                return r
    return rows[0]


def match_entries(peer: PeerFile, split: SplitQueries) -> tuple[list[int], MatchReport]:
    """Split row of each entry (-1: the split does not hold it) and the report."""
    exact, loose = _index(split, normalise_query), _index(split, loose_query)
    report = MatchReport(peer.format, len(peer.entries))
    rows = []
    for e in peer.entries:
        vid = video_id(e.video)
        found = exact.get((vid, normalise_query(e.query)))
        if found is None:
            candidates = loose.get((vid, loose_query(e.query)))
            found = candidates if candidates and len({split.query[r] for r in candidates}) == 1 else None
            report.matched_loosely += found is not None
        if found is None:
            report.unmatched += 1
            report.note("unmatched", e.key)
            rows.append(-1)
            continue
        r = _pick(found, e.key_span, split)
        report.matched += 1
        if e.key_span is not None and not span_agrees(e.key_span, tuple(split.span[r])):
            report.span_disagreements += 1
            report.note("span_disagreements", f"{e.key} (split: [{split.span[r][0]:g}, {split.span[r][1]:g}])")
        rows.append(r)
    return rows, report


def peer_records(peer: PeerFile, split: SplitQueries) -> tuple[list[dict], MatchReport]:
    """timer1 prediction lines of a peer file: the split's qid where matched (else the peer's key), the
    numeric span as ``pred`` or the answer as ``text``, and the key's span as the line's ``target``."""
    rows, report = match_entries(peer, split)
    records = []
    for e, r in zip(peer.entries, rows):
        rec: dict = {"qid": split.qid[r] if r >= 0 else e.key}
        if e.span is not None:
            rec["pred"] = list(e.span)
        else:
            rec["text"] = e.text
        if e.key_span is not None:
            rec["target"] = list(e.key_span)
        records.append(rec)
    return records, report
