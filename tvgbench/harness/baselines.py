"""Blind baselines: predictions that never look at the video, as a floor every model must beat.

``middle``  the central half of the clip, ``[0.25·D, 0.75·D]``
``full``    the whole clip, ``[0, D]``
``prior``   the mean normalised GT span of a reference split (default: the split itself, which
            makes it an oracle-of-the-prior: report which split the prior came from)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tvgbench.core.report import write_text_atomic
from tvgbench.core.scoring import read_split_columns

KINDS = ("middle", "full", "prior")


def baseline_spans(kind: str, duration: np.ndarray, prior: tuple[float, float] | None = None) -> np.ndarray:
    """(N, 2) predicted spans in seconds for clips of the given durations."""
    d = np.asarray(duration, dtype=np.float64)
    if kind == "middle":
        frac = (0.25, 0.75)
    elif kind == "full":
        frac = (0.0, 1.0)
    elif kind == "prior":
        if prior is None:
            raise ValueError("the prior baseline needs (mean start, mean end) as fractions of the duration")
        frac = prior
    else:
        raise ValueError(f"unknown baseline {kind!r}; choose one of {', '.join(KINDS)}")
    return np.stack([d * frac[0], d * frac[1]], axis=1)


def normalised_prior(split_dir: str | os.PathLike, split: str | None = None) -> tuple[float, float]:
    """Mean start and end of the ground truth as fractions of the clip duration."""
    cols = read_split_columns(split_dir, split)
    dur = np.maximum(cols.duration, 1e-9)
    return float(np.mean(cols.start / dur)), float(np.mean(np.minimum(cols.end / dur, 1.0)))


def write_baseline(split_dir, out_path, kind: str = "middle", *, split: str | None = None,
                   prior_split: str | os.PathLike | None = None) -> Path:
    """Write ``{"qid", "pred"}`` lines for every query of the split (atomically)."""
    cols = read_split_columns(split_dir, split)
    prior = normalised_prior(prior_split or split_dir) if kind == "prior" else None
    spans = baseline_spans(kind, cols.duration, prior)
    lines = (json.dumps({"qid": qid, "pred": [round(s, 3), round(e, 3)]}) + "\n"
             for qid, (s, e) in zip(cols.qid.to_pylist(), spans.tolist()))
    return write_text_atomic(out_path, "".join(lines))
