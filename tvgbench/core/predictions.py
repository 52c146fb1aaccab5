"""Reading prediction files (JSONL) into columns, fast.

Accepted lines (one object per query):
  ``{"qid": ..., "pred": [s, e]}``                       a span
  ``{"qid": ..., "text": "<raw model output>"}``         parsed with the canonical parser
  ``{"qid", "pred", "target", "duration", "output_text"}``  Time-R1's evaluate.py lines
  ``{"qid": ..., "windows": [[s, e, score], ...]}``      several scored windows (enables R5@θ)
  ``{"qid", "pred_relevant_windows", "pred_saliency_scores"}``  moment_detr's submission lines (QVHighlights)

What a line means is defined once, by :func:`read_line`:
  * a null value is the same as an absent key; of a repeated key the last one counts (as JSON parsers do)
  * ``qid``      required: a non-empty string, or an integer (read as its decimal string)
  * ``pred``     ``[start, end]`` of numbers or nulls (a null side is NaN); the line "has a pred" when it holds one
  * ``text``     the first non-null of ``text``, ``output_text``; a string; read only when ``pred`` gives no
                 finite span (nothing else uses it)
  * ``target``   ``[start, end]`` of numbers: the line's own ground truth (Time-R1 lines); anything else is ignored
  * ``windows``  a list of ``[start, end]`` or ``[start, end, score]`` numbers, in the order written
  * ``pred_relevant_windows``  moment_detr's name for ``windows`` (read when ``windows`` is absent); its first
                 window is the line's ``pred`` when the line holds none (moment_detr's top-1 is the first)
  * ``pred_saliency_scores``  a list of numbers: one saliency score per 2-second clip (moment_detr)
  * numbers are read as Python's ``json`` reads them: ``NaN`` and ``Infinity`` too (``json.dump`` writes
    them, and Time-R1's lines come from it); a side that is not finite gives no span; other keys are ignored

Two readers follow it: pyarrow's multithreaded JSON reader (the fast path) and a line-by-line path that
names the first bad line. The fast path only takes files it reads exactly as :func:`read_line` does (every
line one object starting with ``{``, no repeated keys, well-formed spans and windows); anything else
goes to the line-by-line path, so which path reads a file never changes what it means.
"""

from __future__ import annotations

import io
import json
import math
import mmap
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from tvgbench.core.errors import Timer1Error
from tvgbench.core.peer_files import looks_like_peer_file, peer_records, read_peer_file, read_split_queries

MAX_WINDOWS = 5
_BLOCK = 16 << 20  # pyarrow block size
_CHECK_CHUNK = 1 << 20  # the line-start check runs in pieces that stay in cache


@dataclass
class PredictionColumns:
    qid: list | object  # pyarrow StringArray (fast path) or list[str]
    start: np.ndarray  # NaN where no numeric pred was given
    end: np.ndarray
    has_pred_key: np.ndarray  # bool: the line holds a "pred" list (even [null, null])
    text: object | None  # raw output where the pred gives no finite span (pyarrow StringArray or list; else None)
    target_start: np.ndarray | None
    target_end: np.ndarray | None
    windows: list | None  # per line: list of (s, e[, score]) or None
    saliency: list | None = None  # per line: tuple of clip scores or None (moment_detr's pred_saliency_scores)
    peer_report: dict | None = None  # a peer's file (tvgbench.core.peer_files): how its entries met the split

    def __len__(self) -> int:
        return len(self.start)


@dataclass(frozen=True)
class Line:
    """One prediction line, as :func:`read_line` reads it."""

    qid: str
    start: float  # NaN where no number
    end: float
    has_pred: bool
    text: str | None
    target: tuple[float, float]  # (NaN, NaN) where none
    windows: list | None
    saliency: tuple | None = None


class LineError(ValueError):
    """A line that does not follow the field rules; the message names the field."""


def _num(x) -> float:
    """A JSON number or null as a float (null → NaN); anything else is a TypeError."""
    if x is None:
        return math.nan
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError
    try:
        return float(x)
    except OverflowError:  # an integer literal with hundreds of digits
        return math.inf if x > 0 else -math.inf


def _target(tgt) -> tuple[float, float]:
    if isinstance(tgt, (list, tuple)) and len(tgt) == 2:
        try:
            return _num(tgt[0]), _num(tgt[1])
        except TypeError:
            pass
    return math.nan, math.nan


