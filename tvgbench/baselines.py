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

import click
import numpy as np

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
    from .scoring import read_split_columns

    cols = read_split_columns(split_dir, split)
    dur = np.maximum(cols.duration, 1e-9)
    return float(np.mean(cols.start / dur)), float(np.mean(np.minimum(cols.end / dur, 1.0)))


def write_baseline(split_dir, out_path, kind: str = "middle", *, split: str | None = None,
                   prior_split: str | os.PathLike | None = None) -> Path:
    """Write ``{"qid", "pred"}`` lines for every query of the split (atomically)."""
    from .report import write_text_atomic
    from .scoring import read_split_columns

    cols = read_split_columns(split_dir, split)
    prior = normalised_prior(prior_split or split_dir) if kind == "prior" else None
    spans = baseline_spans(kind, cols.duration, prior)
    lines = (json.dumps({"qid": qid, "pred": [round(s, 3), round(e, 3)]}) + "\n"
             for qid, (s, e) in zip(cols.qid.to_pylist(), spans.tolist()))
    return write_text_atomic(out_path, "".join(lines))


@click.command("baseline")
@click.option("--split", "split_dir", required=True, type=click.Path(), help="Split folder to predict for.")
@click.option("--split-name", default=None, help="Which split in the folder, when it holds several.")
@click.option("--kind", type=click.Choice(KINDS), default="middle", show_default=True, help="Which blind baseline.")
@click.option("--prior-split", type=click.Path(), default=None,
              help="For --kind prior: the split whose mean GT span is used (default: the split itself).")
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Predictions JSONL to write.")
def baseline_cmd(split_dir, split_name, kind, prior_split, out_path):
    """Write blind-baseline predictions (no video) for every query: a floor for every model."""
    path = write_baseline(split_dir, out_path, kind, split=split_name, prior_split=prior_split)
    click.echo(f"{kind} baseline -> {path}")
