"""One prediction file under every applicable scoring convention, with the reasons the numbers differ.

The conventions differ in three ways, each counted here on the file itself:

* the parser (only lines whose span comes from raw text): how many texts each peer's parser finds no
  span in, and how many it reads differently from the canonical parser;
* the hit rule: units whose IoU is exactly a threshold are hits under ``>=`` and misses under ``>``
  (Time-R1);
* the denominator: every split query (canonical: a missing prediction counts as 0), or the entries in
  the file (Time-R1, TimeLens, lmms-eval: a missing prediction is not counted at all).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tvgbench.core.errors import Timer1Error
from tvgbench.core.join import REPORT, join
from tvgbench.core.metrics import THRESHOLDS
from tvgbench.core.parsing import parse_answer
from tvgbench.core.predictions import read_predictions
from tvgbench.core.scoring import MODES, PEER_RULES, read_split_columns, score
from tvgbench.core.splits import read_split_table, resolve_split
from tvgbench.core.timer1_ids import realign_timer1_ids

HEADLINE = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")
# the parser each mode reads raw text with
MODE_PARSERS = {"canonical": "canonical", "timer1": "timer1-eval",
                **{mode: rule.parser for mode, rule in PEER_RULES.items()}}
MULTI_WINDOW_MODE = "moment-detr"  # scored only where the split has several true windows per query


def is_multi_window(split_dir: str | os.PathLike, split_name: str | None = None) -> bool:
    """Whether some query of the split has more than one true window (a ``windows`` column)."""
    d, name, _ = resolve_split(split_dir, split_name)
    table = read_split_table(d, name)
    if "windows" not in table.column_names:
        return False
    return any(w is not None and len(w) > 1 for w in table.column("windows").to_pylist())


def applicable_modes(split_dir, split_name=None) -> list[str]:
    modes = [m for m in MODES if m != MULTI_WINDOW_MODE]
    if MULTI_WINDOW_MODE in MODES and is_multi_window(split_dir, split_name):
        modes.append(MULTI_WINDOW_MODE)
    return modes


def _texts(preds) -> list[str]:
    """The raw outputs the parsers read (read with ``keep_text``: a run's lines also carry a span)."""
    if preds.text is None:
        return []
    texts = preds.text.to_pylist() if hasattr(preds.text, "to_pylist") else list(preds.text)
    return [t for t in texts if isinstance(t, str)]


def parser_reasons(texts: list[str], modes: list[str]) -> dict[str, dict[str, int]]:
    """Per mode's parser: texts it finds no span in, and texts it reads differently from canonical."""
    spans = {v: [parse_answer(t, v).span for t in texts] for v in {MODE_PARSERS[m] for m in modes if m in MODE_PARSERS}}
    base = spans.get("canonical") or [parse_answer(t).span for t in texts]
    out = {}
    for m in modes:
        v = MODE_PARSERS.get(m)
        if v is None:
            continue
        out[m] = {"parser": v, "texts": len(texts), "no_span": sum(s is None for s in spans[v]),
                  "differs_from_canonical": sum(a != b for a, b in zip(spans[v], base))}
    return out


def boundary_units(joined) -> dict[str, int]:
    """Queries whose canonical IoU is exactly θ: hits under ``>=``, misses under Time-R1's ``>``."""
    return {f"IoU == {t}": int((joined.iou == t).sum()) for t in THRESHOLDS}


def _row(pred_path, split_dir, mode, split_name, timer1_videos) -> dict:
    """A mode's table row (an error row where the mode refuses the file: canonical and duplicate qids)."""
    try:
        r = score(pred_path, split_dir, mode=mode, split_name=split_name, bootstrap=0, timer1_videos=timer1_videos)
    except Timer1Error as e:
        return {"error": str(e)}
    row = {"hit_rule": r["hit_rule"], "denominator": r["denominator"], "units": r["counts"]["scored"],
           "unparseable": r["counts"]["unparseable"],
           "metrics": {m: r["metrics"][m] for m in HEADLINE if m in r["metrics"]}}
    if "peer_metrics" in r:
        row["peer_metrics"] = r["peer_metrics"]
    return row


def compare(pred_path: str | os.PathLike, split_dir: str | os.PathLike, split_name: str | None = None,
            timer1_videos=None) -> dict[str, Any]:
    """Scores of one file under every applicable mode, and the counted reasons they differ."""
    modes = applicable_modes(split_dir, split_name)
    rows = {mode: _row(pred_path, split_dir, mode, split_name, timer1_videos) for mode in modes}
    preds = read_predictions(pred_path, split_dir, split_name, keep_text=True)  # every raw answer, as the peers
    realign_timer1_ids(preds, split_dir, split_name, timer1_videos, name=str(pred_path))
    joined = join(preds, read_split_columns(split_dir, split_name), REPORT)
    reasons = {
        "parsers": parser_reasons(_texts(preds), modes),
        "threshold": boundary_units(joined),
        "denominator": {"split_queries": len(joined), "missing": int((joined.line < 0).sum()),
                        "unknown_qids": int((joined.line_query < 0).sum()), "prediction_lines": len(preds)},
    }
    return {"predictions": str(pred_path), "split": str(split_dir), "modes": rows, "reasons": reasons}


def reason_lines(result: dict[str, Any]) -> list[str]:
    """The reasons, one readable line each."""
    r = result["reasons"]
    lines = []
    for mode, p in r["parsers"].items():
        if p["texts"]:
            lines.append(f"parser {p['parser']} ({mode}): no span in {p['no_span']} of {p['texts']} raw answers; "
                         f"{p['differs_from_canonical']} read differently from canonical")
    at = ", ".join(f"{v} at {k.split()[-1]}" for k, v in r["threshold"].items())
    lines.append(f"threshold: IoU >= θ vs IoU > θ (timer1) differ only on queries with IoU exactly θ: {at}")
    d = r["denominator"]
    lines.append(f"denominator: canonical counts all {d['split_queries']} split queries ({d['missing']} without a "
                 f"prediction score 0); the others count the file's entries ({d['prediction_lines']} lines, "
                 f"{d['unknown_qids']} naming no split query)")
    return lines