def read_line(obj, keep_text: bool = False) -> Line:
    """The meaning of one decoded prediction line (the field rules in the module docstring); ``keep_text``
    reads the text even beside a finite ``pred`` (the peers' modes parse every raw answer themselves)."""
    if not isinstance(obj, dict):
        raise LineError(f"expected a JSON object, got {type(obj).__name__}")
    qid = obj.get("qid")
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    if not isinstance(qid, str) or not qid:
        raise LineError("'qid' must be a non-empty string")
    s = e = math.nan
    pred = obj.get("pred")
    if pred is not None:
        if not isinstance(pred, (list, tuple)) or len(pred) != 2:
            raise LineError("'pred' must be [start, end]")
        try:
            s, e = _num(pred[0]), _num(pred[1])
        except TypeError:
            raise LineError("'pred' holds a non-numeric value") from None
    win, win_key = _windows_of(obj)
    if pred is None and win and win_key == "pred_relevant_windows":  # moment_detr's top-1 is its first window
        pred = win[0][:2]
        s, e = pred
    text = None
    if keep_text or not (math.isfinite(s) and math.isfinite(e)):
        text = obj.get("text")
        if text is None:
            text = obj.get("output_text")
        if text is not None and not isinstance(text, str):
            raise LineError("'text' must be a string")
    return Line(qid, s, e, pred is not None, text, _target(obj.get("target")), win, saliency=_saliency_of(obj))


def _windows_of(obj) -> tuple[list | None, str]:
    """The line's windows (``windows``, else moment_detr's ``pred_relevant_windows``) and the key they came from."""
    key = "windows" if obj.get("windows") is not None else "pred_relevant_windows"
    win = obj.get(key)
    if win is None:
        return None, key
    if not isinstance(win, list) or not all(isinstance(w, (list, tuple)) and len(w) in (2, 3) for w in win):
        raise LineError(f"'{key}' must be a list of [start, end, score]")
    if any(None in w for w in win):
        raise LineError(f"'{key}' holds a non-numeric value")
    if {type(v) for w in win for v in w} <= {float}:  # the common case, without a call per number
        return [tuple(w) for w in win], key
    try:
        return [tuple(_num(v) for v in w) for w in win], key
    except TypeError:
        raise LineError(f"'{key}' holds a non-numeric value") from None


def _saliency_of(obj) -> tuple | None:
    scores = obj.get("pred_saliency_scores")
    if scores is None:
        return None
    if not isinstance(scores, list) or None in scores:
        raise LineError("'pred_saliency_scores' must be a list of numbers")
    if set(map(type, scores)) <= {float}:  # the common case, without a call per number
        return tuple(scores)
    try:
        return tuple(_num(v) for v in scores)
    except TypeError:
        raise LineError("'pred_saliency_scores' must be a list of numbers") from None


def columns_from_lines(lines: list[Line]) -> PredictionColumns:
    texts = [x.text for x in lines]
    targets = np.array([x.target for x in lines], dtype=np.float64).reshape(-1, 2)
    any_target = bool(np.isfinite(targets[:, 0]).any())
    windows = [x.windows for x in lines]
    saliency = [x.saliency for x in lines]
    return PredictionColumns(
        [x.qid for x in lines], np.array([x.start for x in lines], dtype=np.float64),
        np.array([x.end for x in lines], dtype=np.float64), np.array([x.has_pred for x in lines], dtype=bool),
        texts if any(t is not None for t in texts) else None,
        targets[:, 0].copy() if any_target else None, targets[:, 1].copy() if any_target else None,
        windows if any(w is not None for w in windows) else None,
        saliency=saliency if any(v is not None for v in saliency) else None,
    )


def columns_from_records(records) -> PredictionColumns:
    """Columns of already-decoded lines (e.g. a run's recovered records); a bad one is a Timer1Error."""
    lines = []
    for k, obj in enumerate(records, 1):
        try:
            lines.append(read_line(obj))
        except LineError as e:
            raise Timer1Error(f"prediction record {k}: {e}") from None
    return columns_from_lines(lines)


# ---- the line-by-line path -------------------------------------------------------------------------


