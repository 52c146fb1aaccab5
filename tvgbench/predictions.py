"""Reading prediction files (JSONL) into columns, fast.

Accepted lines (one object per query):
  ``{"qid": ..., "pred": [s, e]}``                       a span
  ``{"qid": ..., "text": "<raw model output>"}``         parsed with the canonical parser
  ``{"qid", "pred", "target", "duration", "output_text"}``  Time-R1's evaluate.py lines
  ``{"qid": ..., "windows": [[s, e, score], ...]}``      several scored windows (enables R5@θ)

The fast path is pyarrow's multithreaded JSON reader; any line it cannot type is re-read by a
line-by-line path that names the first bad line.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import Timer1Error

MAX_WINDOWS = 5


@dataclass
class PredictionColumns:
    qid: list | object  # pyarrow StringArray (fast path) or list[str]
    start: np.ndarray  # NaN where no numeric pred was given
    end: np.ndarray
    has_pred_key: np.ndarray  # bool: the line carried a "pred" key (even [null, null])
    text: object | None  # raw output per line (pyarrow StringArray or list; None entries where absent)
    target_start: np.ndarray | None
    target_end: np.ndarray | None
    windows: list | None  # per line: list of (s, e, score) or None

    def __len__(self) -> int:
        return len(self.start)


def _arrow_schema(with_text: bool):
    import pyarrow as pa

    f64 = pa.float64()
    fields = [("qid", pa.string()), ("pred", pa.list_(f64)), ("target", pa.list_(f64)),
              ("windows", pa.list_(pa.list_(f64)))]
    if with_text:
        fields += [("text", pa.string()), ("output_text", pa.string())]
    return pa.schema(fields)


def _span_columns(list_array, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a list<double> column into start/end arrays (NaN where null or not length 2)."""
    import pyarrow.compute as pc

    lengths = pc.fill_null(pc.list_value_length(list_array), 0).to_numpy(zero_copy_only=False)
    if ((lengths != 0) & (lengths != 2)).any():
        raise ValueError("a span is not [start, end]")  # the line-by-line reader names the line
    ok = lengths == 2
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    if ok.any():
        idx = list_array.offsets.to_numpy()[:-1][ok]
        values = pc.fill_null(list_array.values, float("nan")).to_numpy(zero_copy_only=False)
        start[ok] = values[idx]
        end[ok] = values[idx + 1]
    present = ~np.asarray(list_array.is_null().to_numpy(zero_copy_only=False))
    return start, end, present


def _read_json_table(path: Path, with_text: bool):
    import pyarrow.json as pj

    return pj.read_json(
        path,
        read_options=pj.ReadOptions(block_size=16 << 20),
        parse_options=pj.ParseOptions(explicit_schema=_arrow_schema(with_text), unexpected_field_behavior="ignore"),
    )


def _fast_read(path: Path) -> PredictionColumns:
    import pyarrow.compute as pc

    # Raw outputs are only needed where no numeric span was given; skip materialising them
    # (they are most of the bytes) unless some line needs them.
    table = _read_json_table(path, with_text=False)
    n = table.num_rows
    qid = table.column("qid").combine_chunks()
    if qid.null_count:
        raise ValueError("qid missing")
    start, end, has_pred = _span_columns(table.column("pred").combine_chunks(), n)
    text = None
    if not (np.isfinite(start) & np.isfinite(end)).all():
        with_text = _read_json_table(path, with_text=True)
        text = pc.coalesce(with_text.column("text").combine_chunks(), with_text.column("output_text").combine_chunks())
        if text.null_count == n:
            text = None
    target = table.column("target").combine_chunks()
    ts = te = None
    if target.null_count < n:
        ts, te, _ = _span_columns(target, n)
    windows = None
    wcol = table.column("windows").combine_chunks()
    if wcol.null_count < n:
        windows = [None if w is None else [tuple(x) for x in w] for w in wcol.to_pylist()]
    return PredictionColumns(qid, start, end, has_pred, text, ts, te, windows)


def _num(x) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError
    return float(x)


def _slow_read(path: Path) -> PredictionColumns:
    import orjson

    qids, starts, ends, has_pred, texts, ts, te, windows = [], [], [], [], [], [], [], []
    any_text = any_target = any_windows = False
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"{path.name} line {lineno}"
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise Timer1Error(f"{where}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise Timer1Error(f"{where}: expected a JSON object, got {type(obj).__name__}")
            qid = obj.get("qid")
            if isinstance(qid, int) and not isinstance(qid, bool):
                qid = str(qid)
            if not isinstance(qid, str) or not qid:
                raise Timer1Error(f"{where}: 'qid' must be a non-empty string")
            s = e = math.nan
            pred = obj.get("pred")
            if "pred" in obj and pred is not None:
                if not isinstance(pred, (list, tuple)) or len(pred) != 2:
                    raise Timer1Error(f"{where}: 'pred' must be [start, end]")
                try:
                    a, b = _num(pred[0]), _num(pred[1])
                except TypeError:
                    raise Timer1Error(f"{where}: 'pred' holds a non-numeric value") from None
                s, e = (math.nan if a is None else a), (math.nan if b is None else b)
            text = obj.get("text", obj.get("output_text"))
            if text is not None and not isinstance(text, str):
                raise Timer1Error(f"{where}: 'text' must be a string")
            tgt = obj.get("target")
            t0 = t1 = math.nan
            if isinstance(tgt, (list, tuple)) and len(tgt) == 2:
                try:
                    a, b = _num(tgt[0]), _num(tgt[1])
                    t0, t1 = (math.nan if a is None else a), (math.nan if b is None else b)
                except TypeError:
                    pass
            win = obj.get("windows")
            if win is not None:
                if not isinstance(win, list) or not all(isinstance(w, (list, tuple)) and len(w) in (2, 3) for w in win):
                    raise Timer1Error(f"{where}: 'windows' must be a list of [start, end, score]")
                try:
                    win = [tuple(float(_num(v)) for v in w) for w in win]
                except (TypeError, ValueError):
                    raise Timer1Error(f"{where}: 'windows' holds a non-numeric value") from None
                any_windows = True
            any_text |= text is not None
            any_target |= not math.isnan(t0)
            qids.append(qid)
            starts.append(s)
            ends.append(e)
            has_pred.append("pred" in obj)
            texts.append(text)
            ts.append(t0)
            te.append(t1)
            windows.append(win)
    return PredictionColumns(
        qids, np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64), np.array(has_pred, dtype=bool),
        texts if any_text else None,
        np.array(ts) if any_target else None, np.array(te) if any_target else None,
        windows if any_windows else None,
    )


def read_predictions(path: str | os.PathLike) -> PredictionColumns:
    """Read a JSONL prediction file; a bad file ends in a :class:`Timer1Error` naming the problem."""
    p = Path(path)
    if not p.exists():
        raise Timer1Error(f"predictions file not found: {p}")
    if p.is_dir():
        raise Timer1Error(f"expected a predictions file, got a folder: {p}")
    if p.stat().st_size == 0:
        raise Timer1Error(f"predictions file is empty: {p}")
    with open(p, "rb") as f:
        head = f.read(4096)
    if b"\x00" in head:
        raise Timer1Error(f"{p} looks binary, not JSONL")
    try:
        cols = _fast_read(p)
    except Exception:  # any typing problem: the line-by-line reader names the bad line
        cols = _slow_read(p)
    if len(cols) == 0:
        raise Timer1Error(f"predictions file has no prediction lines: {p}")
    return cols
