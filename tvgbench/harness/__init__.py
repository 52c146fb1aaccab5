"""The evaluation harness: run a model on a TVG split (or a video-QA set) and keep everything needed
to reproduce the numbers.

    from tvgbench.harness import run_eval
    summary = run_eval("synth", "synth", "tiny-qwen", backend="hf", prompt="r1", out_dir="runs/tiny")

Writes ``predictions.jsonl`` (one durable line per query), ``run.json`` (every setting that changes
a number) and ``scores.json`` (:func:`tvgbench.scoring.score`). Heavy libraries load only inside the
functions that need them.
"""

from __future__ import annotations


def run_eval(*args, **kwargs):
    """See :func:`tvgbench.harness.runner.run_eval`."""
    from .runner import run_eval as _run_eval

    return _run_eval(*args, **kwargs)


__all__ = ["run_eval"]