def _valid_text(obj) -> bool:
    """No lone surrogate in any string (Python's json lets ``"\\ud800"`` through; UTF-8 cannot hold it)."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(obj, dict):
        return all(_valid_text(k) and _valid_text(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_valid_text(v) for v in obj)
    return True


def _python_json(raw: bytes):
    """A line orjson refuses, read by Python's json (None where that fails too or leaves invalid text)."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return obj if _valid_text(obj) else None


def _raw_lines(data):
    if isinstance(data, mmap.mmap):
        data.seek(0)
        return iter(data.readline, b"")
    return io.BytesIO(data)


def _slow_read(data, name: str, keep_text: bool = False) -> PredictionColumns:
    lines = []
    for lineno, raw in enumerate(_raw_lines(data), 1):
        if not raw.strip():
            continue
        where = f"{name} line {lineno}"
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            obj = _python_json(raw)  # NaN, Infinity, 1e400: what Python's json (and pyarrow) read
            if obj is None:
                raise Timer1Error(f"{where}: not valid JSON ({e.msg})") from None
        try:
            lines.append(read_line(obj, keep_text))
        except LineError as e:
            raise Timer1Error(f"{where}: {e}") from None
    return columns_from_lines(lines)


# ---- the fast path ---------------------------------------------------------------------------------


def _arrow_schema(with_text: bool):
    f64 = pa.float64()
    fields = [("qid", pa.string()), ("pred", pa.list_(f64)), ("target", pa.list_(f64)),
              ("windows", pa.list_(pa.list_(f64))),
              # moment_detr's keys: present only to send such files to the line-by-line path (see _fast_read)
              ("pred_relevant_windows", pa.list_(pa.list_(f64))), ("pred_saliency_scores", pa.list_(f64))]
    if with_text:
        fields += [("text", pa.string()), ("output_text", pa.string())]
    return pa.schema(fields)


def _one_object_per_line(data) -> int | None:
    """The line count when every line starts with ``{`` (pyarrow then reads one row per line), else None.

    pyarrow's reader crashes the process on a line ``null`` and reads ``{..} {..}`` as two rows, so a file
    with any other line start (blank, space, ``null``, ``[``) is left to the line-by-line path.
    """
    end = len(data)
    while end and data[end - 1] in b" \t\r\n":
        end -= 1
    if not end or data[0] != ord("{"):
        return None
    arr = np.frombuffer(data, dtype=np.uint8, count=end)
    lines = 1
    for lo in range(0, end, _CHECK_CHUNK):
        newlines = lo + np.flatnonzero(arr[lo:lo + _CHECK_CHUNK] == 10)
        if newlines.size and not (arr[newlines + 1] == ord("{")).all():  # end is not whitespace: in range
            return None
        lines += int(newlines.size)
    return lines


