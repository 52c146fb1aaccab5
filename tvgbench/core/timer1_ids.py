"""Time-R1 qids from a run that skipped videos, put back on the queries they belong to.

Time-R1's TVGBench loader skips an item whose video file is missing and numbers the rest as it goes
(``qid = f"{source_stem}_{counter}"``, the counter counting loaded items only), so a run on a machine
missing some videos names item 402 ``…_400``. timer1's splits keep the release numbering as the alias
(``source_id``), so such a file would be scored against the wrong queries. Two ways back:

* from the lines: each Time-R1 line carries its ``target``. When some alias line's target is not its
  aliased query's span, the file is shifted: every alias line is matched, in counter order, to the
  first query at or after its counter (and after the previous line's) with the same source stem and
  that span. A line that finds none is an error (give the videos list).
* from the list of videos that run had (``--timer1-videos FILE``, one name or path per line): the
  release order is walked, items with a listed video are numbered 0, 1, … as the loader did.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tvgbench.core.errors import Timer1Error
from tvgbench.core.join import as_string_array
from tvgbench.core.peer_files import span_agrees, video_id
from tvgbench.core.predictions import PredictionColumns
from tvgbench.core.splits import read_split_table, resolve_split

_ALIAS = re.compile(r"^(?P<stem>.+)_(?P<n>\d+)$")


@dataclass(frozen=True)
class ReleaseItem:
    row: int  # split row
    stem: str
    index: int  # the item's index in the release (the alias number)
    span: tuple[float, float]
    video: str


def release_items(split_dir: str | os.PathLike, split_name: str | None = None) -> tuple[list[str], list[ReleaseItem]]:
    """The split's qids and its rows that carry a Time-R1 alias, in release order."""
    d, name, _ = resolve_split(split_dir, split_name)
    t = read_split_table(d, name, columns=["qid", "source_id", "span", "video"])
    span = t.column("span").combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, 2)
    items = []
    for r, (alias, video) in enumerate(zip(t.column("source_id").to_pylist(), t.column("video").to_pylist())):
        m = _ALIAS.match(alias or "")
        if m:
            items.append(ReleaseItem(r, m["stem"], int(m["n"]), (float(span[r, 0]), float(span[r, 1])), video))
    items.sort(key=lambda x: x.index)
    return t.column("qid").to_pylist(), items


def _alias_lines(qids: list[str], split_qids: set[str], stems: set[str]) -> list[tuple[int, str, int]]:
    """(line, stem, counter) of each line named by a Time-R1 alias (not by a timer1 qid)."""
    out = []
    for k, q in enumerate(qids):
        m = _ALIAS.match(q) if q not in split_qids else None
        if m and m["stem"] in stems:
            out.append((k, m["stem"], int(m["n"])))
    return out


def _by_videos(lines, items: list[ReleaseItem], videos_file) -> dict[int, int]:
    """line → split row, numbering the release's items whose video the run had, as the loader did."""
    try:
        names = {video_id(x.strip()) for x in Path(videos_file).read_text(encoding="utf-8").splitlines() if x.strip()}
    except OSError as e:
        raise Timer1Error(f"cannot read the videos list {videos_file}: {e.strerror or e}") from None
    kept = [it for it in items if video_id(it.video) in names]
    by_alias = {(it.stem, k): it.row for k, it in enumerate(kept)}
    return {line: by_alias[(stem, n)] for line, stem, n in lines if (stem, n) in by_alias}


def _by_targets(lines, items: list[ReleaseItem], ts: np.ndarray, te: np.ndarray, name: str) -> dict[int, int]:
    """line → split row, matching each line's target in counter order (see the module docstring)."""
    by_stem: dict[str, list[ReleaseItem]] = {}
    for it in items:
        by_stem.setdefault(it.stem, []).append(it)
    starts = {s: [it.index for it in v] for s, v in by_stem.items()}
    out, last = {}, -1
    for line, stem, n in sorted(lines, key=lambda x: x[2]):
        target = (float(ts[line]), float(te[line]))
        candidates = by_stem[stem]
        j = bisect.bisect_left(starts[stem], max(n, last + 1))
        while j < len(candidates) and not span_agrees(target, candidates[j].span):
            j += 1
        if j == len(candidates):
            raise Timer1Error(
                f"{name}: Time-R1 ids are shifted (the run skipped videos) and line {line + 1} ({stem}_{n}, "
                f"target {list(target)}) matches no later query of the split; give the list of videos that run "
                "had (--timer1-videos FILE)")
        out[line] = candidates[j].row
        last = candidates[j].index
    return out


def _names_outside_split(preds: PredictionColumns, split_qid) -> bool:
    """Whether some line names no qid of the split (vectorised: a million-line file costs milliseconds)."""
    qid = as_string_array(preds.qid)
    if len(qid) == len(split_qid) and qid.equals(split_qid):
        return False  # the split's own order, as a run writes it
    return bool(pc.any(pc.invert(pc.is_in(qid, value_set=split_qid))).as_py())


def realign_timer1_ids(preds: PredictionColumns, split_dir, split_name=None, videos_file=None,
                       name: str = "predictions", split_qid=None) -> dict | None:
    """Rewrite shifted Time-R1 ids of ``preds`` in place to the split's qids; the report, or None when
    the file names no alias or its aliases already agree with their targets (and no list was given).
    ``split_qid``: the split's qids when the caller holds them (else they are read)."""
    if videos_file is None and preds.target_start is None:
        return None  # no targets to check against and no list: nothing to go on (and nothing to read)
    if split_qid is None:
        d, sname, _ = resolve_split(split_dir, split_name)
        split_qid = read_split_table(d, sname, columns=["qid"]).column("qid").combine_chunks()
    if not _names_outside_split(preds, as_string_array(split_qid)):
        return None  # every line names a timer1 qid: no Time-R1 id to put back
    qids = [str(q) for q in (preds.qid.to_pylist() if hasattr(preds.qid, "to_pylist") else preds.qid)]
    split_qids, items = release_items(split_dir, split_name)
    lines = _alias_lines(qids, set(split_qids), {it.stem for it in items})
    if not lines:
        return None
    if videos_file is not None:
        rows, how = _by_videos(lines, items, videos_file), "videos list"
    else:
        if preds.target_start is None:
            return None
        ts, te = preds.target_start, preds.target_end
        by_alias = {(it.stem, it.index): it for it in items}
        checked = [(k, by_alias.get((s, n))) for k, s, n in lines if np.isfinite(ts[k]) and np.isfinite(te[k])]
        if all(it is not None and span_agrees((ts[k], te[k]), it.span) for k, it in checked):
            return None
        rows, how = _by_targets([x for x in lines if np.isfinite(ts[x[0]])], items, ts, te, name), "targets"
    alias_of_row = {it.row: f"{it.stem}_{it.index}" for it in items}
    shifted = 0
    for line, row in rows.items():
        shifted += qids[line] != alias_of_row[row]
        qids[line] = split_qids[row]
    preds.qid = pa.array(qids, pa.string())
    return {"realigned_by": how, "alias_lines": len(lines), "matched": len(rows), "shifted": int(shifted)}