def _span_columns(list_array, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a list<double> column into start/end arrays (NaN where null); raises unless every list is [a, b]."""
    lengths = pc.fill_null(pc.list_value_length(list_array), 2).to_numpy(zero_copy_only=False)
    if (lengths != 2).any():
        raise ValueError("a span is not [start, end]")  # the line-by-line reader decides
    present = ~np.asarray(list_array.is_null().to_numpy(zero_copy_only=False))
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    if present.any():
        idx = list_array.offsets.to_numpy()[:-1][present]
        values = pc.fill_null(list_array.values, float("nan")).to_numpy(zero_copy_only=False)
        start[present] = values[idx]
        end[present] = values[idx + 1]
    return start, end, present


def _read_json_table(data, with_text: bool):
    return pj.read_json(
        pa.BufferReader(pa.py_buffer(data)),
        read_options=pj.ReadOptions(block_size=_BLOCK),
        parse_options=pj.ParseOptions(explicit_schema=_arrow_schema(with_text), unexpected_field_behavior="ignore"),
    )


def _windows(wcol, n: int) -> list | None:
    if wcol.null_count == n:
        return None
    inner = wcol.flatten()
    lengths = pc.list_value_length(inner).to_numpy(zero_copy_only=False)
    if ((lengths != 2) & (lengths != 3)).any() or inner.values.null_count:
        raise ValueError("a window is not [start, end, score] of numbers")
    return [None if w is None else [tuple(x) for x in w] for w in wcol.to_pylist()]


def _fast_read(data, n_lines: int, keep_text: bool = False) -> PredictionColumns:
    # Raw outputs are only needed where no numeric span was given; skip materialising them
    # (they are most of the bytes) unless some line needs them.
    table = _read_json_table(data, with_text=False)
    n = table.num_rows
    if n != n_lines:
        raise ValueError("not one object per line")
    if any(table.column(k).null_count < n for k in ("pred_relevant_windows", "pred_saliency_scores")):
        raise ValueError("moment_detr lines")  # their windows, first-window pred and saliency: read_line reads them
    qid = table.column("qid").combine_chunks()
    if qid.null_count or (n and pc.min(pc.binary_length(qid)).as_py() == 0):
        raise ValueError("qid missing")
    start, end, has_pred = _span_columns(table.column("pred").combine_chunks(), n)
    text = None
    finite = np.isfinite(start) & np.isfinite(end)
    if keep_text or not finite.all():
        with_text = _read_json_table(data, with_text=True)
        text = pc.coalesce(with_text.column("text").combine_chunks(), with_text.column("output_text").combine_chunks())
        if not keep_text:
            text = pc.if_else(pa.array(finite), pa.scalar(None, pa.string()), text)  # read_line reads it only there
        if text.null_count == n:
            text = None
    target = table.column("target").combine_chunks()
    ts = te = None
    if target.null_count < n:
        ts, te, _ = _span_columns(target, n)
        if not np.isfinite(ts).any():
            ts = te = None
    windows = _windows(table.column("windows").combine_chunks(), n)
    return PredictionColumns(qid, start, end, has_pred, text, ts, te, windows)


# ---- reading a file or stream ------------------------------------------------------------------------


def _read_bytes(p: Path):
    """The file's bytes (a read-only map of a regular file); pipes and other streams (``<(cat f)``) are read
    to their end, as are files that report no size (``/proc``)."""
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise Timer1Error(f"predictions file not found: {p}") from None
    if stat.S_ISDIR(mode):
        raise Timer1Error(f"expected a predictions file, got a folder: {p}")
    try:
        with open(p, "rb") as f:
            if stat.S_ISREG(mode) and os.fstat(f.fileno()).st_size > 0:
                return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            return f.read()
    except OSError as e:
        raise Timer1Error(f"cannot read predictions file {p}: {e.strerror or e}") from None


def _peer_columns(data, p: Path, split_dir, split_name) -> PredictionColumns | None:
    """A peer's result file (TimeLens / lmms-eval) as columns matched to the split; None when it is none."""
    if not looks_like_peer_file(bytes(data[:65536])):
        return None
    peer = read_peer_file(data, p.name)
    if peer is None:
        return None
    if split_dir is None:
        raise Timer1Error(f"{p} is a {peer.format} file: its entries are matched to a split's queries by video "
                          "and query, so it is read with a split (eval score --split)")
    records, report = peer_records(peer, read_split_queries(split_dir, split_name))
    cols = columns_from_records(records)
    cols.peer_report = report.to_dict()
    return cols


def read_predictions(path: str | os.PathLike, split_dir: str | os.PathLike | None = None,
                     split_name: str | None = None, keep_text: bool = False) -> PredictionColumns:
    """Read a prediction file; a bad file ends in a :class:`Timer1Error` naming the problem.

    timer1 JSONL lines, or a peer's result file (:mod:`tvgbench.core.peer_files`), whose entries are
    matched to ``split_dir``'s queries. ``keep_text``: see :func:`read_line`.
    """
    p = Path(path)
    data = _read_bytes(p)
    if not len(data):
        raise Timer1Error(f"predictions file is empty: {p}")
    if b"\x00" in data[:4096]:
        raise Timer1Error(f"{p} looks binary, not JSONL")
    cols = _peer_columns(data, p, split_dir, split_name)
    if cols is not None:
        return cols
    n_lines = _one_object_per_line(data)
    if n_lines is not None:
        try:
            cols = _fast_read(data, n_lines, keep_text)
        except Exception:  # anything the fast path does not read exactly as read_line: the line-by-line path
            cols = None
    if cols is None:
        cols = _slow_read(data, p.name, keep_text)
    if len(cols) == 0:
        raise Timer1Error(f"predictions file has no prediction lines: {p}")
    return cols
